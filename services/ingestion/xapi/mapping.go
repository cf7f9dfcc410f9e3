package xapi

import (
	"strings"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Why a statement maps to no activity: reasons of Mapper.Match, which the
// ingestion service counts as labels of leap_xapi_statements_ignored_total,
// with the reasons of its own checks.
const (
	// ReasonUnmapped: no mapping matches the verb, activity type, platform and device.
	ReasonUnmapped = "unmapped"
	// ReasonIncomplete: a mapping would match but skips statements with
	// result.completion false.
	ReasonIncomplete = "incomplete"
)

// Mapper is the xAPI part of a policy, ready to match statements.
type Mapper struct {
	// Hash is the hash of the policy it was built from.
	Hash string
	// homePages accepted, normalized; empty accepts any.
	homePages map[string]bool
	// platforms that mark mobile use, lower-case.
	platforms []string
	extMarks  []extMark
	// ExtKeys are the context extensions Parse keeps for the mobile marks
	// (Options.ExtKeys).
	ExtKeys []string
	rules   []rule
}

type extMark struct {
	key              string
	equals, contains []string // lower-case
}

type rule struct {
	verbs          map[string]bool // normalized
	types          map[string]bool // normalized; nil matches any
	platform       string          // lower-case; "" matches any
	mobile         int8            // 1 mobile only, -1 not mobile only, 0 either
	skipIncomplete bool
	activity       string
}

// normIRI is how mapping IRIs compare: a trailing slash is not significant
// (Moodle's logstore_xapi sends the Brindlewaye login verb with one, the
// Jisc profile without).
func normIRI(s string) string { return strings.TrimSuffix(s, "/") }

// normHomePage is how account home pages compare: ignoring case and a
// trailing slash.
func normHomePage(s string) string { return strings.ToLower(strings.TrimSuffix(s, "/")) }

// NewMapper builds the mapping table of a policy.
func NewMapper(l *policy.Loaded) *Mapper {
	x := l.Doc.XAPI
	m := &Mapper{Hash: l.Hash, homePages: map[string]bool{}}
	for _, h := range x.AccountHomePages {
		m.homePages[normHomePage(string(h))] = true
	}
	for _, p := range x.Mobile.Platforms {
		m.platforms = append(m.platforms, strings.ToLower(p))
	}
	for _, e := range x.Mobile.Extensions {
		mark := extMark{key: string(e.Key)}
		for _, v := range e.Equals {
			mark.equals = append(mark.equals, strings.ToLower(v))
		}
		for _, v := range e.Contains {
			mark.contains = append(mark.contains, strings.ToLower(v))
		}
		m.extMarks = append(m.extMarks, mark)
		m.ExtKeys = append(m.ExtKeys, mark.key)
	}
	for _, mp := range x.Mappings {
		r := rule{verbs: iriSet(mp.Verbs), platform: strings.ToLower(mp.Platform), skipIncomplete: mp.SkipIncomplete, activity: string(mp.Activity)}
		if len(mp.ActivityTypes) > 0 {
			r.types = iriSet(mp.ActivityTypes)
		}
		if mp.Mobile != nil {
			r.mobile = -1
			if *mp.Mobile {
				r.mobile = 1
			}
		}
		m.rules = append(m.rules, r)
	}
	return m
}

func iriSet(list []v1alpha1.IRI) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, v := range list {
		set[normIRI(string(v))] = true
	}
	return set
}

// AcceptsHomePage says whether an account's names are student ids.
func (m *Mapper) AcceptsHomePage(home string) bool {
	return len(m.homePages) == 0 || m.homePages[normHomePage(home)]
}

// mobile says whether a statement marks mobile use.
func (m *Mapper) mobile(st *Statement) bool {
	if st.Platform != "" {
		p := strings.ToLower(st.Platform)
		for _, want := range m.platforms {
			if strings.Contains(p, want) {
				return true
			}
		}
	}
	for _, e := range st.Extensions {
		v := strings.ToLower(e.Value)
		for _, mark := range m.extMarks {
			if mark.key != e.Key {
				continue
			}
			for _, want := range mark.equals {
				if v == want {
					return true
				}
			}
			for _, want := range mark.contains {
				if strings.Contains(v, want) {
					return true
				}
			}
		}
	}
	return false
}

// Match gives the activity of a statement: that of the first rule that
// matches, or "" and why none does.
func (m *Mapper) Match(st *Statement) (activity, reason string) {
	verb, typ := normIRI(st.Verb), normIRI(st.ActivityType)
	platform := strings.ToLower(st.Platform)
	mobile := int8(0) // computed once, when a rule asks
	reason = ReasonUnmapped
	for i := range m.rules {
		r := &m.rules[i]
		if !r.verbs[verb] || (r.types != nil && !r.types[typ]) || (r.platform != "" && !strings.Contains(platform, r.platform)) {
			continue
		}
		if r.mobile != 0 {
			if mobile == 0 {
				mobile = -1
				if m.mobile(st) {
					mobile = 1
				}
			}
			if r.mobile != mobile {
				continue
			}
		}
		if r.skipIncomplete && st.Completion < 0 {
			reason = ReasonIncomplete
			continue
		}
		return r.activity, ""
	}
	return "", reason
}
