package scoring

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

// cohortDaysAt asks for a cohort's days with scoring's clock at t.
func (f *fixture) cohortDaysAt(t *testing.T, t0 time.Time, path string) map[string]float64 {
	t.Helper()
	f.api.svc.Now = func() time.Time { return t0 }
	got := decode[CohortDays](t, get(t, f.api.url, path, http.StatusOK))
	out := map[string]float64{}
	for _, d := range got.Days {
		out[d.Date] = d.MeanScore
	}
	return out
}

// TestCohortDays: the course's mean daily score on each ended teaching
// day, none before the first day has ended, none for the weekend or the
// day in progress, none for a group below the minimum; and a day, once
// published, keeps its figure when the group changes by one, so that no
// two figures of one day differ by one student's score.
func TestCohortDays(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()
	const path = "/v1/cohorts/BSc%20Physics/2/days"
	big := cohortStudents("BSc Physics", 2, 11)
	research := store.Student{ID: "phys-pgr", Name: "R", Department: "Physics", Course: "BSc Physics", Year: 2, Level: "pgr", Mode: "FT"}
	must(t, store.PutStudents(ctx, f.rdb, append(big, research)))
	var acts []activity
	for i, s := range big {
		for _, d := range []string{"2026-10-05", "2026-10-09", "2026-10-12", "2026-10-16", "2026-10-17", "2026-10-19", "2026-10-20", "2026-10-21"} {
			if i > 0 {
				acts = append(acts, activity{s.ID, d, v1alpha1.MoodleCourse, i})
			}
			if i >= 6 {
				acts = append(acts, activity{s.ID, d, v1alpha1.FaserUpload, 1})
			}
		}
	}
	acts = append(acts, activity{research.ID, "2026-10-19", v1alpha1.ListenAgain, 5})
	f.record(t, acts...)
	eng := newEngine(t, f.api.svc.Policy.Current())
	// want is the mean daily score of members on a day, rounded as
	// published.
	want := func(date string, members []store.Student) float64 {
		var sum float64
		for _, s := range members {
			score, _ := eng.DailyScoreOn(day(t, date), f.ledger[s.ID][day(t, date)])
			sum += score
		}
		return math.Round(sum/float64(len(members))*10) / 10
	}
	london, _ := time.LoadLocation("Europe/London")
	at := func(date string, hour int) time.Time {
		d := day(t, date)
		return time.Date(d.Year, d.Month, d.Day, hour, 0, 0, 0, london)
	}

	// The first day of term, in progress: nothing has ended.
	if got := f.cohortDaysAt(t, at("2026-10-05", 15), path); len(got) != 0 {
		t.Errorf("on the first day of term: %v, want no day", got)
	}
	// A Sunday: the days up to Friday, no weekend day.
	got := f.cohortDaysAt(t, at("2026-10-18", 12), path)
	if len(got) != 10 {
		t.Errorf("on Sunday 18 October: %d days %v, want the ten teaching days 5-16 October", len(got), got)
	}
	for _, weekend := range []string{"2026-10-10", "2026-10-17", "2026-10-18"} {
		if _, ok := got[weekend]; ok {
			t.Errorf("a figure for %s, not a teaching day", weekend)
		}
	}
	if got["2026-10-16"] != want("2026-10-16", big) || got["2026-10-06"] != 0 || got["2026-10-16"] == 0 {
		t.Errorf("16 October: %v, want %v over the eleven taught students; 6 October: %v, want 0", got["2026-10-16"], want("2026-10-16", big), got["2026-10-06"])
	}
	// Tuesday: Monday is added, today is not.
	got = f.cohortDaysAt(t, at("2026-10-20", 12), path)
	if _, ok := got["2026-10-20"]; ok || got["2026-10-19"] != want("2026-10-19", big) {
		t.Errorf("on Tuesday: 19 October %v (want %v), today present %v", got["2026-10-19"], want("2026-10-19", big), ok)
	}
	before := got

	// A late event for a published day does not move it.
	f.record(t, activity{big[0].ID, "2026-10-19", v1alpha1.TapIn, 4})
	if got = f.cohortDaysAt(t, at("2026-10-20", 13), path); got["2026-10-19"] != before["2026-10-19"] {
		t.Errorf("19 October moved from %v to %v after it was published", before["2026-10-19"], got["2026-10-19"])
	}

	// The student with most activity moves course on Wednesday: ten
	// remain. Tuesday is published over the ten; the days before keep the
	// eleven's figures, so no day has two.
	moved := big[10]
	moved.Course = "BSc Chemistry"
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{moved}))
	got = f.cohortDaysAt(t, at("2026-10-21", 12), path)
	for date, mean := range before {
		if got[date] != mean {
			t.Errorf("%s: %v after the move, %v before", date, got[date], mean)
		}
	}
	if got["2026-10-20"] != want("2026-10-20", big[:10]) {
		t.Errorf("20 October: %v, want %v over the ten who remain", got["2026-10-20"], want("2026-10-20", big[:10]))
	}

	// Another leaves: nine, one below the minimum. Wednesday is not shown,
	// and stays hidden when the course is back to ten.
	leaver := big[9]
	leaver.Level = "pgr"
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{leaver}))
	got = f.cohortDaysAt(t, at("2026-10-22", 12), path)
	if _, ok := got["2026-10-21"]; ok || len(got) != 12 {
		t.Errorf("with nine: %d days, 21 October present %v; want the twelve published before", len(got), ok)
	}
	leaver.Level = "ug"
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{leaver}))
	got = f.cohortDaysAt(t, at("2026-10-23", 12), path)
	if _, ok := got["2026-10-21"]; ok {
		t.Error("21 October, published over nine, is shown once there are ten")
	}
	if _, ok := got["2026-10-22"]; !ok {
		t.Error("22 October, over ten, is not shown")
	}

	// A course of nine never shows a day.
	must(t, store.PutStudents(ctx, f.rdb, cohortStudents("BSc Nine", 3, 9)))
	if got := f.cohortDaysAt(t, at("2026-10-23", 12), "/v1/cohorts/BSc%20Nine/3/days"); len(got) != 0 {
		t.Errorf("a course of nine: %v", got)
	}
	get(t, f.api.url, "/v1/cohorts/BSc%20Nine/three/days", http.StatusBadRequest)
}
