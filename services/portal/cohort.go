package portal

import (
	"context"

	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

// CohortView is the comparison with the student's course and year, or,
// when Shown is false, nothing but the fact that there is none.
type CohortView struct {
	Shown     bool
	Course    string
	Year      int
	Size      int
	MeanScore float64
	AsOf      string
	Rows      []CohortRow
}

// CohortRow is one band of the cohort.
type CohortRow struct {
	Band    string
	Count   int
	Percent int
	// Yours marks the student's own band.
	Yours bool
}

// cohortView asks scoring for the student's course and year. Scoring
// refuses any group smaller than the policy's minimum, and then the page
// shows no figure about the cohort at all: the size of a refused group is
// itself a figure about a handful of people.
func (p *Portal) cohortView(ctx context.Context, st store.Student, eng *scoring.Engagement) (CohortView, error) {
	sum, err := p.cohort(ctx, st.Course, st.Year)
	if err != nil || sum == nil {
		return CohortView{}, err
	}
	v := CohortView{Shown: true, Course: st.Course, Year: st.Year, Size: sum.Size, MeanScore: sum.MeanScore, AsOf: sum.AsOf}
	for _, band := range []string{"high", "good", "partial", "low", "very_low"} {
		n := sum.Bands[engine.Band(band)]
		row := CohortRow{Band: band, Count: n, Yours: eng.Indicator != nil && string(eng.Indicator.Band) == band}
		if sum.Size > 0 {
			row.Percent = (100*n + sum.Size/2) / sum.Size
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}
