package scoring

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// clock is the controllable clock the calendar tests drive the service by.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// set moves the clock to a wall time in London, the sample's timezone.
func (c *clock) set(t testing.TB, wall string) {
	t.Helper()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", wall, london)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = at
}

// serveClocked starts a second scoring service on the fixture's Redis,
// driven by its own clock.
func (f *fixture) serveClocked(t testing.TB, src *policy.Source) (string, *clock) {
	t.Helper()
	clk := &clock{t: now}
	if src == nil {
		src = f.api.svc.Policy
	}
	svc := &Service{Redis: f.rdb, Policy: src, Now: clk.Now, CacheTTL: time.Minute}
	srv := server.New(server.Options{Name: "scoring", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)
	return ts.URL, clk
}

// mornings is a cohort of 40 full-time students of varied habits, active
// on the teaching days 5..16 October and silent from then on.
func (f *fixture) mornings(t testing.TB) []store.Student {
	t.Helper()
	students := make([]store.Student, 40)
	r := rand.New(rand.NewPCG(12, 12))
	var acts []activity
	kinds := []v1alpha1.Activity{v1alpha1.TapIn, v1alpha1.MoodleCourse, v1alpha1.MoodleLogin, v1alpha1.ListenAgain, v1alpha1.FaserView, v1alpha1.PCLabLogin}
	for i := range students {
		students[i] = store.Student{ID: fmt.Sprintf("m%02d", i), Name: "M", Department: "Chemistry", Course: "BSc Chemistry", Year: 1, Level: "ug", Mode: "FT"}
		keen := r.Float64()
		for d := day(t, "2026-10-05"); d.Before(day(t, "2026-10-17")); d = d.AddDays(1) {
			if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
				continue
			}
			for _, k := range kinds {
				if r.Float64() < keen {
					acts = append(acts, activity{students[i].ID, d.String(), k, 1 + r.IntN(4)})
				}
			}
		}
	}
	if err := store.PutStudents(context.Background(), f.rdb, students); err != nil {
		t.Fatal(err)
	}
	f.record(t, acts...)
	return students
}

var bandOrder = map[string]int{"very_low": 0, "low": 1, "partial": 2, "good": 3, "high": 4}

// A Monday morning with Friday's data in shows no band lower than Friday
// evening's; the day's first events raise the figure in the very next
// request, and the indicator says which day it is for.
func TestMondayMorningNeverLowers(t *testing.T) {
	f := start(t, nil)
	students := f.mornings(t)
	url, clk := f.serveClocked(t, nil)

	// Friday evening, with the day's data in: the figure is Friday's, or
	// Thursday's where Friday's own would lower it (the day is not over).
	ended := map[string]Indicator{}
	clk.set(t, "2026-10-16 20:00")
	for _, s := range students {
		e := decode[Engagement](t, get(t, url, "/v1/students/"+s.ID+"/engagement", http.StatusOK))
		if e.Indicator == nil || (e.Indicator.AsOf != "2026-10-16" && e.Indicator.AsOf != "2026-10-15") {
			t.Fatalf("%s on Friday evening: indicator %+v, want one as of 15 or 16 October", s.ID, e.Indicator)
		}
	}
	// Friday's own figure, once it has ended.
	clk.set(t, "2026-10-17 09:00")
	for _, s := range students {
		e := decode[Engagement](t, get(t, url, "/v1/students/"+s.ID+"/engagement", http.StatusOK))
		ended[s.ID] = *e.Indicator
	}
	cohortFriday := decode[Cohort](t, get(t, url, "/v1/cohorts/BSc%20Chemistry/1", http.StatusOK))

	clk.set(t, "2026-10-19 08:00")
	lower := 0
	for _, s := range students {
		e := decode[Engagement](t, get(t, url, "/v1/students/"+s.ID+"/engagement", http.StatusOK))
		was := ended[s.ID]
		if e.Indicator == nil || bandOrder[string(e.Indicator.Band)] < bandOrder[string(was.Band)] || e.Indicator.Score < was.Score {
			lower++
			t.Errorf("%s on Monday 08:00: %+v, lower than Friday's %+v", s.ID, e.Indicator, was)
			continue
		}
		if *e.Indicator != was || was.AsOf != "2026-10-16" {
			t.Errorf("%s on Monday 08:00 with nothing new: %+v, want Friday's %+v", s.ID, *e.Indicator, was)
		}
	}
	t.Logf("Monday 08:00: %d of %d students lower than on Friday", lower, len(students))
	cohortMonday := decode[Cohort](t, get(t, url, "/v1/cohorts/BSc%20Chemistry/1", http.StatusOK))
	if cohortMonday.MeanScore != cohortFriday.MeanScore || cohortMonday.AsOf != "2026-10-16" {
		t.Errorf("cohort on Monday morning %+v, want Friday's %+v", cohortMonday, cohortFriday)
	}

	// 16:00: m00 has done a full day's work, and it shows at once.
	clk.set(t, "2026-10-19 16:00")
	f.record(t, activity{"m00", "2026-10-19", v1alpha1.TapIn, 4}, activity{"m00", "2026-10-19", v1alpha1.MoodleCourse, 10},
		activity{"m00", "2026-10-19", v1alpha1.ListenAgain, 2}, activity{"m00", "2026-10-19", v1alpha1.FaserUpload, 1},
		activity{"m00", "2026-10-19", v1alpha1.MoodleLogin, 3}, activity{"m00", "2026-10-19", v1alpha1.PCLabLogin, 2})
	e := decode[Engagement](t, get(t, url, "/v1/students/m00/engagement", http.StatusOK))
	if e.Indicator == nil || e.Indicator.Score <= ended["m00"].Score || e.Indicator.AsOf != "2026-10-19" {
		t.Errorf("m00 after a full Monday: %+v, want above Friday's %v as of 2026-10-19", e.Indicator, ended["m00"].Score)
	}
	if d := dayOf(t, e, "2026-10-19"); !d.InProgress || dayOf(t, e, "2026-10-16").InProgress {
		t.Errorf("Monday %+v should be the day in progress, Friday not", d)
	}
}

// quiet records nothing counted for a student from a day on, and one
// login on the teaching day before it.
func (f *fixture) quiet(t testing.TB, id, lastActive string) {
	t.Helper()
	if err := store.PutStudents(context.Background(), f.rdb, []store.Student{
		{ID: id, Name: "Q", Department: "Law", Course: "LLB Law", Year: 2, Level: "ug", Mode: "FT"},
	}); err != nil {
		t.Fatal(err)
	}
	f.record(t, activity{id, lastActive, v1alpha1.MoodleLogin, 1})
}

func alertsAt(t testing.TB, url string, clk *clock, wall, id string) []Alert {
	t.Helper()
	clk.set(t, wall)
	return decode[[]Alert](t, get(t, url, "/v1/students/"+id+"/alerts", http.StatusOK))
}

// Weekends, a break and vacation neither raise nor clear an alert; the
// first day after a break raises none from the days before it alone; an
// alert says when its run began and how long it is.
func TestAlertsOnTheRealCalendar(t *testing.T) {
	f := start(t, nil)
	url, clk := f.serveClocked(t, nil)
	// q1 last did something on Friday 2 October, before term: silent from
	// Monday 5 October. q3 last did something on Monday 2 November.
	f.quiet(t, "q1", "2026-10-02")
	f.quiet(t, "q3", "2026-11-02") // silent 3..6 November: 4 teaching days before the break

	// Friday evening: the day is not over, so the run is of the 9 days
	// before it; on Saturday Friday has ended, and the run is 10 long
	// until Monday ends.
	inProgress := alertsAt(t, url, clk, "2026-10-16 18:00", "q1")
	if len(inProgress) == 0 || inProgress[0].Kind != "no_engagement" || inProgress[0].Since != "2026-10-05" || inProgress[0].Days != 9 {
		t.Fatalf("q1 on Friday 16 October at 18:00: %+v, want no_engagement since 2026-10-05 for 9 days", inProgress)
	}
	friday := alertsAt(t, url, clk, "2026-10-17 00:30", "q1")
	if len(friday) == 0 || friday[0].Kind != "no_engagement" || friday[0].Since != "2026-10-05" || friday[0].Days != 10 {
		t.Fatalf("q1 on Saturday 17 October: %+v, want no_engagement since 2026-10-05 for 10 days", friday)
	}
	if !strings.Contains(friday[0].Message, "since Monday 5 October: 10 teaching days") {
		t.Errorf("message %q does not say when the run began and how long it is", friday[0].Message)
	}
	for _, wall := range []string{"2026-10-17 10:00", "2026-10-18 21:00", "2026-10-19 08:00", "2026-10-19 23:59"} {
		if got := alertsAt(t, url, clk, wall, "q1"); len(got) == 0 || got[0] != friday[0] {
			t.Errorf("q1 at %s: %+v, want Friday's %+v", wall, got, friday[0])
		}
	}

	// In the break, the alert raised before it stays, as it was at the end
	// of Friday 6 November; a vacation day keeps the one of the last day
	// of term.
	before := alertsAt(t, url, clk, "2026-11-07 10:00", "q1")
	if len(before) == 0 || before[0].Days != 25 {
		t.Fatalf("q1 on Saturday 7 November: %+v, want a run of 25 teaching days", before)
	}
	for _, wall := range []string{"2026-11-09 09:00", "2026-11-13 17:00", "2026-11-16 08:00"} {
		if got := alertsAt(t, url, clk, wall, "q1"); len(got) == 0 || got[0] != before[0] {
			t.Errorf("q1 at %s: %+v, want %+v", wall, got, before[0])
		}
	}
	lastOfTerm := alertsAt(t, url, clk, "2026-12-12 00:10", "q1")
	if got := alertsAt(t, url, clk, "2026-12-24 12:00", "q1"); len(got) == 0 || got[0] != lastOfTerm[0] || got[0].Days != 45 {
		t.Errorf("q1 on a vacation day: %+v, want the last day of term's %+v (45 teaching days)", got, lastOfTerm)
	}

	// q3: 4 silent teaching days before the break; none on its last day,
	// none on the first day after it, even at its end, and one on the
	// second day, whose run counts the days before the break too.
	for _, wall := range []string{"2026-11-13 17:00", "2026-11-16 08:00", "2026-11-16 23:30", "2026-11-17 23:30"} {
		if got := alertsAt(t, url, clk, wall, "q3"); len(got) != 0 && got[0].Kind == "no_engagement" {
			t.Errorf("q3 at %s: %+v, want no no-engagement alert yet", wall, got)
		}
	}
	got := alertsAt(t, url, clk, "2026-11-19 08:00", "q3")
	if len(got) == 0 || got[0].Kind != "no_engagement" || got[0].Since != "2026-11-03" || got[0].Days != 7 {
		t.Errorf("q3 on Thursday 19 November: %+v, want no_engagement since 2026-11-03 for 7 days", got)
	}

	// Activity on a Saturday ends nothing (the alert is about teaching
	// days), activity on a teaching day ends it at once.
	f.record(t, activity{"q1", "2026-12-12", v1alpha1.MoodleLogin, 1})
	if got := alertsAt(t, url, clk, "2026-12-12 20:00", "q1"); len(got) == 0 {
		t.Errorf("q1 after Saturday work: no alert, want the term's")
	}
}

// On the first day of term nothing has ended yet: no band at all until the
// day's first activity, and no alerts.
func TestFirstDayOfTerm(t *testing.T) {
	f := start(t, nil)
	url, clk := f.serveClocked(t, nil)
	f.quiet(t, "f1", "2026-10-02")
	clk.set(t, "2026-10-05 08:00")
	e := decode[Engagement](t, get(t, url, "/v1/students/f1/engagement", http.StatusOK))
	if e.Indicator != nil || e.Reason == "" {
		t.Errorf("first morning of term: indicator %+v reason %q, want none and why", e.Indicator, e.Reason)
	}
	if a := alertsAt(t, url, clk, "2026-10-05 08:00", "f1"); len(a) != 0 {
		t.Errorf("first morning of term: alerts %+v", a)
	}
	clk.set(t, "2026-10-05 11:00")
	f.record(t, activity{"f1", "2026-10-05", v1alpha1.MoodleCourse, 5})
	e = decode[Engagement](t, get(t, url, "/v1/students/f1/engagement", http.StatusOK))
	if e.Indicator == nil || e.Indicator.AsOf != "2026-10-05" || e.Indicator.Score <= 0 {
		t.Errorf("after the first activity of term: %+v, want a score as of 2026-10-05", e.Indicator)
	}
}

// A student who keeps dropping out has an alert history, and the LEAP team
// can count alerts by department and week.
func TestAlertHistoryAndWeeklyCounts(t *testing.T) {
	f := start(t, nil)
	url, clk := f.serveClocked(t, nil)
	f.quiet(t, "d1", "2026-10-09")                                     // silent 12..20 October
	f.record(t, activity{"d1", "2026-10-21", v1alpha1.ListenAgain, 2}) // back on Wednesday
	f.quiet(t, "d2", "2026-10-16")                                     // silent from 19 October
	clk.set(t, "2026-11-07 10:00")                                     // a Saturday
	got := decode[[]Episode](t, get(t, url, "/v1/students/d1/alerts/history", http.StatusOK))
	var noEng []Episode
	for _, ep := range got {
		if ep.Kind == "no_engagement" {
			noEng = append(noEng, ep)
		}
	}
	want := []Episode{
		{Kind: "no_engagement", Since: "2026-10-12", Raised: "2026-10-20", Days: 7, Ended: "2026-10-21", EndedBy: "listen_again"},
		// Silent again from 22 October: 12 teaching days to Friday 6 November.
		{Kind: "no_engagement", Since: "2026-10-22", Raised: "2026-10-30", Days: 12, Message: "Nothing counted toward engagement since Thursday 22 October: 12 teaching days."},
	}
	if fmt.Sprint(noEng) != fmt.Sprint(want) {
		t.Errorf("d1's history\n%+v\nwant\n%+v", noEng, want)
	}

	weekly := decode[struct {
		Department string `json:"department"`
		Students   int    `json:"students"`
		Weeks      []Week `json:"weeks"`
	}](t, get(t, url, "/v1/departments/Law/alerts/weekly", http.StatusOK))
	raised := map[string]int{}
	for _, w := range weekly.Weeks {
		raised[w.Week] = w.Raised["no_engagement"]
	}
	// d1 in the weeks of 19 and 26 October, d2 (raised 27 October) in the second.
	if weekly.Students != 2 || raised["2026-10-19"] != 1 || raised["2026-10-26"] != 2 {
		t.Errorf("weekly counts %+v, want 1 no-engagement alert in the week of 19 October and 2 in the next", weekly)
	}
}

// On a Saturday a tutor still sees the week's alerts.
func TestTutorAlertsAtTheWeekend(t *testing.T) {
	f := start(t, nil)
	url, clk := f.serveClocked(t, nil)
	f.quiet(t, "w1", "2026-10-02")
	ctx := context.Background()
	if err := store.PutStaff(ctx, f.rdb, []store.Staff{{ID: "t9", Name: "Tam", Department: "Law", Role: "tutor"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutTutors(ctx, f.rdb, []store.Tutoring{{Staff: "t9", Student: "w1"}}); err != nil {
		t.Fatal(err)
	}
	for _, wall := range []string{"2026-10-24 11:00", "2026-10-25 11:00"} {
		clk.set(t, wall)
		got := decode[[]Alert](t, get(t, url, "/v1/tutors/t9/alerts", http.StatusOK))
		if len(got) == 0 || got[0].Student != "w1" || got[0].Since != "2026-10-05" || got[0].Days != 15 {
			t.Errorf("%s: tutor's alerts %+v, want w1's run since 5 October of 15 days", wall, got)
		}
	}
}

// The attendance switch flips on Monday 2 November, from that day: October
// keeps its scores, as it was the evening before, and the days from the
// switch count no taps. A weight corrected for the whole year, by choice,
// re-scores October too. The policy comes from a file the service watches,
// as in a pod, and the cache follows each change.
func TestPolicyChangeFromADay(t *testing.T) {
	const switchOff = "  attendance:\n    enabled: false\n    reason: \"No physical teaching\"\n" +
		"  policyHistory:\n  - until: \"2026-11-01\"\n    attendance: {enabled: true}\n"
	textA := sample(t)
	textB := sample(t, "  attendance:\n    enabled: true\n", switchOff)
	textC := sample(t, "  attendance:\n    enabled: true\n", switchOff, "tap_in: 3, faser_upload: 3", "tap_in: 3, faser_upload: 1")
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(text string) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(textA)
	src, err := policy.Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.Watch(ctx, 5*time.Millisecond)
	switchTo := func(text string) {
		t.Helper()
		want := parsePolicy(t, text).Hash
		write(text)
		for deadline := time.Now().Add(5 * time.Second); src.Current().Hash != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the policy file changed but the source still has %s", src.Current().Hash)
			}
		}
	}

	f := start(t, nil)
	url, clk := f.serveClocked(t, src)
	if err := store.PutStudents(ctx, f.rdb, []store.Student{{ID: "sw1", Name: "S", Department: "Law", Course: "LLB Law", Year: 1, Level: "ug", Mode: "FT"}}); err != nil {
		t.Fatal(err)
	}
	var acts []activity
	for d := day(t, "2026-10-05"); d.Before(day(t, "2026-11-07")); d = d.AddDays(1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			acts = append(acts, activity{"sw1", d.String(), v1alpha1.TapIn, 4}, activity{"sw1", d.String(), v1alpha1.MoodleCourse, 10})
		}
	}
	acts = append(acts, activity{"sw1", "2026-10-16", v1alpha1.FaserUpload, 1})
	f.record(t, acts...)
	const october = "/v1/students/sw1/engagement?from=2026-10-05&to=2026-10-30"

	clk.set(t, "2026-11-01 20:00")
	before := decode[Engagement](t, get(t, url, october, http.StatusOK))

	switchTo(textB)
	for _, wall := range []string{"2026-11-02 08:00", "2026-11-03 10:00"} {
		clk.set(t, wall)
		after := decode[Engagement](t, get(t, url, october, http.StatusOK))
		if after.PolicyHash == before.PolicyHash {
			t.Fatalf("%s: answered under the old policy", wall)
		}
		if a, b := scores(before.Days), scores(after.Days); a != b {
			t.Errorf("%s: October changed when attendance was switched off from 2 November:\n%s\n%s", wall, a, b)
		}
	}
	monday := dayOf(t, decode[Engagement](t, get(t, url, "/v1/students/sw1/engagement?from=2026-11-02&to=2026-11-02", http.StatusOK)), "2026-11-02")
	friday := dayOf(t, before, "2026-10-30")
	if monday.Score == nil || friday.Score == nil || *monday.Score != 14.3 || *friday.Score != 35.7 {
		t.Errorf("2 November scores %v (taps no longer count: want 14.3), 30 October %v (want 35.7)", monday.Score, friday.Score)
	}

	// A weight corrected for the whole year re-scores October.
	switchTo(textC)
	corrected := decode[Engagement](t, get(t, url, october, http.StatusOK))
	if fri := dayOf(t, corrected, "2026-10-30"); fri.Score == nil || *fri.Score != 41.7 { // 5 of 12
		t.Errorf("30 October after a whole-year correction: %v, want 41.7", fri.Score)
	}
}

// scores writes days as date, score and band, for comparing answers.
func scores(days []Day) string {
	var b strings.Builder
	for _, d := range days {
		fmt.Fprintf(&b, "%s:", d.Date)
		if d.Score != nil {
			fmt.Fprintf(&b, "%.1f", *d.Score)
		}
		fmt.Fprintf(&b, ":%s ", d.Band)
	}
	return b.String()
}

// In a break, on the first morning after it and in vacation, the
// indicator is the one of the last teaching day that ended.
func TestIndicatorAcrossBreaksAndVacation(t *testing.T) {
	f := start(t, nil)
	url, clk := f.serveClocked(t, nil)
	var acts []activity
	for d := day(t, "2026-10-05"); d.Before(day(t, "2026-12-12")); d = d.AddDays(1) {
		acts = append(acts, activity{"v1", d.String(), v1alpha1.MoodleCourse, 1 + d.Day%10})
	}
	if err := store.PutStudents(context.Background(), f.rdb, []store.Student{{ID: "v1", Name: "V", Department: "Law", Course: "LLB Law", Year: 1, Level: "ug", Mode: "FT"}}); err != nil {
		t.Fatal(err)
	}
	f.record(t, acts...)
	at := func(wall string) Indicator {
		t.Helper()
		clk.set(t, wall)
		e := decode[Engagement](t, get(t, url, "/v1/students/v1/engagement", http.StatusOK))
		if e.Indicator == nil {
			t.Fatalf("%s: no indicator", wall)
		}
		return *e.Indicator
	}
	friday := at("2026-11-07 09:00")
	for _, wall := range []string{"2026-11-09 12:00", "2026-11-13 23:00", "2026-11-16 07:00"} {
		// Activity in the break (shown, not averaged) changes nothing.
		if got := at(wall); got != friday || got.AsOf != "2026-11-06" {
			t.Errorf("%s: %+v, want Friday 6 November's %+v", wall, got, friday)
		}
	}
	if got := at("2026-12-24 12:00"); got.AsOf != "2026-12-11" {
		t.Errorf("in vacation: %+v, want the last day of term's", got)
	}
}
