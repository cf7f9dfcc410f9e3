// Package calendar answers questions about an academic year's calendar:
// where a moment falls (term, break, vacation), when that next changes, and
// which days are teaching days. Days are civil dates in the university's
// timezone; terms and breaks include both their first and last day.
package calendar

import (
	"fmt"
	"slices"
	"time"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// dateLayout is the layout of a LeapTerm date.
const dateLayout = time.DateOnly

// Day is a civil date, independent of any timezone.
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDay reads a YYYY-MM-DD date.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Day{}, fmt.Errorf("date %q: want YYYY-MM-DD: %w", s, err)
	}
	return DayOf(t), nil
}

// DayOf is the civil date of t in t's location.
func DayOf(t time.Time) Day {
	y, m, d := t.Date()
	return Day{y, m, d}
}

// String writes the day as YYYY-MM-DD.
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// AddDays moves the day by n days.
func (d Day) AddDays(n int) Day { return DayOf(d.midnightUTC().AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Day) Before(e Day) bool { return d.Compare(e) < 0 }

// Compare orders days: -1, 0 or +1.
func (d Day) Compare(e Day) int { return d.midnightUTC().Compare(e.midnightUTC()) }

// IsZero reports whether d is the zero Day.
func (d Day) IsZero() bool { return d == Day{} }

// Weekday of the day.
func (d Day) Weekday() time.Weekday { return d.midnightUTC().Weekday() }

// Start is the first moment of the day in loc.
func (d Day) Start(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

func (d Day) midnightUTC() time.Time { return d.Start(time.UTC) }

// span is a parsed term or break.
type span struct {
	name       string
	start, end Day // both included
}

func (s span) contains(d Day) bool { return !d.Before(s.start) && !s.end.Before(d) }

// Calendar is an academic year's terms and breaks in a timezone.
type Calendar struct {
	loc    *time.Location
	terms  []span
	breaks []span
}

// New builds a calendar. It checks what the API server cannot: that the
// timezone exists and that dates are real days.
func New(timezone string, terms, breaks []v1alpha1.DateRange) (*Calendar, error) {
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", timezone, err)
	}
	c := &Calendar{loc: loc}
	if c.terms, err = parseSpans("term", terms); err != nil {
		return nil, err
	}
	if len(c.terms) == 0 {
		return nil, fmt.Errorf("a calendar needs at least one term")
	}
	if c.breaks, err = parseSpans("break", breaks); err != nil {
		return nil, err
	}
	return c, nil
}

func parseSpans(kind string, ranges []v1alpha1.DateRange) ([]span, error) {
	spans := make([]span, 0, len(ranges))
	for _, r := range ranges {
		start, err := ParseDay(string(r.Start))
		if err != nil {
			return nil, fmt.Errorf("%s %s start: %w", kind, r.Name, err)
		}
		end, err := ParseDay(string(r.End))
		if err != nil {
			return nil, fmt.Errorf("%s %s end: %w", kind, r.Name, err)
		}
		if end.Before(start) {
			return nil, fmt.Errorf("%s %s ends before it starts", kind, r.Name)
		}
		spans = append(spans, span{r.Name, start, end})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	return spans, nil
}

// Location is the calendar's timezone.
func (c *Calendar) Location() *time.Location { return c.loc }

// Today is the civil date of t in the calendar's timezone.
func (c *Calendar) Today(t time.Time) Day { return DayOf(t.In(c.loc)) }

// Place is where a day falls: the period and the name of its term or break.
type Place struct {
	Period v1alpha1.Period
	Name   string
}

// PlaceOf tells where a day falls. A break wins over the term it lies in.
func (c *Calendar) PlaceOf(d Day) Place {
	for _, b := range c.breaks {
		if b.contains(d) {
			return Place{v1alpha1.PeriodBreak, b.name}
		}
	}
	for _, t := range c.terms {
		if t.contains(d) {
			return Place{v1alpha1.PeriodInTerm, t.name}
		}
	}
	return Place{v1alpha1.PeriodVacation, ""}
}

// IsTeachingDay reports whether a day is a weekday in a term and not in a
// break. Only teaching days count in the scoring window and toward alerts,
// so a quiet weekend or a reading week never pulls an indicator down.
func (c *Calendar) IsTeachingDay(d Day) bool {
	if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	return c.PlaceOf(d).Period == v1alpha1.PeriodInTerm
}

// TeachingDaysBefore returns up to n teaching days ending at last (included),
// newest first, never earlier than the first term's start.
func (c *Calendar) TeachingDaysBefore(last Day, n int) []Day {
	days := make([]Day, 0, n)
	if len(c.terms) == 0 {
		return days
	}
	first := c.terms[0].start
	for d := last; len(days) < n && !d.Before(first); d = d.AddDays(-1) {
		if c.IsTeachingDay(d) {
			days = append(days, d)
		}
	}
	return days
}

// FirstDay and LastDay bound the academic year: the first day of the
// first term and the last day of the last.
func (c *Calendar) FirstDay() Day { return c.terms[0].start }

// LastDay is the last day of the last term.
func (c *Calendar) LastDay() Day {
	last := c.terms[0].end
	for _, t := range c.terms {
		if last.Before(t.end) {
			last = t.end
		}
	}
	return last
}

// At tells where the moment t falls and when that next changes. ok is false
// when nothing changes after t (past the last term).
func (c *Calendar) At(t time.Time) (place Place, next time.Time, ok bool) {
	today := c.Today(t)
	place = c.PlaceOf(today)
	var boundaries []Day
	for _, s := range slices.Concat(c.terms, c.breaks) {
		for _, b := range []Day{s.start, s.end.AddDays(1)} {
			if today.Before(b) {
				boundaries = append(boundaries, b)
			}
		}
	}
	slices.SortFunc(boundaries, Day.Compare)
	for _, b := range boundaries {
		if c.PlaceOf(b) != place {
			return place, b.Start(c.loc), true
		}
	}
	return place, time.Time{}, false
}
