package engine

import (
	"errors"
	"fmt"
)

// ErrCohortTooSmall is the refusal to summarise a group smaller than the
// policy's minimum cohort size.
var ErrCohortTooSmall = errors.New("cohort too small to summarise")

// CohortSummary describes a group of students' indicators.
type CohortSummary struct {
	// Size is the number of students with an indicator.
	Size int
	// Bands counts the students in each band; every band is present.
	Bands map[Band]int
	// MeanScore is the mean indicator score, rounded to one decimal.
	MeanScore float64
}

// Cohort summarises indicators; nil entries (students without one) are
// left out. It refuses with ErrCohortTooSmall, and no figure at all, when
// fewer than the policy's minimum cohort size remain: a comparison figure
// about a handful of students says too much about each of them.
func (e *Engine) Cohort(indicators []*Indicator) (CohortSummary, error) {
	n := 0
	for _, ind := range indicators {
		if ind != nil {
			n++
		}
	}
	if n < e.minCohort {
		return CohortSummary{}, fmt.Errorf("%w: %d students with an indicator, at least %d needed", ErrCohortTooSmall, n, e.minCohort)
	}
	sum := CohortSummary{Size: n, Bands: map[Band]int{High: 0, Good: 0, Partial: 0, Low: 0, VeryLow: 0}}
	var total float64
	for _, ind := range indicators {
		if ind != nil {
			sum.Bands[ind.Band]++
			total += ind.Score
		}
	}
	sum.MeanScore = round1(total / float64(n))
	return sum, nil
}
