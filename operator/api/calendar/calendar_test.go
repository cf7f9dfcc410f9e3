package calendar

import (
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

func year(t *testing.T, tz string) *Calendar {
	t.Helper()
	c, err := New(tz, []v1alpha1.DateRange{
		{Name: "spring", Start: "2027-01-18", End: "2027-03-26"}, // listed out of order on purpose
		{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"},
	}, []v1alpha1.DateRange{{Name: "reading-week", Start: "2026-11-09", End: "2026-11-13"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func day(t *testing.T, s string) Day {
	t.Helper()
	d, err := ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPlaceOf(t *testing.T) {
	c := year(t, "Europe/London")
	cases := map[string]Place{
		"2026-10-04": {v1alpha1.PeriodVacation, ""},
		"2026-10-05": {v1alpha1.PeriodInTerm, "autumn"},
		"2026-11-08": {v1alpha1.PeriodInTerm, "autumn"},
		"2026-11-09": {v1alpha1.PeriodBreak, "reading-week"},
		"2026-11-13": {v1alpha1.PeriodBreak, "reading-week"},
		"2026-11-14": {v1alpha1.PeriodInTerm, "autumn"},
		"2026-12-11": {v1alpha1.PeriodInTerm, "autumn"},
		"2026-12-12": {v1alpha1.PeriodVacation, ""},
		"2027-01-18": {v1alpha1.PeriodInTerm, "spring"},
		"2027-03-27": {v1alpha1.PeriodVacation, ""},
	}
	for s, want := range cases {
		if got := c.PlaceOf(day(t, s)); got != want {
			t.Errorf("%s: got %+v, want %+v", s, got, want)
		}
		weekday := day(t, s).Weekday() != time.Saturday && day(t, s).Weekday() != time.Sunday
		if got := c.IsTeachingDay(day(t, s)); got != (want.Period == v1alpha1.PeriodInTerm && weekday) {
			t.Errorf("%s: teaching day %v", s, got)
		}
	}
}

func TestAtUsesTheCalendarTimezone(t *testing.T) {
	c := year(t, "Europe/London")
	london := c.Location()
	// 23:30 UTC on 4 October is 00:30 BST on 5 October: term has begun.
	place, next, ok := c.At(time.Date(2026, 10, 4, 23, 30, 0, 0, time.UTC))
	if place.Period != v1alpha1.PeriodInTerm || !ok || !next.Equal(time.Date(2026, 11, 9, 0, 0, 0, 0, london)) {
		t.Fatalf("got %+v next %v ok %v", place, next, ok)
	}
	// The same instant in a calendar kept in New York is still 4 October.
	ny := year(t, "America/New_York")
	if place, _, _ := ny.At(time.Date(2026, 10, 4, 23, 30, 0, 0, time.UTC)); place.Period != v1alpha1.PeriodVacation {
		t.Fatalf("New York: got %+v", place)
	}
	// Across the change from summer time: the boundary is local midnight.
	_, next, _ = c.At(time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC))
	if next.UTC() != time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("reading week begins at %v UTC, want midnight GMT", next.UTC())
	}
	if _, _, ok := c.At(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Fatal("a boundary after the last term")
	}
}

func TestNewRejectsWhatTheAPICannotCheck(t *testing.T) {
	if _, err := New("UTC", nil, nil); err == nil {
		t.Error("a calendar without terms accepted")
	}
	if _, err := New("Europe/Atlantis", nil, nil); err == nil {
		t.Error("unknown timezone accepted")
	}
	if _, err := New("UTC", []v1alpha1.DateRange{{Name: "x", Start: "2026-02-30", End: "2026-03-01"}}, nil); err == nil {
		t.Error("30 February accepted")
	}
}

func TestDayArithmetic(t *testing.T) {
	d := day(t, "2026-12-31")
	if got := d.AddDays(1).String(); got != "2027-01-01" {
		t.Errorf("got %s", got)
	}
	if got := day(t, "2028-03-01").AddDays(-1).String(); got != "2028-02-29" {
		t.Errorf("leap year: got %s", got)
	}
	if d.Weekday() != time.Thursday {
		t.Errorf("weekday %v", d.Weekday())
	}
}

func TestTeachingDaysBefore(t *testing.T) {
	c := year(t, "Europe/London")
	// Monday 16 November 2026, after reading week: back over the weekend
	// and the break to the week before.
	got := c.TeachingDaysBefore(day(t, "2026-11-16"), 3)
	want := []string{"2026-11-16", "2026-11-06", "2026-11-05"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if n := len(c.TeachingDaysBefore(day(t, "2026-10-06"), 7)); n != 2 {
		t.Errorf("the first days of the year: %d teaching days, want 2", n)
	}
	if c.FirstDay().String() != "2026-10-05" || c.LastDay().String() != "2027-03-26" {
		t.Errorf("year %s..%s", c.FirstDay(), c.LastDay())
	}
}
