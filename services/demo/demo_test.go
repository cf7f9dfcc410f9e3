package demo

import (
	"reflect"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

func TestGenerateIsRealisticAndRepeatable(t *testing.T) {
	cal, err := calendar.New("Europe/London", []v1alpha1.DateRange{{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"}},
		[]v1alpha1.DateRange{{Name: "rw", Start: "2026-11-09", End: "2026-11-13"}})
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	a, b := Generate(7, 200, cal, until), Generate(7, 200, cal, until)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different data")
	}
	levels, modes, exchange := map[string]int{}, map[string]int{}, 0
	for _, s := range a.Students {
		levels[s.Level]++
		modes[s.Mode]++
		if s.Exchange {
			exchange++
		}
	}
	if levels["ug"] == 0 || levels["pgt"] == 0 || levels["pgr"] == 0 || modes["PT"] == 0 || exchange == 0 {
		t.Errorf("roster lacks variety: %v %v exchange=%d", levels, modes, exchange)
	}
	perDay := map[string]int{}
	uploads := 0
	for _, e := range a.Events {
		at, err := time.Parse(time.RFC3339, e.At)
		if err != nil || !at.Before(until) {
			t.Fatalf("event %s at %q", e.ID, e.At)
		}
		day := calendar.DayOf(at.In(cal.Location()))
		if cal.PlaceOf(day).Period == v1alpha1.PeriodVacation {
			t.Fatalf("event in vacation: %+v", e)
		}
		if e.Activity == string(v1alpha1.TapIn) && !cal.IsTeachingDay(day) {
			t.Fatalf("a card tap on a day without teaching: %+v", e)
		}
		if e.Activity == string(v1alpha1.FaserUpload) {
			uploads++
		}
		perDay[day.Weekday().String()]++
	}
	if perDay["Saturday"]*2 > perDay["Tuesday"] {
		t.Errorf("weekends are not quiet: %v", perDay)
	}
	if uploads == 0 {
		t.Error("no assignment uploads around deadlines")
	}
}
