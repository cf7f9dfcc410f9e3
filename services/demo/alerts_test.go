package demo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
)

// make run shows tutors some alerts whatever the day it is started on: a
// weekday morning, a weekend, the first days back after a break.
func TestSomeAlertsOnAnyDay(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := policy.ParseFile("typical", b)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(l.Doc)
	if err != nil {
		t.Fatal(err)
	}
	cal := l.Calendar
	// Monday 19 October to Sunday 25 October, and Monday 16 November, the
	// first day after the reading week, at 07:00 London time.
	var days []calendar.Day
	for d := mustDay(t, "2026-10-19"); d.Before(mustDay(t, "2026-10-26")); d = d.AddDays(1) {
		days = append(days, d)
	}
	days = append(days, mustDay(t, "2026-11-16"), mustDay(t, "2026-12-24"))
	for _, today := range days {
		until := today.Start(cal.Location()).Add(7 * time.Hour)
		data := Generate(1, 300, cal, until)
		counts := map[string]map[calendar.Day]engine.Counts{}
		for _, e := range data.Events {
			at, err := time.Parse(time.RFC3339, e.At)
			if err != nil {
				t.Fatal(err)
			}
			i, _ := v1alpha1.ActivityIndex(e.Activity)
			d := cal.Today(at)
			if counts[e.Student] == nil {
				counts[e.Student] = map[calendar.Day]engine.Counts{}
			}
			c := counts[e.Student][d]
			c[i]++
			counts[e.Student][d] = c
		}
		alerted := map[string]bool{} // tutors with an alerted tutee
		tutorOf := map[string]string{}
		for _, tu := range data.Tutors {
			tutorOf[tu.Student] = tu.Staff
		}
		for _, s := range data.Students {
			st := engine.Student{ID: s.ID, Level: v1alpha1.StudyLevel(s.Level), PartTime: s.Mode == "PT"}
			for _, a := range eng.AlertsToday(st, counts[s.ID], today) {
				if a.Kind == engine.NoEngagement {
					alerted[tutorOf[s.ID]] = true
				}
			}
		}
		if len(alerted) < 3 {
			t.Errorf("%s %s: %d tutors see a no-engagement alert, want several", today.Weekday(), today, len(alerted))
		}
		if !alerted[data.Staff[0].ID] {
			t.Errorf("%s: the tutor make run prints (%s) sees no alert", today, data.Staff[0].ID)
		}
	}
}

func mustDay(t *testing.T, s string) calendar.Day {
	t.Helper()
	d, err := calendar.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
