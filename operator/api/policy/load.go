package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"regexp"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Loaded is a policy a service runs under.
type Loaded struct {
	Doc      Document
	Hash     string
	Calendar *calendar.Calendar
	// Source is the file it came from.
	Source string
}

// ParseFile reads either form of policy a service may be given: the policy
// document the operator writes into the ConfigMap (JSON), or a LeapTerm
// YAML file as a platform engineer would apply it (make run). A LeapTerm
// file gets the schema's defaults and the API's rules checked here, since
// no API server has seen it.
func ParseFile(name string, b []byte) (*Loaded, error) {
	var doc Document
	head := map[string]any{}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	if head["kind"] == "LeapTerm" {
		t, err := parseLeapTerm(b)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		doc = FromLeapTerm(t)
	} else {
		d, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		doc = d
	}
	if err := Validate(doc); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	cal, err := calendar.New(doc.Timezone, doc.Terms, doc.Breaks)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	hash, err := doc.Hash()
	if err != nil {
		return nil, err
	}
	return &Loaded{Doc: doc, Hash: hash, Calendar: cal, Source: name}, nil
}

func parseLeapTerm(b []byte) (*v1alpha1.LeapTerm, error) {
	obj := map[string]any{}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	if obj["apiVersion"] != v1alpha1.GroupVersion.String() {
		return nil, fmt.Errorf("apiVersion %v: want %s", obj["apiVersion"], v1alpha1.GroupVersion)
	}
	v1alpha1.ApplyDefaults(obj)
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	t := &v1alpha1.LeapTerm{}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("LeapTerm: %w", err)
	}
	if t.Namespace == "" {
		t.Namespace = "local"
	}
	return t, nil
}

// Validate applies the LeapTerm API's rules to a document, for policies
// that did not come through an API server.
func Validate(d Document) error {
	if err := validateScoring(d.Scoring); err != nil {
		return err
	}
	seen := map[v1alpha1.Date]bool{}
	for i, h := range d.PolicyHistory {
		if _, err := calendar.ParseDay(string(h.Until)); err != nil {
			return fmt.Errorf("policyHistory[%d].until: %w", i, err)
		}
		if seen[h.Until] {
			return fmt.Errorf("policyHistory entries must end on different days: %s twice", h.Until)
		}
		if i > 0 && h.Until < d.PolicyHistory[i-1].Until {
			return fmt.Errorf("policyHistory must be ordered by until: %s after %s", h.Until, d.PolicyHistory[i-1].Until)
		}
		seen[h.Until] = true
		if h.Scoring != nil {
			if err := validateScoring(*h.Scoring); err != nil {
				return fmt.Errorf("policyHistory[%d].scoring: %w", i, err)
			}
		}
	}
	if d.Privacy.MinCohortSize < 2 {
		return fmt.Errorf("minCohortSize must be at least 2")
	}
	if err := validateReferrals(d.Referrals); err != nil {
		return err
	}
	return validateXAPI(d.XAPI)
}

// validateReferrals applies the API's rules on
// spec.notifications.referralTargets.
func validateReferrals(r *Referrals) error {
	if r == nil {
		return nil
	}
	seen := map[string]bool{}
	for i, t := range r.ReferralTargets {
		if n := utf8.RuneCountInString(t.Service); n < 1 || n > 63 {
			return fmt.Errorf("referralTargets[%d].service must be 1 to 63 characters, not %d", i, n)
		}
		if seen[t.Service] {
			return fmt.Errorf("referralTargets name the service %q twice", t.Service)
		}
		seen[t.Service] = true
		if a, err := mail.ParseAddress(t.Email); err != nil || a.Address != t.Email || a.Name != "" {
			return fmt.Errorf("referralTargets[%d].email must be an email address such as wellbeing@example.ac.uk, not %q", i, t.Email)
		}
	}
	return nil
}

// validateScoring applies the API's rules on a scoring policy.
func validateScoring(s v1alpha1.Scoring) error {
	for _, w := range []struct {
		name string
		v    int32
	}{{"windowDays", s.WindowDays}, {"partTimeWindowDays", s.PartTimeWindowDays}, {"noEngagementAlertDays", s.NoEngagementAlertDays}} {
		if w.v < 1 || w.v > 56 {
			return fmt.Errorf("%s must be between 1 and 56 teaching days, not %d", w.name, w.v)
		}
	}
	positive := false
	for k, w := range s.Weights {
		if !v1alpha1.KnownActivity(k) {
			return fmt.Errorf("weights name an unknown activity %q", k)
		}
		if w < 0 {
			return fmt.Errorf("weight of %s must not be negative", k)
		}
		positive = positive || w > 0
	}
	if !positive {
		return fmt.Errorf("at least one activity must have a weight above zero")
	}
	for _, a := range s.DisplayOnly {
		if s.Weights[string(a)] > 0 {
			return fmt.Errorf("display-only activity %s cannot have a weight above zero", a)
		}
	}
	b := s.Bands
	if b.High <= b.Good || b.Good <= b.Partial || b.Partial <= b.Low || b.Low < 0 || b.High > 100 {
		return fmt.Errorf("band thresholds must be strictly descending within 0..100: high > good > partial > low")
	}
	return nil
}

// iri is the shape the API's IRI type enforces: a scheme, no spaces.
var iri = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:[^ ]+$`)

// validateXAPI applies the API's rules on spec.xapi.
func validateXAPI(x v1alpha1.XAPI) error {
	checkIRIs := func(what string, list []v1alpha1.IRI) error {
		for _, v := range list {
			if !iri.MatchString(string(v)) || len(v) > 512 {
				return fmt.Errorf("%s: %q must be an IRI with a scheme and no spaces, such as http://adlnet.gov/expapi/verbs/attended", what, v)
			}
		}
		return nil
	}
	if err := checkIRIs("xapi.accountHomePages", x.AccountHomePages); err != nil {
		return err
	}
	for i, e := range x.Mobile.Extensions {
		if err := checkIRIs(fmt.Sprintf("xapi.mobile.extensions[%d].key", i), []v1alpha1.IRI{e.Key}); err != nil {
			return err
		}
		if len(e.Equals) == 0 && len(e.Contains) == 0 {
			return fmt.Errorf("xapi.mobile.extensions[%d]: an extension match needs equals or contains values", i)
		}
	}
	marked := len(x.Mobile.Platforms) > 0 || len(x.Mobile.Extensions) > 0
	for i, m := range x.Mappings {
		at := fmt.Sprintf("xapi.mappings[%d]", i)
		if len(m.Verbs) == 0 {
			return fmt.Errorf("%s: a mapping needs at least one verb", at)
		}
		if err := checkIRIs(at+".verbs", m.Verbs); err != nil {
			return err
		}
		if err := checkIRIs(at+".activityTypes", m.ActivityTypes); err != nil {
			return err
		}
		if !v1alpha1.KnownActivity(string(m.Activity)) {
			return fmt.Errorf("%s: unknown activity %q", at, m.Activity)
		}
		if m.Mobile != nil && *m.Mobile && !marked {
			return fmt.Errorf("%s: a mapping with mobile: true needs xapi.mobile to name the platforms or extensions that mark mobile use", at)
		}
	}
	return nil
}

// Source is the policy a service runs under, re-read when its file changes.
// Readers call Current for every request: a new policy applies at once.
type Source struct {
	path    string
	current atomic.Pointer[Loaded]
	raw     atomic.Pointer[[]byte]
	log     *slog.Logger
}

// Open loads the policy at path; it must be valid for the service to start.
func Open(path string, log *slog.Logger) (*Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	l, err := ParseFile(path, b)
	if err != nil {
		return nil, err
	}
	s := &Source{path: path, log: log}
	s.current.Store(l)
	s.raw.Store(&b)
	return s, nil
}

// Static serves one fixed policy (tests, benchmarks).
func Static(l *Loaded) *Source {
	s := &Source{}
	s.current.Store(l)
	return s
}

// Current is the policy in force.
func (s *Source) Current() *Loaded { return s.current.Load() }

// Watch re-reads the file every interval until ctx ends. A changed file that
// does not parse is logged and ignored: the service keeps the policy it has
// rather than run without one. A ConfigMap mount changes by swapping a
// symlink, which content comparison sees and modification times may not.
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reload()
		}
	}
}

func (s *Source) reload() {
	b, err := os.ReadFile(s.path)
	if err != nil {
		s.log.Error("policy file unreadable; keeping the policy in force", "path", s.path, "error", err)
		return
	}
	if old := s.raw.Load(); old != nil && bytes.Equal(*old, b) {
		return
	}
	l, err := ParseFile(s.path, b)
	if err != nil {
		s.log.Error("policy file invalid; keeping the policy in force", "path", s.path, "error", err, "hash", s.Current().Hash)
		s.raw.Store(&b) // report once per change, not every tick
		return
	}
	s.raw.Store(&b)
	prev := s.current.Swap(l)
	s.log.Info("policy changed", "path", s.path, "from", prev.Hash, "to", l.Hash)
}
