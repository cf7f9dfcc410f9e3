package engine

import (
	"cmp"
	"slices"

	"github.com/leap-dev/leap/operator/api/calendar"
)

// Bands lists the bands from most to least engaged.
var Bands = []Band{High, Good, Partial, Low, VeryLow}

// Rank orders bands: 4 for high down to 0 for very low, -1 for none.
func (b Band) Rank() int {
	switch b {
	case High:
		return 4
	case Good:
		return 3
	case Partial:
		return 2
	case Low:
		return 1
	case VeryLow:
		return 0
	}
	return -1
}

// MinCohortSize is the smallest group the policy lets a figure describe.
func (e *Engine) MinCohortSize() int { return e.minCohort }

// Comparison is what a change of policy does to one student today: their
// indicator (nil when they get none) and alerts under each policy.
type Comparison struct {
	Before, After             *Indicator
	AlertsBefore, AlertsAfter []AlertKind
}

// Moved is the number of bands the indicator moved, up positive; zero
// when either side has none.
func (c Comparison) Moved() int {
	if c.Before == nil || c.After == nil {
		return 0
	}
	return c.After.Band.Rank() - c.Before.Band.Rank()
}

// Compare scores one student's counts under the policy in force (before)
// and a draft (after), by the rules for the day in progress, exactly as
// each engine answers the student's page and their tutor's alerts.
func Compare(before, after *Engine, s Student, counts map[calendar.Day]Counts, today calendar.Day) Comparison {
	var c Comparison
	c.Before, _ = before.IndicatorToday(s, counts, today)
	c.After, _ = after.IndicatorToday(s, counts, today)
	for _, a := range before.AlertsToday(s, counts, today) {
		c.AlertsBefore = append(c.AlertsBefore, a.Kind)
	}
	for _, a := range after.AlertsToday(s, counts, today) {
		c.AlertsAfter = append(c.AlertsAfter, a.Kind)
	}
	return c
}

// Distribution counts the students of a group in each band, before and
// after a change. Only students with an indicator count, as in Cohort.
type Distribution struct {
	Before, After map[Band]int
	// Size is the number of students with an indicator, before and after.
	SizeBefore, SizeAfter int
}

func newDistribution() *Distribution {
	d := &Distribution{Before: map[Band]int{}, After: map[Band]int{}}
	for _, b := range Bands {
		d.Before[b], d.After[b] = 0, 0
	}
	return d
}

func (d *Distribution) add(c Comparison) {
	if c.Before != nil {
		d.Before[c.Before.Band]++
		d.SizeBefore++
	}
	if c.After != nil {
		d.After[c.After.Band]++
		d.SizeAfter++
	}
}

func (d *Distribution) merge(o *Distribution) {
	for _, b := range Bands {
		d.Before[b] += o.Before[b]
		d.After[b] += o.After[b]
	}
	d.SizeBefore += o.SizeBefore
	d.SizeAfter += o.SizeAfter
}

// Group is the distribution of one named group.
type Group struct {
	Name string
	*Distribution
}

// Groups are the distributions of one way of dividing the students (by
// department, or by course and year). Groups smaller than the minimum
// cohort size are never shown: they are merged into Rest, itself shown
// only when it reaches the minimum, and otherwise withheld whole; only
// the number of groups so merged is told, never their sizes.
type Groups struct {
	Shown []Group
	// Rest is the merged small groups; nil when withheld or when none.
	Rest *Distribution
	// Merged is the number of groups too small to show alone.
	Merged int
}

// Tally adds up comparisons for a preview.
type Tally struct {
	min         int
	University  *Distribution
	departments map[string]*Distribution
	cohorts     map[string]*Distribution
	// Moves counts students by bands moved (up positive), among those
	// with an indicator before and after; 0 is unchanged.
	Moves map[int]int
	// Gained and Lost count students who get an indicator only after,
	// or only before, the change.
	Gained, Lost int
	// Started and Ended count alerts by kind.
	Started, Ended map[AlertKind]int
	Students       int
}

// NewTally is an empty tally for groups of at least min students.
func NewTally(min int) *Tally {
	return &Tally{min: min, University: newDistribution(), departments: map[string]*Distribution{}, cohorts: map[string]*Distribution{},
		Moves: map[int]int{}, Started: map[AlertKind]int{}, Ended: map[AlertKind]int{}}
}

// Add counts one student's comparison, in their department and in their
// course and year (cohort is a key naming both).
func (t *Tally) Add(department, cohort string, c Comparison) {
	t.Students++
	t.University.add(c)
	for _, g := range []struct {
		m    map[string]*Distribution
		name string
	}{{t.departments, department}, {t.cohorts, cohort}} {
		d := g.m[g.name]
		if d == nil {
			d = newDistribution()
			g.m[g.name] = d
		}
		d.add(c)
	}
	switch {
	case c.Before != nil && c.After != nil:
		t.Moves[c.Moved()]++
	case c.After != nil:
		t.Gained++
	case c.Before != nil:
		t.Lost++
	}
	for _, k := range c.AlertsAfter {
		if !slices.Contains(c.AlertsBefore, k) {
			t.Started[k]++
		}
	}
	for _, k := range c.AlertsBefore {
		if !slices.Contains(c.AlertsAfter, k) {
			t.Ended[k]++
		}
	}
}

// Departments are the distributions by department.
func (t *Tally) Departments() Groups { return t.groups(t.departments) }

// Cohorts are the distributions by course and year.
func (t *Tally) Cohorts() Groups { return t.groups(t.cohorts) }

func (t *Tally) groups(m map[string]*Distribution) Groups {
	var g Groups
	rest := newDistribution()
	for name, d := range m {
		if d.SizeBefore >= t.min && d.SizeAfter >= t.min {
			g.Shown = append(g.Shown, Group{name, d})
			continue
		}
		g.Merged++
		rest.merge(d)
	}
	slices.SortFunc(g.Shown, func(a, b Group) int { return cmp.Compare(a.Name, b.Name) })
	if g.Merged > 0 && rest.SizeBefore >= t.min && rest.SizeAfter >= t.min {
		g.Rest = rest
	}
	return g
}

// UniversityShown says whether the whole university is big enough to show.
func (t *Tally) UniversityShown() bool {
	return t.University.SizeBefore >= t.min && t.University.SizeAfter >= t.min
}
