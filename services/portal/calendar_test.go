package portal

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/store"
)

func typicalPolicy(t *testing.T) *policy.Loaded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	l, err := policy.ParseFile("test", b)
	must(t, err)
	return l
}

// The day in progress is drawn as a mark of its own, never joined to the
// trend line nor counted in a tutor's sparkline: its score is the day so
// far, and joining it would draw a fall every morning.
func TestDayInProgressIsNotOnTheLine(t *testing.T) {
	score := func(v float64) *float64 { return &v }
	e := &scoring.Engagement{Days: []scoring.Day{
		{Date: "2026-10-15", Teaching: true, Score: score(60), Band: "good"},
		{Date: "2026-10-16", Teaching: true, Score: score(70), Band: "high"},
		{Date: "2026-10-19", Teaching: true, Score: score(0), Band: "very_low", InProgress: true},
	}}
	svg := string(trendChart(e, typicalPolicy(t), nil))
	_, line, ok := strings.Cut(svg, `<polyline class="line" points="`)
	line, _, closed := strings.Cut(line, `"/>`)
	if !ok || !closed {
		t.Fatalf("no trend line: %s", svg)
	}
	if n := strings.Count(line, ","); n != 2 {
		t.Errorf("the line has %d points, want the 2 ended days: %s", n, line)
	}
	if !strings.Contains(svg, `<circle class="so-far"`) || !strings.Contains(svg, "Today so far: 0.0") {
		t.Errorf("no mark for the day so far: %s", svg)
	}
	if got := lastScores(e, 14); len(got) != 2 || got[1] != 70 {
		t.Errorf("sparkline scores %v, want [60 70]", got)
	}
}

// The student's page explains the rule in a student's words, and names
// the day its figure is for.
func TestStudentHelpText(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	s1 := f.signIn(t, "s1")
	_, page := fetch(t, s1.Client, f.url+"/me")
	for _, want := range []string{`id="how"`, "daily limit", "counts as zero", "Today is not over", "as of Monday 19 October"} {
		if !strings.Contains(page, want) {
			t.Errorf("the student's page lacks %q", want)
		}
	}
}

var scoreRow = regexp.MustCompile(`<tr><td><time datetime="2026-10-19">Mon 19 Oct</time></td><td>yes</td><td>([0-9.]+)</td>`)

// switchAttendanceOff signs the LEAP team in and switches attendance off,
// from today or for the whole year, and waits for the services to see it;
// it returns the student s1's score of Monday 19 October before and after.
func switchAttendanceOff(t *testing.T, f *adminFixture, form url.Values) (before, after string) {
	t.Helper()
	day, err := calendar.ParseDay("2026-10-19")
	must(t, err)
	_, err = store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(context.Background(), []store.Event{
		{ID: "t1", Student: "s1", Activity: 0, Day: day}, {ID: "t2", Student: "s1", Activity: 0, Day: day}, {ID: "m1", Student: "s1", Activity: 5, Day: day},
	})
	must(t, err)
	sc, _, _ := f.login(t, "s1", password)
	score := func() string {
		_, page := fetch(t, sc, f.url+"/me")
		m := scoreRow.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no score for 19 October on the student's page")
		}
		return m[1]
	}
	before = score()
	c, _, _ := f.login(t, "leap", password)
	form.Set("enabled", "false")
	form.Set("reason", "Teaching is online.")
	resp, err := c.PostForm(f.url+"/admin/attendance", form)
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("switch: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(5 * time.Second); f.policy.Current().Doc.Attendance.IsEnabled(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the services never saw attendance switched off")
		}
	}
	return before, score()
}

// The LEAP team switches attendance off on Tuesday 20 October: from that
// day, so Monday keeps its score; the student's band area says since when
// and what it does, and the trend marks the day.
func TestAttendanceSwitchedOffFromToday(t *testing.T) {
	f := startAdmin(t)
	before, after := switchAttendanceOff(t, f, url.Values{})
	if before != after {
		t.Errorf("Monday 19 October scored %s before the switch and %s after it", before, after)
	}
	b, err := os.ReadFile(f.termFile)
	must(t, err)
	if !strings.Contains(string(b), "policyHistory:") || !strings.Contains(string(b), "until: \"2026-10-19\"") || !strings.Contains(string(b), "# A typical academic year") {
		t.Errorf("the LeapTerm file has no history ending on 19 October, or lost its comments:\n%s", b)
	}
	if h := f.policy.Current().Doc.PolicyHistory; len(h) != 1 || !h[0].Attendance.IsEnabled() {
		t.Errorf("history %+v, want attendance on until 19 October", h)
	}
	sc, _, _ := f.login(t, "s1", password)
	_, page := fetch(t, sc, f.url+"/me")
	if !strings.Contains(page, "Attendance is not counted since 20 October; indicators run lower than usual.") {
		t.Error("the band area does not say since when attendance is not counted")
	}
	if !strings.Contains(page, `class="policy-mark"`) || !strings.Contains(page, "Attendance off from 2026-10-20") {
		t.Error("the trend does not mark the day of the switch")
	}
	// Monday's taps, which counted, are still listed on the attendance tab.
	_, page = fetch(t, sc, f.url+"/me?activity=tap_in")
	if !strings.Contains(page, "the taps below were recorded before that") || !strings.Contains(page, `<tr><td><time datetime="2026-10-19">Mon 19 Oct</time></td><td>2</td></tr>`) {
		t.Error("the attendance tab hides the taps of the days before the switch")
	}
}

// A change for the whole year is a choice: it re-scores Monday too.
func TestAttendanceSwitchedOffForTheWholeYear(t *testing.T) {
	f := startAdmin(t)
	before, after := switchAttendanceOff(t, f, url.Values{"wholeYear": {"true"}})
	if before == after {
		t.Errorf("Monday 19 October kept its score %s after a change for the whole year", before)
	}
	if h := f.policy.Current().Doc.PolicyHistory; len(h) != 0 {
		t.Errorf("history %+v after a change for the whole year", h)
	}
	sc, _, _ := f.login(t, "s1", password)
	if _, page := fetch(t, sc, f.url+"/me"); !strings.Contains(page, "Attendance is not counted; indicators run lower than usual.") {
		t.Error("the band area does not say attendance is not counted")
	}
}

func TestAttendanceHistory(t *testing.T) {
	doc := typicalPolicy(t).Doc
	nov2, err := calendar.ParseDay("2026-11-02")
	must(t, err)
	h := attendanceHistory(doc, nov2)
	if len(h) != 1 || h[0].Until != "2026-11-01" || !h[0].Attendance.IsEnabled() || h[0].Scoring != nil {
		t.Fatalf("history %+v", h)
	}
	doc.PolicyHistory = h
	if again := attendanceHistory(doc, nov2); len(again) != 1 {
		t.Errorf("a second switch on the same day: %+v", again)
	}
	no := false
	doc.Attendance = v1alpha1.Attendance{Enabled: &no, Renormalize: true}
	if got := attendanceNotice(doc); got != "Attendance is not counted since 2 November; the other activities are re-weighted to make up for it." {
		t.Errorf("notice %q", got)
	}
}

// A tutee who dropped out and came back shows the alert that ended.
func TestTutorListShowsEarlierAlerts(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	days := teachingDays(t) // 5..20 October
	back := store.Student{ID: "b1", Name: "Bo Back", Department: "Maths", Course: "BSc Maths", Year: 2, Level: "ug", Mode: "FT"}
	// Busy on 5 October, silent on the 7 teaching days 6..14, busy from 15.
	f.tutees(t, "t2", []store.Student{back}, map[string][]calendar.Day{"b1": append([]calendar.Day{days[0]}, days[8:]...)})
	t2 := f.signIn(t, "t2")
	_, page := fetch(t, t2.Client, f.url+"/students")
	if !strings.Contains(page, "1 earlier alert this year, since ended") {
		t.Errorf("the list does not show b1's ended alert:\n%s", page)
	}
}

// The tutor opens the student's page and reads the year's alerts: when
// each run began, when it was raised, and what ended it (the activity
// that counted most that day: an upload, weighted 3).
func TestStaffSeeTheAlertHistory(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	days := teachingDays(t)
	back := store.Student{ID: "b1", Name: "Bo Back", Department: "Maths", Course: "BSc Maths", Year: 2, Level: "ug", Mode: "FT"}
	f.tutees(t, "t2", []store.Student{back}, map[string][]calendar.Day{"b1": append([]calendar.Day{days[0]}, days[8:]...)})
	t2 := f.signIn(t, "t2")
	_, page := fetch(t, t2.Client, f.url+"/students/b1")
	for _, want := range []string{`id="alert-history"`, "<td>Nothing counted</td><td>Tuesday 6 October</td><td>Wednesday 14 October</td><td>7</td><td>Thursday 15 October (FASER uploads)</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the tutor's view of b1 lacks %q", want)
		}
	}
	b1 := f.signIn(t, "s1")
	if _, own := fetch(t, b1.Client, f.url+"/me"); strings.Contains(own, `id="alert-history"`) {
		t.Error("a student's own page lists alerts")
	}
}
