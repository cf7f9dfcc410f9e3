package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/store"
)

// startPreview is the LEAP team's portal over four Maths students whose
// engagement is mostly card taps, at a minimum group size of two so that
// the department's distribution is shown.
func startPreview(t *testing.T, options ...adminOption) *adminFixture {
	t.Helper()
	f := startAdminWith(t, func(s string) string { return strings.Replace(s, "minCohortSize: 10", "minCohortSize: 2", 1) }, options...)
	ctx := context.Background()
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{
		{ID: "s2", Name: "Ben", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s3", Name: "Cai", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
	}))
	var events []store.Event
	for i, d := range []string{"2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08", "2026-10-09", "2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16", "2026-10-19"} {
		day, err := calendar.ParseDay(d)
		must(t, err)
		for _, st := range []string{"s1", "s2", "s3"} {
			for n := range 4 {
				events = append(events, store.Event{ID: st + d + "tap" + strconv.Itoa(n), Student: st, Activity: 0, Day: day})
			}
			if i%3 == 0 {
				events = append(events, store.Event{ID: st + d + "moodle", Student: st, Activity: 5, Day: day})
			}
		}
	}
	_, err := store.Recorder{Client: f.rdb, Retention: 90 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, events)
	must(t, err)
	return f
}

// previewFields is the form as the page prefills it, with changes.
func previewFields(t *testing.T, c *http.Client, base string, change map[string]string) url.Values {
	t.Helper()
	status, page := fetch(t, c, base+"/admin/preview")
	if status != http.StatusOK {
		t.Fatalf("preview form: %d", status)
	}
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input id="([^"]+)" name="([^"]+)"[^>]*value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		v.Set(m[2], m[3])
	}
	// Ticked boxes are sent as a browser sends them.
	for _, m := range regexp.MustCompile(`<input type="checkbox" id="display-[^"]+" name="(displayOnly)" value="([^"]+)" checked>`).FindAllStringSubmatch(page, -1) {
		v.Add(m[1], m[2])
	}
	for _, name := range []string{"high", "good", "partial", "low", "windowDays", "partTimeWindowDays", "noEngagementAlertDays", "weight-tap_in", "breakRows"} {
		if v.Get(name) == "" {
			t.Fatalf("the form is not prefilled with %s from the policy in force:\n%s", name, page)
		}
	}
	if !strings.Contains(page, `name="attendance" value="on" checked`) {
		t.Fatal("the attendance box is not ticked though attendance is on")
	}
	v.Set("attendance", "on")
	v.Set("scope", "fromToday")
	for k, val := range change {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

// TestPreviewAttendanceOffShowsWhoMovesAndChangesNothing: the LEAP team's
// draft "attendance off, renormalize false" shows students moving down, the
// department's distribution and the students listed, each listing audited;
// the policy file stays as it was.
func TestPreviewAttendanceOffShowsWhoMovesAndChangesNothing(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	before, err := os.ReadFile(f.termFile)
	must(t, err)
	form := previewFields(t, c, f.url, map[string]string{"attendance": "", "renormalize": "", "reason": "Teaching is online.", "scope": "wholeYear"})
	status, page := post(t, c, f.url+"/admin/preview", form)
	if status != http.StatusOK {
		t.Fatalf("preview: %d\n%s", status, page)
	}
	down := regexp.MustCompile(`<strong id="moves-down">(\d+)</strong>`).FindStringSubmatch(page)
	if down == nil || down[1] == "0" {
		t.Fatalf("nobody moves down when attendance goes off:\n%s", page)
	}
	if !regexp.MustCompile(`<table id="dist-departments">[\s\S]*<th scope="row">Maths</th><td>3</td>`).MatchString(page) {
		t.Errorf("Maths's distribution is not shown:\n%s", page)
	}
	if !strings.Contains(page, `<a href="/students/s1">Ada (s1)</a>`) {
		t.Errorf("the students who change band are not listed with a link to their page:\n%s", page)
	}
	if !strings.Contains(page, `name="attendance" value="on">`) || !strings.Contains(page, `value="wholeYear" checked`) {
		t.Error("the form does not keep the draft shown")
	}
	after, err := os.ReadFile(f.termFile)
	must(t, err)
	if string(after) != string(before) || !f.policy.Current().Doc.Attendance.IsEnabled() {
		t.Error("a preview changed the policy")
	}
	audit, err := f.rdb.XRange(context.Background(), store.AuditKey("s1"), "-", "+").Result()
	must(t, err)
	if len(audit) == 0 || !strings.Contains(audit[len(audit)-1].Values["what"].(string), "listed in a policy preview") {
		t.Errorf("listing s1 in a preview is not in s1's audit trail: %v", audit)
	}
}

// TestPreviewShowsFieldErrorsBesideTheirFields: a band order the API
// server refuses comes back with its error beside the bands, the values
// as typed, and no preview.
func TestPreviewShowsFieldErrorsBesideTheirFields(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	status, page := post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, map[string]string{"high": "10", "good": "50"}))
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("an invalid band order: %d", status)
	}
	if !regexp.MustCompile(`<p class="field-error" id="err-bands">[^<]*strictly descending`).MatchString(page) {
		t.Errorf("the band error is not beside the bands:\n%s", page)
	}
	if !strings.Contains(page, `id="high" name="high" inputmode="numeric" size="4" value="10"`) || strings.Contains(page, `id="preview-result"`) {
		t.Errorf("the form lost what was typed, or shows a preview:\n%s", page)
	}
	status, page = post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, map[string]string{"windowDays": "many"}))
	if status != http.StatusUnprocessableEntity || !strings.Contains(page, `id="err-windowDays">must be a whole number`) {
		t.Errorf("a window that is not a number: %d\n%s", status, page)
	}
}

// TestOnlyTheLEAPTeamReachesThePreview: anyone else gets the 404 any page
// they may not see gets.
func TestOnlyTheLEAPTeamReachesThePreview(t *testing.T) {
	f := startPreview(t)
	for _, user := range []string{"s1", "t1"} {
		c, _, _ := f.login(t, user, password)
		if status, _ := fetch(t, c, f.url+"/admin/preview"); status != http.StatusNotFound {
			t.Errorf("%s reached the preview form: %d", user, status)
		}
		if status, page := post(t, c, f.url+"/admin/preview", url.Values{"high": {"90"}}); status != http.StatusNotFound || strings.Contains(page, "preview-result") {
			t.Errorf("%s previewed: %d", user, status)
		}
	}
}

// applyFields is the apply form of a preview page.
func applyFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("draft") == "" || v.Get("version") == "" {
		t.Fatalf("the preview has no apply form:\n%s", page)
	}
	return v
}

// TestApplyWritesThePreviewedDraft: applying the preview of "attendance
// off, renormalize false" writes exactly that to the LeapTerm file,
// keeping its comments; the student's page then says attendance is off,
// and the audit log has who, the patch and the preview's figures.
func TestApplyWritesThePreviewedDraft(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	form := previewFields(t, c, f.url, map[string]string{"attendance": "", "renormalize": "", "reason": "Teaching is online.", "high": "80"})
	_, page := post(t, c, f.url+"/admin/preview", form)
	status, page := post(t, c, f.url+"/admin/apply", applyFields(t, page))
	if status != http.StatusSeeOther {
		t.Fatalf("apply: %d\n%s", status, page)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.policy.Current().Doc.Attendance.IsEnabled() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	doc := f.policy.Current().Doc
	if doc.Attendance.IsEnabled() || doc.Attendance.Renormalize || doc.Scoring.Bands.High != 80 || doc.Attendance.Reason != "Teaching is online." {
		t.Fatalf("the policy in force is not the draft: %+v %+v", doc.Attendance, doc.Scoring.Bands)
	}
	if len(doc.PolicyHistory) == 0 {
		t.Error("a change from today left no history for the days before")
	}
	b, _ := os.ReadFile(f.termFile)
	if !strings.Contains(string(b), "# A typical academic year") {
		t.Errorf("the LeapTerm file lost its comments:\n%s", b)
	}
	sc, _, _ := f.login(t, "s1", password)
	if _, page := fetch(t, sc, f.url+"/me?activity=tap_in"); !strings.Contains(page, "Teaching is online.") {
		t.Error("the student's page does not show the change")
	}
	if _, page := fetch(t, c, f.url+"/admin?what=policy+change"); !strings.Contains(page, "leap (leap-team)") ||
		!strings.Contains(page, `&#34;high&#34;:80`) || !strings.Contains(page, "down, ") {
		t.Errorf("the audit log lacks who, the patch or the figures:\n%s", page)
	}
}

// TestApplyAfterAnotherChangeChangesNothing: a policy changed between the
// preview and the apply makes the apply refuse, and the other change
// stands.
func TestApplyAfterAnotherChangeChangesNothing(t *testing.T) {
	f := startPreview(t)
	c, _, _ := f.login(t, "leap", password)
	_, page := post(t, c, f.url+"/admin/preview", previewFields(t, c, f.url, map[string]string{"high": "80"}))
	apply := applyFields(t, page)
	if status, _ := post(t, c, f.url+"/admin/attendance", url.Values{"enabled": {"false"}, "reason": {"Strike."}}); status != http.StatusSeeOther {
		t.Fatalf("the other change: %d", status)
	}
	before, _ := os.ReadFile(f.termFile)
	status, page := post(t, c, f.url+"/admin/apply", apply)
	if status != http.StatusConflict || !strings.Contains(page, "someone changed the policy since your preview; preview again") {
		t.Fatalf("apply after another change: %d\n%s", status, page)
	}
	if after, _ := os.ReadFile(f.termFile); string(after) != string(before) {
		t.Errorf("a refused apply wrote the file:\n%s", after)
	}
}
