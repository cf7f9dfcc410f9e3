package portal

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/leap-dev/leap/operator/api/calendar"

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
	days, err := p.cohortDays(ctx, st.Course, st.Year)
	if err != nil {
		return cohortEntry{}, err
	}
	return p.caches.cohorts.put(key, sum, days), nil
}

// cohortDays asks the scoring service for a course and year's mean daily
// score on each ended teaching day it shows: none of a day with fewer
// students than the policy's minimum.
func (p *Portal) cohortDays(ctx context.Context, course string, year int) ([]scoring.CohortDay, error) {
	var out scoring.CohortDays
	if _, err := p.fromScoring(ctx, "/v1/cohorts/"+url.PathEscape(course)+"/"+strconv.Itoa(year)+"/days", &out); err != nil {
		return nil, err
	}
	return out.Days, nil
}

// courseLine is the course's mean by date, for the trend chart and its
// table.
type courseLine map[string]float64

func newCourseLine(days []scoring.CohortDay) courseLine {
	out := make(courseLine, len(days))
	for _, d := range days {
		out[d.Date] = d.MeanScore
	}
	return out
}

// Mean is the course's mean on date, and whether there is one.
func (l courseLine) Mean(date string) (float64, bool) {
	m, ok := l[date]
	return m, ok
}

// At is the course's mean on date as the chart's table shows it.
func (l courseLine) At(date string) string {
	if m, ok := l[date]; ok {
		return strconv.FormatFloat(m, 'f', 1, 64)
	}
	return "–"
}

// Against is "you against your course" over a term: on how many teaching
// days the student's daily score was above their course's mean, of the
// days both have a figure.
type Against struct {
	Term         string
	Above, Count int
}

// Words says it in a sentence, for the student or for staff.
func (a Against) Words(self bool) string {
	who, whose := "you were", "your"
	if !self {
		who, whose = "the student was", "their"
	}
	days := "teaching days"
	if a.Count == 1 {
		days = "teaching day"
	}
	return fmt.Sprintf("Over the %s term %s above %s course's average on %d of %d %s.", a.Term, who, whose, a.Above, a.Count, days)
}

// againstCourse compares a student's ended teaching days of the latest
// term that has any with the course's means; nil when no day has both.
func againstCourse(e *scoring.Engagement, line courseLine, pol *policy.Loaded) *Against {
	if e == nil || len(line) == 0 {
		return nil
	}
	var a *Against
	for i := len(e.Days) - 1; i >= 0; i-- {
		d := e.Days[i]
		mean, ok := line[d.Date]
		if !ok || !d.Teaching || d.Score == nil || d.InProgress {
			continue
		}
		day, err := calendar.ParseDay(d.Date)
		if err != nil {
			continue
		}
		term := pol.Calendar.PlaceOf(day).Name
		if a == nil {
			a = &Against{Term: term}
		}
		if term != a.Term {
			break
		}
		a.Count++
		if *d.Score > mean {
			a.Above++
		}
	}
	return a
}
