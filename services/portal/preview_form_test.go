package portal

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/leapterm"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/store"
)

// TestPreviewFormHoldsEveryScoringField: every field of the LeapTerm's
// spec.scoring and spec.attendance has an input in the form (and breaks
// their rows), so that no scoring-affecting field is left out of a draft;
// a field the API gains fails this until the form has it.
func TestPreviewFormHoldsEveryScoringField(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	_, page := fetch(t, c, f.url+"/admin/preview")
	inputs := map[string][]string{
		"scoring.windowDays":            {"windowDays"},
		"scoring.partTimeWindowDays":    {"partTimeWindowDays"},
		"scoring.weights":               {"weight-tap_in", "weight-library_loan"},
		"scoring.displayOnly":           {"displayOnly"},
		"scoring.bands":                 {"high", "good", "partial", "low"},
		"scoring.noEngagementAlertDays": {"noEngagementAlertDays"},
		"attendance.enabled":            {"attendance"},
		"attendance.reason":             {"reason"},
		"attendance.renormalize":        {"renormalize"},
	}
	for section, typ := range map[string]reflect.Type{"scoring": reflect.TypeFor[v1alpha1.Scoring](), "attendance": reflect.TypeFor[v1alpha1.Attendance]()} {
		for field := range typ.Fields() {
			name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
			names, ok := inputs[section+"."+name]
			if !ok {
				t.Errorf("spec.%s.%s has no input in the preview form", section, name)
			}
			for _, n := range names {
				if !strings.Contains(page, `name="`+n+`"`) {
					t.Errorf("spec.%s.%s: the form has no input %s", section, name, n)
				}
			}
		}
	}
	for _, want := range []string{`value="autumn-reading-week"`, `value="2027-02-22"`, `id="break-name-2" name="break-name-2"`, `name="break-remove-0"`, `value="reading_list" checked`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %s (breaks prefilled, an empty row to add one, display-only ticked):\n%s", want, page)
		}
	}
}

// TestPreviewDraftsBreaksDisplayOnlyAndPartTimeWindow: a draft that
// removes a break, adds one, stops showing reading lists and widens the
// part-time window is previewed, and applying it writes exactly that.
func TestPreviewDraftsBreaksDisplayOnlyAndPartTimeWindow(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	form := previewFields(t, c, f.url, map[string]string{
		"break-remove-1": "on",
		"break-name-2":   "study-day", "break-start-2": "2026-12-01", "break-end-2": "2026-12-01",
		"partTimeWindowDays": "28",
	})
	form["displayOnly"] = []string{"library_loan"}
	status, page := post(t, c, f.url+"/admin/preview", form)
	if status != http.StatusOK {
		t.Fatalf("preview: %d\n%s", status, page)
	}
	if status, page = post(t, c, f.url+"/admin/apply", applyFields(t, page)); status != http.StatusSeeOther {
		t.Fatalf("apply: %d\n%s", status, page)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.policy.Current().Doc.Scoring.PartTimeWindowDays != 28 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	doc := f.policy.Current().Doc
	if doc.Scoring.PartTimeWindowDays != 28 {
		t.Fatalf("the part-time window is %d, want 28", doc.Scoring.PartTimeWindowDays)
	}
	var breaks []string
	for _, b := range doc.Breaks {
		breaks = append(breaks, b.Name+" "+string(b.Start)+" "+string(b.End))
	}
	if want := []string{"autumn-reading-week 2026-11-09 2026-11-13", "study-day 2026-12-01 2026-12-01"}; !reflect.DeepEqual(breaks, want) {
		t.Errorf("breaks %v, want %v", breaks, want)
	}
	if !reflect.DeepEqual(doc.Scoring.DisplayOnly, []v1alpha1.Activity{v1alpha1.LibraryLoan}) {
		t.Errorf("display-only %v, want library_loan alone", doc.Scoring.DisplayOnly)
	}
	if b, _ := os.ReadFile(f.termFile); !strings.Contains(string(b), "# A typical academic year") {
		t.Errorf("the LeapTerm file lost its comments:\n%s", b)
	}
}

// TestPreviewShowsBreakAndDisplayOnlyErrorsBesideTheirFields: each rule
// of the API about the new fields comes back beside the field it is
// about, with what was typed, and no preview.
func TestPreviewShowsBreakAndDisplayOnlyErrorsBesideTheirFields(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	for name, tc := range map[string]struct {
		change map[string]string
		want   string
	}{
		"break ends before it starts": {map[string]string{"break-end-0": "2026-11-01"},
			`<span class="field-error" id="err-break-0">[^<]*must not end before it starts`},
		"break outside every term": {map[string]string{"break-name-2": "xmas", "break-start-2": "2026-12-20", "break-end-2": "2026-12-22"},
			`<p class="field-error" id="err-breaks">[^<]*every break must lie inside one term`},
		"breaks overlap": {map[string]string{"break-name-2": "extra", "break-start-2": "2026-11-12", "break-end-2": "2026-11-16"},
			`<p class="field-error" id="err-breaks">[^<]*breaks must not overlap`},
		"no such day": {map[string]string{"break-start-1": "2027-02-30"},
			`<span class="field-error" id="err-break-start-1">[^<]*not a day of the calendar`},
		"display-only weighted": {map[string]string{"weight-reading_list": "2"},
			`<p class="field-error" id="err-displayOnly">[^<]*display-only activity cannot have a weight above zero`},
		"part-time window": {map[string]string{"partTimeWindowDays": "99"},
			`<span class="field-error" id="err-partTimeWindowDays">[^<]*partTimeWindowDays must be between 1 and 56`},
	} {
		status, page := post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, tc.change))
		if status != http.StatusUnprocessableEntity || !regexp.MustCompile(tc.want).MatchString(page) || strings.Contains(page, `id="preview-result"`) {
			t.Errorf("%s: %d, want the error beside its field (%s):\n%s", name, status, tc.want, page)
			continue
		}
		for k, v := range tc.change {
			if !strings.Contains(page, `name="`+k+`"`) || !strings.Contains(page, `value="`+v+`"`) {
				t.Errorf("%s: the form lost %s=%s", name, k, v)
			}
		}
	}
}

// TestPreviewShowsCoursesAndYears: the distribution by course and year is
// shown for groups of at least the minimum size; a smaller one is not
// shown alone.
func TestPreviewShowsCoursesAndYears(t *testing.T) {
	f := startPreview(t)
	must(t, store.PutStudents(context.Background(), f.rdb, []store.Student{
		{ID: "s9", Name: "Dev", Department: "History", Course: "BA History", Year: 2, Level: "ug", Mode: "FT"},
	}))
	c, _, _ := f.login(t, "leap", password)
	status, page := post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, map[string]string{"attendance": "", "reason": "Online."}))
	if status != http.StatusOK {
		t.Fatalf("preview: %d\n%s", status, page)
	}
	if !regexp.MustCompile(`<table id="dist-cohorts">[\s\S]*<th scope="row">BSc Maths, year 1</th><td>3</td>`).MatchString(page) {
		t.Errorf("BSc Maths year 1's distribution is not shown:\n%s", page)
	}
	if strings.Contains(page, "BA History, year 2</th>") || !strings.Contains(page, "1 smaller courses and years withheld") {
		t.Errorf("a course and year of one student is shown alone, or not said to be withheld:\n%s", page)
	}
}

// refusingWriter is make run's FileWriter behind an API server whose
// rules are stricter than this portal's copy of them: its dry run refuses
// a part-time window above 28 days as such a server does (the API
// server's side is TestDryRunReportsWhatTheGoRulesMiss, against a real
// one, in operator/internal/apivalidation).
type refusingWriter struct {
	FileWriter
	dryRuns *atomic.Int32
}

func (w refusingWriter) DryRun(ctx context.Context, version string, patch map[string]any) error {
	w.dryRuns.Add(1)
	if err := w.FileWriter.DryRun(ctx, version, patch); err != nil {
		return err
	}
	sc, _ := patch["scoring"].(map[string]any)
	if n, ok := sc["partTimeWindowDays"].(int64); ok && n > 28 {
		return fmt.Errorf("patch LeapTerm leap/y2026-27: %w", &leapterm.Refusal{Code: 422,
			Message: `LeapTerm.leap.dev "y2026-27" is invalid: spec.scoring.partTimeWindowDays: Invalid value: 40: at most 28 here`,
			Causes:  []leapterm.Cause{{Field: "spec.scoring.partTimeWindowDays", Message: "Invalid value: 40: at most 28 here"}}})
	}
	return nil
}

// TestPreviewShowsTheClustersRefusalBesideTheField: a draft the Go rules
// accept but the cluster's dry run refuses is not previewed: the
// refusal is beside its field, no student is listed, nothing written.
func TestPreviewShowsTheClustersRefusalBesideTheField(t *testing.T) {
	var dryRuns atomic.Int32
	f := startPreview(t, func(s *adminSetup) {
		s.writer = func(fw FileWriter) PolicyWriter { return refusingWriter{fw, &dryRuns} }
	})
	c, _, _ := f.login(t, "leap", password)
	before, err := os.ReadFile(f.termFile)
	must(t, err)
	status, page := post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, map[string]string{"partTimeWindowDays": "40", "attendance": ""}))
	if status != http.StatusUnprocessableEntity || !strings.Contains(page, `<span class="field-error" id="err-partTimeWindowDays">Invalid value: 40: at most 28 here</span>`) ||
		strings.Contains(page, `id="preview-result"`) {
		t.Fatalf("the cluster's refusal: %d\n%s", status, page)
	}
	if after, _ := os.ReadFile(f.termFile); string(after) != string(before) {
		t.Error("a refused draft was written")
	}
	audit, err := f.rdb.XRange(context.Background(), store.AuditKey("s1"), "-", "+").Result()
	must(t, err)
	for _, a := range audit {
		if strings.Contains(a.Values["what"].(string), "policy preview") {
			t.Errorf("a refused draft listed students: %v", a.Values)
		}
	}
	// Within the cluster's rules it is previewed, after the same check.
	status, page = post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, map[string]string{"partTimeWindowDays": "28"}))
	if status != http.StatusOK || !strings.Contains(page, `id="preview-result"`) || dryRuns.Load() != 2 {
		t.Errorf("a draft the cluster accepts: %d, %d dry runs\n%s", status, dryRuns.Load(), page)
	}
}

// TestPreviewWhileScoringsRedisIsHungOrDown: when the counts cannot be
// read (scoring's Redis hung, then down), the LEAP team is told so within
// seconds, and nothing is previewed, listed or written.
func TestPreviewWhileScoringsRedisIsHungOrDown(t *testing.T) {
	r := redistest.Start(t)
	rdb, err := store.Open(store.Options{URL: r.URL(), DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	must(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	f := startPreview(t, func(s *adminSetup) { s.scoringRedis = rdb })
	c, _, _ := f.login(t, "leap", password)
	before, err := os.ReadFile(f.termFile)
	must(t, err)
	form := previewFields(t, c, f.url, map[string]string{"attendance": "", "reason": "Online."})
	check := func(state string) {
		t.Helper()
		began := time.Now()
		status, page := post(t, c, f.url+"/admin/preview", form)
		took := time.Since(began)
		t.Logf("scoring's Redis %s: %d after %v", state, status, took)
		if status != http.StatusServiceUnavailable || took > outageBound || !strings.Contains(page, "the stored counts cannot be read. Nothing was changed") ||
			strings.Contains(page, `id="preview-result"`) {
			t.Errorf("scoring's Redis %s: %d after %v, want 503 within %v saying why:\n%s", state, status, took, outageBound, page)
		}
	}
	r.Pause(t)
	check("hung")
	r.Resume(t)
	r.Stop()
	check("down")
	if after, _ := os.ReadFile(f.termFile); string(after) != string(before) {
		t.Error("the policy file changed")
	}
	audit, err := f.rdb.XRange(context.Background(), store.AuditKey("s1"), "-", "+").Result()
	must(t, err)
	for _, a := range audit {
		if strings.Contains(a.Values["what"].(string), "policy preview") {
			t.Errorf("a preview that failed listed students: %v", a.Values)
		}
	}
}

// FuzzErrorPlace: whatever path and words a refusal comes with (from
// scoring or the API server), it is placed where preview.html shows an
// error, or above the form: never under a key the page has no place for.
func FuzzErrorPlace(f *testing.F) {
	for _, p := range []string{"spec.breaks[3].start", "spec.breaks[x]", "spec.breaks[", "spec.breaks[0]0", "spec", "spec.scoring",
		"spec.scoring.weights.tap_in", "spec.scoring.weights.gym", "spec.attendance.enabled",
		"spec.policyHistory[0].until", "spec.scoring.displayOnly[2]", "draft.terms", ""} {
		f.Add(p, "every break must lie inside one term")
	}
	tmpl, err := os.ReadFile("templates/preview.html")
	if err != nil {
		f.Fatal(err)
	}
	shown := string(tmpl)
	f.Fuzz(func(t *testing.T, path, detail string) {
		at := errorPlace(path, detail)
		if at == "" {
			return
		}
		if row, ok := breakRow(at); ok {
			_, field, _ := strings.Cut(at, "]")
			if row < 0 || (field != "" && field != ".name" && field != ".start" && field != ".end") {
				t.Fatalf("%q placed at %q, which the form has no place for", path, at)
			}
			return
		}
		key, isWeight := strings.CutPrefix(at, "spec.scoring.weights.")
		switch {
		case isWeight && v1alpha1.KnownActivity(key):
		case !strings.Contains(shown, `index $e "`+at+`"`):
			t.Fatalf("%q placed at %q, which the form has no place for", path, at)
		}
	})
}
