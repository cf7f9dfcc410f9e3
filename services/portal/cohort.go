package portal

import (
	"context"
	"strconv"

	"github.com/leap-dev/leap/operator/api/policy"
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

// cohortView is the comparison of a student with their course and year,
// from the summary of cohortSummary. Scoring refuses any group smaller
// than the policy's minimum (sum is nil), and then the page shows no
// figure about the cohort at all: the size of a refused group is itself a
// figure about a handful of people.
func cohortView(sum *scoring.Cohort, st store.Student, eng *scoring.Engagement) CohortView {
	if sum == nil {
		return CohortView{}
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
	return v
}

// cohortSummary is the summary of a student's course and year under the
// policy in force on day, from the portal's short-lived cohort cache or
// else from scoring.
func (p *Portal) cohortSummary(ctx context.Context, pol *policy.Loaded, day string, st store.Student) (cohortEntry, error) {
	var k pageKey
	k.add(pol.Hash, day, st.Course, strconv.Itoa(st.Year))
	key := k.String()
	if e, ok := p.caches.cohorts.get(key); ok {
		return e, nil
	}
	sum, err := p.cohort(ctx, st.Course, st.Year)
	if err != nil {
		return cohortEntry{}, err
	}
	return p.caches.cohorts.put(key, sum), nil
}
