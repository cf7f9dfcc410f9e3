package draft

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// current is the typical sample's policy, as the services hold it.
func current(t testing.TB) policy.Document {
	t.Helper()
	name := filepath.Join("..", "..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := policy.ParseFile(name, b)
	if err != nil {
		t.Fatal(err)
	}
	return l.Doc
}

var today = calendar.Day{Year: 2026, Month: 11, Day: 18}

func apply(t *testing.T, draft string) (*Result, string) {
	t.Helper()
	d, errs := Parse([]byte(draft))
	if len(errs) > 0 {
		return nil, errs.ToAggregate().Error()
	}
	doc := current(t)
	spec, err := SpecOf(doc)
	if err != nil {
		t.Fatal(err)
	}
	res, errs, err := d.Apply(context.Background(), doc.LeapTerm, spec, today)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate().Error()
	}
	return res, ""
}

// TestMalformedDraftsAreRefusedAtTheirField: what the form shows beside
// each field.
func TestMalformedDraftsAreRefusedAtTheirField(t *testing.T) {
	for _, tc := range []struct{ name, draft, want string }{
		{"bad band order", `{"scoring":{"bands":{"high":40,"good":50}}}`,
			"spec.scoring.bands: Invalid value: band thresholds must be strictly descending"},
		{"negative weight", `{"scoring":{"weights":{"tap_in":-3}}}`, "spec.scoring.weights: Invalid value: weights must not be negative"},
		{"overlapping breaks", `{"breaks":[{"name":"a","start":"2026-11-09","end":"2026-11-13"},{"name":"b","start":"2026-11-12","end":"2026-11-20"}]}`,
			"spec.breaks: Invalid value: breaks must not overlap"},
		{"break outside the terms", `{"breaks":[{"name":"a","start":"2026-12-20","end":"2026-12-23"}]}`, "every break must lie inside one term"},
		{"window", `{"scoring":{"windowDays":0}}`, "spec.scoring.windowDays: Invalid value: 0: windowDays must be between 1 and 56"},
		{"weight not a number", `{"scoring":{"weights":{"tap_in":"three"}}}`, "spec.scoring.weights: Invalid value: \"string\": must be int32"},
		{"unknown field", `{"scoring":{"weight":{"tap_in":1}}}`, `spec.scoring: Invalid value: "": unknown field "weight"`},
		{"policy history by hand", `{"policyHistory":[]}`, "draft.policyHistory: Unsupported value"},
		{"not an object", `[1]`, "a draft is a JSON object"},
		{"trailing data", `{} {}`, "after top-level value"},
		{"reason too long", `{"attendance":{"enabled":false,"reason":"` + strings.Repeat("x", 501) + `"}}`, "spec.attendance.reason: Too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, msg := apply(t, tc.draft)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("got %q, want %q", msg, tc.want)
			}
		})
	}
}

// TestFromTodayKeepsEarlierDays: a change from today puts the policy in
// force until yesterday into the history, its scoring included when the
// scoring changes; the patch holds the changed fields and nothing else.
func TestFromTodayKeepsEarlierDays(t *testing.T) {
	res, msg := apply(t, `{"attendance":{"enabled":false,"reason":"online","renormalize":false},"scoring":{"weights":{"faser_view":2}}}`)
	if msg != "" {
		t.Fatal(msg)
	}
	h := res.Document.PolicyHistory
	if len(h) != 1 || h[0].Until != "2026-11-17" || !h[0].Attendance.IsEnabled() || h[0].Scoring == nil || h[0].Scoring.Weights["faser_view"] != 1 {
		t.Fatalf("history %+v", h)
	}
	if res.Document.Attendance.IsEnabled() || res.Document.Scoring.Weights["faser_view"] != 2 || res.Document.Scoring.Weights["tap_in"] != 3 {
		t.Fatalf("policy %+v", res.Document)
	}
	patch, _ := json.Marshal(res.Patch)
	for _, want := range []string{`"attendance":{"enabled":false,"reason":"online"}`, `"scoring":{"weights":{"faser_view":2}}`, `"policyHistory":[`} {
		if !strings.Contains(string(patch), want) {
			t.Errorf("patch %s lacks %s", patch, want)
		}
	}
	if strings.Contains(string(patch), "breaks") || strings.Contains(string(patch), "terms") {
		t.Errorf("patch %s changes what the draft did not", patch)
	}
}

// TestWholeYearRewritesTheHistory: for the whole year, no entry is added
// and the entries there take the change.
func TestWholeYearRewritesTheHistory(t *testing.T) {
	d, errs := Parse([]byte(`{"scoring":{"weights":{"faser_view":2}},"attendance":{"renormalize":true},"wholeYear":true}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	doc := current(t)
	off := false
	doc.PolicyHistory = []v1alpha1.PolicyEra{{Until: "2026-10-31", Attendance: v1alpha1.Attendance{Enabled: &off}, Scoring: doc.Scoring.DeepCopy()}}
	spec, err := SpecOf(doc)
	if err != nil {
		t.Fatal(err)
	}
	res, errs, err := d.Apply(context.Background(), doc.LeapTerm, spec, today)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	h := res.Document.PolicyHistory
	if len(h) != 1 || h[0].Scoring != nil || !h[0].Attendance.Renormalize || !h[0].Attendance.IsEnabled() {
		t.Fatalf("history %+v", h)
	}
	if !res.Document.Attendance.Renormalize || !res.Document.Attendance.IsEnabled() {
		t.Fatalf("attendance %+v", res.Document.Attendance)
	}
}

// TestNoChangeNoPatch: a draft that changes nothing writes nothing, not
// even a history entry.
func TestNoChangeNoPatch(t *testing.T) {
	res, msg := apply(t, `{"scoring":{"windowDays":7},"attendance":{"enabled":true}}`)
	if msg != "" {
		t.Fatal(msg)
	}
	if len(res.Patch) != 0 {
		t.Fatalf("patch %v", res.Patch)
	}
	want, _ := current(t).Hash()
	if got, _ := res.Document.Hash(); got != want {
		t.Fatalf("hash %s, want %s", got, want)
	}
}

// FuzzParse: any body gives a draft or field errors, never a panic; a
// draft that parses either applies, giving a policy whose calendar the
// services can build, or is refused with errors.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"attendance":{"enabled":false,"reason":"online","renormalize":true}}`,
		`{"scoring":{"bands":{"high":40,"good":50,"partial":30,"low":10}}}`,
		`{"scoring":{"weights":{"tap_in":-1,"moodle_login":null}},"wholeYear":true}`,
		`{"breaks":[{"name":"a","start":"2026-11-09","end":"2026-11-13"},{"name":"b","start":"2026-11-12","end":"2026-11-20"}]}`,
		`{"breaks":null,"scoring":null}`, `null`, `{"scoring":{"displayOnly":["tap_in"]}}`,
	} {
		f.Add([]byte(seed))
	}
	doc := current(f)
	spec, err := SpecOf(doc)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, errs := Parse(b)
		if len(errs) > 0 {
			if d != nil {
				t.Fatal("a draft and errors")
			}
			return
		}
		res, errs, err := d.Apply(context.Background(), doc.LeapTerm, spec, today)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			return
		}
		if _, err := calendar.New(res.Document.Timezone, res.Document.Terms, res.Document.Breaks); err != nil {
			t.Fatalf("accepted %s, yet its calendar fails: %v", b, err)
		}
		if err := policy.Validate(res.Document); err != nil {
			t.Fatalf("accepted %s, yet policy.Validate refuses it: %v", b, err)
		}
	})
}
