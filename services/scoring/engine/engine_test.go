package engine

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// basePolicy is the defaulted policy of a typical year: two terms and a
// reading week.
func basePolicy() policy.Document {
	return policy.Document{
		LeapTerm: "leap/y2026",
		Timezone: "Europe/London",
		Terms: []v1alpha1.DateRange{
			{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"}, // 5 October is a Monday
			{Name: "spring", Start: "2027-01-18", End: "2027-03-26"},
		},
		Breaks: []v1alpha1.DateRange{{Name: "reading-week", Start: "2026-11-09", End: "2026-11-13"}},
		Scoring: v1alpha1.Scoring{
			WindowDays:         7,
			PartTimeWindowDays: 21,
			Weights: map[string]int32{
				"tap_in": 3, "faser_upload": 3, "faser_view": 1, "listen_again": 2,
				"pc_lab_login": 1, "moodle_course": 2, "moodle_login": 1, "moodle_mobile": 1,
			}, // 14 in all
			DisplayOnly:           []v1alpha1.Activity{v1alpha1.LibraryLoan, v1alpha1.ReadingList},
			Bands:                 v1alpha1.Bands{High: 70, Good: 50, Partial: 30, Low: 10},
			NoEngagementAlertDays: 7,
		},
		Privacy: v1alpha1.Privacy{MinCohortSize: 10, NoIndicatorFor: []v1alpha1.StudyLevel{v1alpha1.PostgraduateResearch}},
	}
}

func engine(t testing.TB, doc policy.Document) *Engine {
	t.Helper()
	e, err := New(doc)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func day(t testing.TB, s string) calendar.Day {
	t.Helper()
	d, err := calendar.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// counts builds Counts from activity keys.
func counts(byKey map[v1alpha1.Activity]int32) Counts {
	var c Counts
	for a, n := range byKey {
		c[position(a)] = n
	}
	return c
}

// full is every activity at its cap.
func full() Counts { return Counts(caps) }

var ug = Student{ID: "s1", Level: v1alpha1.Undergraduate}

// everyTeachingDay gives c on each teaching day from..to of e's calendar.
func everyTeachingDay(e *Engine, from, to calendar.Day, c Counts) map[calendar.Day]Counts {
	m := map[calendar.Day]Counts{}
	for d := from; cmpDay(d, to) <= 0; d = d.AddDays(1) {
		if e.isTeaching(d) {
			m[d] = c
		}
	}
	return m
}

func TestCapsCoverTheCatalogue(t *testing.T) {
	want := map[v1alpha1.Activity]int32{
		"tap_in": 4, "faser_upload": 1, "faser_view": 3, "listen_again": 2, "pc_lab_login": 2,
		"moodle_course": 10, "moodle_login": 3, "moodle_mobile": 5, "library_loan": 1, "reading_list": 1,
	}
	for _, info := range v1alpha1.Catalogue {
		if got := Cap(info.Key); got != want[info.Key] {
			t.Errorf("cap of %s: got %d, want %d", info.Key, got, want[info.Key])
		}
	}
	if Cap("gym_visit") != 0 {
		t.Error("an unknown activity has a cap")
	}
}

func TestDailyScore(t *testing.T) {
	e := engine(t, basePolicy())
	if s, c := e.DailyScore(Counts{}); s != 0 || c != nil {
		t.Errorf("nothing done: %v %v", s, c)
	}
	if s, _ := e.DailyScore(full()); s != 100 {
		t.Errorf("everything at its cap: %v, want 100", s)
	}
	// 3 + 3 + 1 of 14 weight points: exactly half.
	half := counts(map[v1alpha1.Activity]int32{"tap_in": 4, "faser_upload": 1, "faser_view": 3, "library_loan": 5})
	s, contributions := e.DailyScore(half)
	if s != 50 || e.Band(s) != Good {
		t.Errorf("half: %v %s, want 50 good", s, e.Band(s))
	}
	want := []Contribution{{"tap_in", 4, 300.0 / 14}, {"faser_upload", 1, 300.0 / 14}, {"faser_view", 3, 100.0 / 14}}
	if !reflect.DeepEqual(contributions, want) {
		t.Errorf("contributions: got %v, want %v (display-only library loans left out)", contributions, want)
	}
	// Saturation: a thousand page views are worth ten.
	ten, _ := e.DailyScore(counts(map[v1alpha1.Activity]int32{"moodle_course": 10}))
	thousand, _ := e.DailyScore(counts(map[v1alpha1.Activity]int32{"moodle_course": 1000}))
	nine, _ := e.DailyScore(counts(map[v1alpha1.Activity]int32{"moodle_course": 9}))
	if ten != thousand || nine >= ten {
		t.Errorf("moodle_course 9, 10, 1000: %v %v %v", nine, ten, thousand)
	}
	if s, _ := e.DailyScore(counts(map[v1alpha1.Activity]int32{"moodle_course": -5})); s != 0 {
		t.Errorf("a negative count scored %v", s)
	}
}

// onePolicy weights moodle_course alone at 10, so n page views score 10n:
// every band threshold is reachable exactly.
func onePolicy() policy.Document {
	doc := basePolicy()
	doc.Scoring.Weights = map[string]int32{"moodle_course": 10}
	return doc
}

func TestBandEdgesAreExact(t *testing.T) {
	e := engine(t, onePolicy())
	for _, c := range []struct {
		score float64
		band  Band
	}{{100, High}, {70, High}, {50, Good}, {30, Partial}, {10, Low}, {0, VeryLow}} {
		if got := e.Band(c.score); got != c.band {
			t.Errorf("Band(%v) = %s, want %s", c.score, got, c.band)
		}
		if c.score > 0 {
			below := math.Nextafter(c.score, 0)
			if got := e.Band(below); got == c.band && c.score != 100 {
				t.Errorf("Band(%v) = %s, want the band below", below, got)
			}
		}
	}
	// Counts that give the thresholds exactly.
	for n, want := range map[int32]Band{7: High, 6: Good, 5: Good, 4: Partial, 3: Partial, 2: Low, 1: Low, 0: VeryLow} {
		s, _ := e.DailyScore(counts(map[v1alpha1.Activity]int32{"moodle_course": n}))
		if s != float64(10*n) || e.Band(s) != want {
			t.Errorf("%d page views: %v %s, want %d %s", n, s, e.Band(s), 10*n, want)
		}
	}
	// An indicator exactly at a threshold: 40, 60 and five 50s average 50.
	asOf := day(t, "2026-10-13")
	m := map[calendar.Day]Counts{}
	for i, d := range e.window(asOf, 7) {
		n := int32(5)
		switch i {
		case 2:
			n = 4
		case 5:
			n = 6
		}
		m[d] = counts(map[v1alpha1.Activity]int32{"moodle_course": n})
	}
	ind, _ := e.Indicator(ug, m, asOf)
	if ind.Score != 50 || ind.Band != Good || ind.WindowDays != 7 {
		t.Errorf("indicator: %+v, want 50 good over 7 days", ind)
	}
	// Just below: the band comes from the unrounded score even though it
	// rounds to 50.0.
	doc := onePolicy()
	doc.Scoring.Weights = map[string]int32{"moodle_course": 10, "moodle_mobile": 1000000}
	e = engine(t, doc)
	nearly := counts(map[v1alpha1.Activity]int32{"moodle_mobile": 5, "moodle_course": 9})
	s, _ := e.DailyScore(nearly)
	if s >= 100 || round1(s) != 100 || e.Band(s) != High {
		t.Errorf("near 100: %v", s)
	}
	doc.Scoring.Bands.High = 100
	doc.Scoring.Bands.Good = 99
	e = engine(t, doc)
	if r := e.Evaluate(ug, map[calendar.Day]Counts{asOf: nearly}, asOf, asOf, asOf); r.Days[0].Score != 100 || r.Days[0].Band != Good {
		t.Errorf("a score that rounds up to a threshold: %+v, want 100.0 shown but good", r.Days[0])
	}
}

func TestRound1(t *testing.T) {
	for x, want := range map[float64]float64{0.25: 0.3, 0.35: 0.4, 66.66: 66.7, 12.04: 12.0, -0.25: -0.3, 100: 100} {
		if got := round1(x); got != want {
			t.Errorf("round1(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestAttendanceOff(t *testing.T) {
	withTaps := full()
	withoutTaps := full()
	withoutTaps[position(v1alpha1.TapIn)] = 0
	off := false
	for _, c := range []struct {
		name        string
		enabled     *bool
		renormalize bool
		want        float64
	}{
		{"on", nil, false, 100},
		{"off, the indicator runs lower", &off, false, 100 * 11.0 / 14},
		{"off and renormalized", &off, true, 100},
	} {
		doc := basePolicy()
		doc.Attendance = v1alpha1.Attendance{Enabled: c.enabled, Renormalize: c.renormalize}
		e := engine(t, doc)
		got, contributions := e.DailyScore(withTaps)
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		if c.enabled != nil {
			if again, _ := e.DailyScore(withoutTaps); again != got {
				t.Errorf("%s: taps changed the score from %v to %v", c.name, again, got)
			}
			for _, ct := range contributions {
				if ct.Activity == v1alpha1.TapIn {
					t.Errorf("%s: taps contributed %v", c.name, ct)
				}
			}
		}
	}
}

func TestNoIndicatorFor(t *testing.T) {
	e := engine(t, basePolicy())
	from, asOf := day(t, "2026-10-05"), day(t, "2026-11-27")
	m := everyTeachingDay(e, from, day(t, "2026-10-09"), full()) // then nothing for weeks
	pgr := Student{ID: "r1", Level: v1alpha1.PostgraduateResearch}
	r := e.Evaluate(pgr, m, from, asOf, asOf)
	if r.Indicator != nil || r.Reason != "no engagement indicator is calculated for postgraduate research students" {
		t.Errorf("pgr: %+v %q", r.Indicator, r.Reason)
	}
	if r.Days[0].Counts != full() || r.Days[0].Band != "" || r.Days[0].Score != 0 || r.Days[0].Contributions != nil {
		t.Errorf("pgr day: %+v, want counts and no score", r.Days[0])
	}
	if a := e.Alerts(pgr, m, asOf); a != nil {
		t.Errorf("pgr alerts: %+v", a)
	}
	if r := e.Evaluate(ug, m, from, asOf, asOf); r.Indicator == nil || r.Reason != "" || r.Days[0].Band != High {
		t.Errorf("ug: %+v %q", r.Indicator, r.Reason)
	}
	if a := e.Alerts(ug, m, asOf); len(a) != 2 {
		t.Errorf("ug alerts: %+v", a)
	}
}

func TestNoTeachingDaysYet(t *testing.T) {
	e := engine(t, basePolicy())
	for _, s := range []string{"2026-09-01", "2026-10-04"} {
		r := e.Evaluate(ug, nil, day(t, "2026-09-28"), day(t, s), day(t, s))
		if r.Indicator != nil || r.Reason != "no teaching days yet this year" {
			t.Errorf("%s: %+v %q", s, r.Indicator, r.Reason)
		}
	}
	ind, _ := e.Indicator(ug, map[calendar.Day]Counts{day(t, "2026-10-06"): full()}, day(t, "2026-10-07"))
	if ind.WindowDays != 3 || ind.Score != 33.3 || ind.Band != Partial {
		t.Errorf("third day of term: %+v, want the mean of three days", ind)
	}
}

func TestEvaluateDays(t *testing.T) {
	e := engine(t, basePolicy())
	from, to := day(t, "2026-10-02"), day(t, "2026-10-12")
	sat := day(t, "2026-10-10")
	r := e.Evaluate(ug, map[calendar.Day]Counts{sat: full()}, from, to, to)
	if len(r.Days) != 11 || r.Days[0].Date != from || r.Days[10].Date != to || r.Student != "s1" {
		t.Fatalf("days: %d from %v to %v", len(r.Days), r.Days[0].Date, r.Days[len(r.Days)-1].Date)
	}
	for i, d := range r.Days {
		if i > 0 && d.Date != r.Days[i-1].Date.AddDays(1) {
			t.Errorf("day %d is %v", i, d.Date)
		}
		if d.Teaching != e.isTeaching(d.Date) {
			t.Errorf("%v: teaching %v", d.Date, d.Teaching)
		}
	}
	// Weekend work has a score, but the indicator skips the weekend.
	if d := r.Days[8]; d.Date != sat || d.Teaching || d.Score != 100 || d.Band != High || len(d.Contributions) != 8 {
		t.Errorf("Saturday: %+v", d)
	}
	if r.Indicator.Score != 0 || r.Indicator.Band != VeryLow || r.Indicator.Explanation != nil {
		t.Errorf("indicator: %+v", r.Indicator)
	}
	if r := e.Evaluate(ug, nil, to, from, to); len(r.Days) != 0 {
		t.Errorf("from after to: %d days", len(r.Days))
	}
}

func TestWindowSkipsBreaksAndWeekends(t *testing.T) {
	e := engine(t, basePolicy())
	asOf := day(t, "2026-11-16") // the Monday after reading week
	want := []string{"2026-10-30", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-16"}
	in, out := map[calendar.Day]Counts{}, map[calendar.Day]Counts{}
	for d := day(t, "2026-10-24"); cmpDay(d, asOf) <= 0; d = d.AddDays(1) {
		out[d] = full()
	}
	for _, s := range want {
		in[day(t, s)] = full()
		delete(out, day(t, s))
	}
	ind, _ := e.Indicator(ug, in, asOf)
	if ind.Score != 100 || ind.WindowDays != 7 {
		t.Errorf("the window's days full: %+v", ind)
	}
	ind, _ = e.Indicator(ug, out, asOf)
	if ind.Score != 0 || ind.Band != VeryLow {
		t.Errorf("only weekends, the break and older days full: %+v", ind)
	}
	// Inside the break the indicator stands where it stood on the Friday.
	for _, s := range []string{"2026-11-07", "2026-11-11", "2026-11-15"} {
		ind, _ := e.Indicator(ug, in, day(t, s))
		friday, _ := e.Indicator(ug, in, day(t, "2026-11-06"))
		friday.AsOf = ind.AsOf
		if !reflect.DeepEqual(ind, friday) {
			t.Errorf("%s: %+v, want %+v", s, ind, friday)
		}
	}
}

func TestPartTimeWindow(t *testing.T) {
	e := engine(t, basePolicy())
	// Full activity on the first 14 teaching days, nothing on the next 7.
	m := everyTeachingDay(e, day(t, "2026-10-05"), day(t, "2026-10-22"), full())
	asOf := day(t, "2026-11-02") // the 21st teaching day
	ft, _ := e.Indicator(ug, m, asOf)
	if ft.WindowDays != 7 || ft.Score != 0 || ft.Band != VeryLow {
		t.Errorf("full-time: %+v", ft)
	}
	pt, _ := e.Indicator(Student{ID: "p", Level: v1alpha1.Undergraduate, PartTime: true}, m, asOf)
	if pt.WindowDays != 21 || pt.Score != 66.7 || pt.Band != Good {
		t.Errorf("part-time: %+v, want 14 of 21 days full", pt)
	}
}

func TestExplanation(t *testing.T) {
	e := engine(t, basePolicy())
	asOf := day(t, "2026-10-13")
	days := e.window(asOf, 7)
	m := map[calendar.Day]Counts{
		days[0]: counts(map[v1alpha1.Activity]int32{"moodle_login": 9, "reading_list": 2}),
		days[3]: counts(map[v1alpha1.Activity]int32{"tap_in": 2, "moodle_login": 1}),
		days[6]: counts(map[v1alpha1.Activity]int32{"pc_lab_login": 2}),
	}
	ind, _ := e.Indicator(ug, m, asOf)
	want := []Contribution{
		{"tap_in", 2, 100 * 3 * 0.5 / 14 / 7},
		{"moodle_login", 10, 100 * (1 + 1.0/3) / 14 / 7},
		{"pc_lab_login", 2, 100 * 1 / 14.0 / 7},
	}
	if len(ind.Explanation) != len(want) {
		t.Fatalf("explanation: %+v", ind.Explanation)
	}
	var sum float64
	for i, c := range ind.Explanation {
		if c.Activity != want[i].Activity || c.Count != want[i].Count || math.Abs(c.Points-want[i].Points) > 1e-9 {
			t.Errorf("explanation %d: %+v, want %+v", i, c, want[i])
		}
		sum += c.Points
	}
	if math.Abs(round1(sum)-ind.Score) > 0.05 {
		t.Errorf("explanation adds up to %v, score %v", sum, ind.Score)
	}
}

func TestAlertsNoEngagement(t *testing.T) {
	e := engine(t, basePolicy())
	// Nothing at all from the start of term: the 7th teaching day alerts.
	if a := e.Alerts(ug, nil, day(t, "2026-10-12")); hasNoEngagement(a) {
		t.Errorf("after 6 teaching days: %+v", a)
	}
	a := e.Alerts(ug, nil, day(t, "2026-10-13"))
	if !hasNoEngagement(a) || a[0] != (Alert{NoEngagement, day(t, "2026-10-05"), 7, a[0].Message}) || !strings.Contains(a[0].Message, "7 teaching days") {
		t.Errorf("after 7 teaching days: %+v", a)
	}

	// Active for two weeks, then only things that do not count: library
	// loans, and weekend work.
	m := everyTeachingDay(e, day(t, "2026-10-05"), day(t, "2026-10-16"), full())
	for d := day(t, "2026-10-19"); cmpDay(d, day(t, "2026-10-31")) <= 0; d = d.AddDays(1) {
		m[d] = counts(map[v1alpha1.Activity]int32{"library_loan": 3, "reading_list": 1})
	}
	m[day(t, "2026-10-24")] = full()
	if a := e.Alerts(ug, m, day(t, "2026-10-26")); hasNoEngagement(a) {
		t.Errorf("6 quiet teaching days: %+v", a)
	}
	a = e.Alerts(ug, m, day(t, "2026-10-27"))
	if len(a) != 1 || a[0].Since != day(t, "2026-10-19") || a[0].Days != 7 {
		t.Errorf("7 quiet teaching days across a weekend: %+v", a)
	}
	if a := e.Alerts(ug, m, day(t, "2026-10-28")); len(a) != 1 || a[0].Days != 8 {
		t.Errorf("the run grows: %+v", a)
	}

	// Taps while attendance is off are not counted either.
	doc := basePolicy()
	off := false
	doc.Attendance.Enabled = &off
	e = engine(t, doc)
	m = everyTeachingDay(e, day(t, "2026-10-05"), day(t, "2026-10-30"), counts(map[v1alpha1.Activity]int32{"tap_in": 4}))
	if a := e.Alerts(ug, m, day(t, "2026-10-13")); !hasNoEngagement(a) {
		t.Errorf("taps only, attendance off: %+v", a)
	}
}

// Outside teaching days alerts neither appear nor clear: a weekend, a
// break or vacation shows those of the last teaching day before it.
func TestAlertsHoldOutsideTeaching(t *testing.T) {
	e := engine(t, basePolicy())
	for _, c := range []struct{ day, lastTeaching string }{
		{"2026-11-09", "2026-11-06"}, {"2026-11-13", "2026-11-06"}, {"2026-10-24", "2026-10-23"},
		{"2026-11-15", "2026-11-06"}, {"2026-12-20", "2026-12-11"}, {"2027-01-17", "2026-12-11"}, {"2027-06-30", "2027-06-18"},
	} {
		got, want := e.Alerts(ug, nil, day(t, c.day)), e.Alerts(ug, nil, day(t, c.lastTeaching))
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want those of %s: %+v", c.day, got, c.lastTeaching, want)
		}
	}
	if a := e.Alerts(ug, nil, day(t, "2026-10-04")); a != nil {
		t.Errorf("before the first teaching day: %+v", a)
	}
	// Back after the break, the run of nothing counts across it.
	a := e.Alerts(ug, nil, day(t, "2026-11-16"))
	if !hasNoEngagement(a) || a[0].Days != 26 || a[0].Since != day(t, "2026-10-05") {
		t.Errorf("after the break: %+v", a)
	}
}

// While a day is in progress it neither raises an alert nor lengthens
// one; its first counted activity ends a no-engagement alert at once.
func TestAlertsToday(t *testing.T) {
	e := engine(t, basePolicy())
	// Silent from the start of term: 6 teaching days have ended on the
	// morning of Tuesday 13 October, the 7th is in progress.
	if a := e.AlertsToday(ug, nil, day(t, "2026-10-13")); hasNoEngagement(a) {
		t.Errorf("7th day in progress: %+v", a)
	}
	a := e.AlertsToday(ug, nil, day(t, "2026-10-14"))
	if !hasNoEngagement(a) || a[0].Days != 7 || a[0].Message != "Nothing counted toward engagement since Monday 5 October: 7 teaching days." {
		t.Errorf("7 days ended: %+v", a)
	}
	m := map[calendar.Day]Counts{day(t, "2026-10-14"): counts(map[v1alpha1.Activity]int32{"moodle_login": 1})}
	if a := e.AlertsToday(ug, m, day(t, "2026-10-14")); hasNoEngagement(a) {
		t.Errorf("a login today: %+v", a)
	}
	// The first teaching day after a break raises nothing from the days
	// before it alone: 4 silent days before the reading week, then Monday.
	m = everyTeachingDay(e, day(t, "2026-10-05"), day(t, "2026-11-02"), full())
	for _, d := range []string{"2026-11-14", "2026-11-16", "2026-11-17"} {
		if a := e.AlertsToday(ug, m, day(t, d)); hasNoEngagement(a) {
			t.Errorf("%s: %+v", d, a)
		}
	}
	if a := e.AlertsToday(ug, m, day(t, "2026-11-19")); !hasNoEngagement(a) || a[0].Since != day(t, "2026-11-03") || a[0].Days != 7 {
		t.Errorf("19 November: %+v, want 7 days since 3 November", a)
	}
}

func TestAlertsVeryLowForAWeek(t *testing.T) {
	e := engine(t, basePolicy())
	// Nothing at all: the indicator is very low from the first day, so the
	// 5th teaching day alerts, before the no-engagement alert does.
	if a := e.Alerts(ug, nil, day(t, "2026-10-08")); a != nil {
		t.Errorf("4 teaching days: %+v", a)
	}
	if a := e.Alerts(ug, nil, day(t, "2026-10-09")); len(a) != 1 || a[0].Kind != VeryLowForAWeek || a[0].Days != 5 {
		t.Errorf("5 teaching days: %+v", a)
	}

	// Two full weeks, then a little phone use each day: counted, but very
	// low once the full days leave the window on 27 October.
	m := everyTeachingDay(e, day(t, "2026-10-05"), day(t, "2026-10-16"), full())
	for d := day(t, "2026-10-19"); cmpDay(d, day(t, "2026-11-30")) <= 0; d = d.AddDays(1) {
		m[d] = counts(map[v1alpha1.Activity]int32{"moodle_mobile": 1})
	}
	if a := e.Alerts(ug, m, day(t, "2026-10-30")); a != nil {
		t.Errorf("4 very low days: %+v", a)
	}
	a := e.Alerts(ug, m, day(t, "2026-11-02"))
	if len(a) != 1 || a[0] != (Alert{VeryLowForAWeek, day(t, "2026-10-27"), 5, a[0].Message}) || a[0].Message == "" {
		t.Errorf("5 very low days: %+v", a)
	}
	if a := e.Alerts(ug, m, day(t, "2026-11-17")); len(a) != 1 || a[0].Days != 11 {
		t.Errorf("across the break: %+v", a)
	}
	if a := e.Alerts(ug, m, day(t, "2026-11-10")); !reflect.DeepEqual(a, e.Alerts(ug, m, day(t, "2026-11-06"))) {
		t.Errorf("in the break: %+v, want those of Friday 6 November", a)
	}
	// A part-time student's longer window keeps the full weeks in view.
	if a := e.Alerts(Student{ID: "p", Level: v1alpha1.Undergraduate, PartTime: true}, m, day(t, "2026-11-02")); a != nil {
		t.Errorf("part-time: %+v", a)
	}
}

func hasNoEngagement(alerts []Alert) bool {
	for _, a := range alerts {
		if a.Kind == NoEngagement {
			return true
		}
	}
	return false
}

func TestCohort(t *testing.T) {
	e := engine(t, basePolicy()) // at least 10
	var inds []*Indicator
	for i := range 9 {
		inds = append(inds, &Indicator{Band: High, Score: float64(70 + i)}, nil)
	}
	sum, err := e.Cohort(inds)
	if !errors.Is(err, ErrCohortTooSmall) || !reflect.DeepEqual(sum, CohortSummary{}) {
		t.Fatalf("9 students: %+v %v", sum, err)
	}
	if !strings.Contains(err.Error(), "9 students") || !strings.Contains(err.Error(), "10") {
		t.Errorf("error: %v", err)
	}
	if sum, err := e.Cohort(nil); err == nil || sum.Bands != nil {
		t.Errorf("no students: %+v %v", sum, err)
	}
	inds = append(inds, &Indicator{Band: VeryLow, Score: 4})
	sum, err = e.Cohort(inds)
	if err != nil {
		t.Fatal(err)
	}
	want := CohortSummary{Size: 10, Bands: map[Band]int{High: 9, Good: 0, Partial: 0, Low: 0, VeryLow: 1}, MeanScore: 67}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("10 students: got %+v, want %+v", sum, want)
	}
}

func TestNewRefusesWhatItCannotScore(t *testing.T) {
	for name, change := range map[string]func(*policy.Document){
		"unknown weight":         func(d *policy.Document) { d.Scoring.Weights["gym_visit"] = 1 },
		"negative weight":        func(d *policy.Document) { d.Scoring.Weights["tap_in"] = -1 },
		"unknown display-only":   func(d *policy.Document) { d.Scoring.DisplayOnly = append(d.Scoring.DisplayOnly, "gym_visit") },
		"no window":              func(d *policy.Document) { d.Scoring.WindowDays = 0 },
		"long part-time window":  func(d *policy.Document) { d.Scoring.PartTimeWindowDays = 57 },
		"no alert days":          func(d *policy.Document) { d.Scoring.NoEngagementAlertDays = 0 },
		"bands out of order":     func(d *policy.Document) { d.Scoring.Bands.Good = d.Scoring.Bands.High },
		"no bands":               func(d *policy.Document) { d.Scoring.Bands = v1alpha1.Bands{} },
		"band above 100":         func(d *policy.Document) { d.Scoring.Bands.High = 101 },
		"cohort of one":          func(d *policy.Document) { d.Privacy.MinCohortSize = 1 },
		"unknown timezone":       func(d *policy.Document) { d.Timezone = "Mars/Olympus" },
		"no terms":               func(d *policy.Document) { d.Terms = nil },
		"impossible break dates": func(d *policy.Document) { d.Breaks[0].End = "2026-11-31" },
	} {
		doc := basePolicy()
		change(&doc)
		if _, err := New(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTeachingTableMatchesTheCalendar(t *testing.T) {
	doc := basePolicy()
	e := engine(t, doc)
	cal, err := calendar.New(doc.Timezone, doc.Terms, doc.Breaks)
	if err != nil {
		t.Fatal(err)
	}
	for d := day(t, "2026-09-01"); cmpDay(d, day(t, "2027-05-01")) <= 0; d = d.AddDays(1) {
		if e.isTeaching(d) != cal.IsTeachingDay(d) {
			t.Errorf("%v: teaching %v", d, e.isTeaching(d))
		}
		for _, n := range []int{1, 7, 21, 56} {
			got, want := e.window(d, n), cal.TeachingDaysBefore(d, n)
			for i := range want {
				if len(got) != len(want) || got[len(got)-1-i] != want[i] {
					t.Fatalf("window of %d as of %v: got %v, want %v reversed", n, d, got, want)
				}
			}
		}
	}
}

// TestConcurrentUse shares one Engine between goroutines; under -race it
// shows the Engine is read-only after New.
func TestConcurrentUse(t *testing.T) {
	e := engine(t, basePolicy())
	from, to := day(t, "2026-10-05"), day(t, "2026-11-20")
	m := everyTeachingDay(e, from, day(t, "2026-10-16"), full())
	want := e.Evaluate(ug, m, from, to, to)
	results := make([]Result, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i] = e.Evaluate(ug, m, from, to, to)
			e.Alerts(ug, m, to)
		})
	}
	wg.Wait()
	for _, r := range results {
		if !reflect.DeepEqual(r, want) {
			t.Fatal("a concurrent evaluation differs")
		}
	}
}

// A student who drops out twice has two no-engagement episodes: each with
// its start, the day it was raised, the day it ended and by what.
func TestAlertHistory(t *testing.T) {
	e := engine(t, basePolicy())
	login := counts(map[v1alpha1.Activity]int32{"moodle_login": 1})
	m := everyTeachingDay(e, day(t, "2026-10-05"), day(t, "2026-10-09"), full())
	m[day(t, "2026-10-21")] = login // ends the first run, 12..20 October (7 days)
	m[day(t, "2026-10-22")] = full()
	m[day(t, "2026-10-23")] = full()
	// Silent from 26 October, across the reading week, to now.
	var got []Episode
	for _, ep := range e.AlertHistory(ug, m, day(t, "2026-11-18")) {
		if ep.Kind == NoEngagement {
			got = append(got, ep)
		}
	}
	want := []Episode{
		{Kind: NoEngagement, Since: day(t, "2026-10-12"), Raised: day(t, "2026-10-20"), Days: 7, Ended: day(t, "2026-10-21"), EndedBy: "moodle_login"},
		// 26 October..6 November and 16, 17 November: 12 teaching days
		// ended; 18 November is in progress.
		{Kind: NoEngagement, Since: day(t, "2026-10-26"), Raised: day(t, "2026-11-03"), Days: 12},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history\n%+v\nwant\n%+v", got, want)
	}
	if a := e.AlertsToday(ug, m, day(t, "2026-11-18")); !hasNoEngagement(a) || a[0].Message != "Nothing counted toward engagement since Monday 26 October: 12 teaching days." {
		t.Errorf("alerts now %+v", a)
	}
}

// The worked example of docs/leap-team.md ("How engagement is scored"), so that
// what the LEAP team reads is what the engine does.
func TestREADMEWorkedExample(t *testing.T) {
	e := engine(t, basePolicy())
	week := map[string]map[v1alpha1.Activity]int32{
		"2026-10-15": {"moodle_course": 10, "moodle_login": 3, "listen_again": 2},
		"2026-10-16": {"tap_in": 4, "moodle_course": 10},
		"2026-10-19": {"tap_in": 3, "moodle_course": 12, "moodle_login": 2},
		"2026-10-20": {"tap_in": 4, "listen_again": 1, "moodle_mobile": 5},
		"2026-10-21": {},
		"2026-10-22": {"faser_upload": 1, "faser_view": 3, "moodle_course": 5, "moodle_login": 3, "pc_lab_login": 2},
		"2026-10-23": {"tap_in": 2, "moodle_course": 10, "library_loan": 1},
	}
	want := map[string]float64{"2026-10-15": 35.7, "2026-10-16": 35.7, "2026-10-19": 35.1, "2026-10-20": 35.7, "2026-10-21": 0, "2026-10-22": 50, "2026-10-23": 25}
	m := map[calendar.Day]Counts{}
	for d, c := range week {
		m[day(t, d)] = counts(c)
		if got, _ := e.DailyScore(counts(c)); round1(got) != want[d] {
			t.Errorf("%s scores %.1f, docs/leap-team.md says %.1f", d, got, want[d])
		}
	}
	ind, _ := e.Indicator(ug, m, day(t, "2026-10-23"))
	if ind.Score != 31 || ind.Band != Partial || ind.WindowDays != 7 {
		t.Errorf("Friday's indicator %+v, docs/leap-team.md says 31.0, partial", ind)
	}
	// Monday morning, nothing yet: still Friday's.
	if mon, _ := e.IndicatorToday(ug, m, day(t, "2026-10-26")); !reflect.DeepEqual(mon, ind) {
		t.Errorf("Monday morning %+v, want Friday's %+v", mon, ind)
	}
	// With attendance off (renormalize false) Monday 19 October scores 19.0.
	doc := basePolicy()
	off := false
	doc.Attendance.Enabled = &off
	if got, _ := engine(t, doc).DailyScore(m[day(t, "2026-10-19")]); round1(got) != 19 {
		t.Errorf("with attendance off Monday scores %.1f, docs/leap-team.md says 19.0", got)
	}
}

// Attendance switched off from Monday 2 November: October is scored as it
// was, taps count no more from that day, and a window across the change
// averages each day under its own policy.
func TestAttendanceSwitchedOffFromADay(t *testing.T) {
	on := basePolicy()
	off := basePolicy()
	no := false
	off.Attendance = v1alpha1.Attendance{Enabled: &no, Reason: "online"}
	off.PolicyHistory = []v1alpha1.PolicyEra{{Until: "2026-11-01", Attendance: on.Attendance}}
	before, after := engine(t, on), engine(t, off)
	taps := counts(map[v1alpha1.Activity]int32{"tap_in": 4, "moodle_course": 10})
	m := everyTeachingDay(before, day(t, "2026-10-05"), day(t, "2026-11-30"), taps)
	for _, d := range []string{"2026-10-05", "2026-10-30", "2026-11-01"} {
		a := before.Evaluate(ug, m, day(t, d), day(t, d), day(t, "2026-12-01")).Days[0]
		b := after.Evaluate(ug, m, day(t, d), day(t, d), day(t, "2026-12-01")).Days[0]
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: %+v became %+v", d, a, b)
		}
	}
	if got, _ := after.DailyScoreOn(day(t, "2026-11-02"), taps); round1(got) != 14.3 { // 2 of 14
		t.Errorf("2 November scores %v, want 14.3: taps no longer count", got)
	}
	// Wednesday 4 November: 27..30 October under the old policy (5 of 14
	// each), 2..4 November under the new (2 of 14): (4×35.71 + 3×14.29)/7
	// = 26.5; all under the new one it would be 14.3.
	ind, _ := after.Indicator(ug, m, day(t, "2026-11-04"))
	if ind.Score != 26.5 {
		t.Errorf("indicator across the change %+v, want 26.5", ind)
	}
	bad := off
	bad.PolicyHistory = []v1alpha1.PolicyEra{{Until: "2026-11-01"}, {Until: "2026-10-01"}}
	if _, err := New(bad); err == nil {
		t.Error("history out of order taken")
	}
}
