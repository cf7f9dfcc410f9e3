package scoring

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// CohortDays is the answer of GET /v1/cohorts/{course}/{year}/days: the
// course and year's mean daily score on each teaching day of the year that
// has ended, leaving out every day with fewer students than the policy's
// minimum cohort size.
type CohortDays struct {
	Course string      `json:"course"`
	Year   int         `json:"year"`
	Days   []CohortDay `json:"days"`
}

// CohortDay is a cohort's mean daily score on one teaching day, rounded to
// one decimal.
type CohortDay struct {
	Date      string  `json:"date"`
	MeanScore float64 `json:"meanScore"`
}

// cohortChunk bounds how many students' counts are held at once while a
// cohort's missing days are worked out.
const cohortChunk = 500

// getCohortDays answers a cohort's daily means, from its published days
// (see store.CohortDaysKey), working out and publishing first the ended
// teaching days that have none yet.
//
// Each day's figure is published once and never worked out again. That is
// the privacy rule, not only a saving: were past days recomputed from
// today's members, a student who joins or leaves a course (a change of
// course mid-year, a move to research) would leave two means for the same
// day from groups that differ by one person, and the difference between
// them, times the sizes, is that person's score. Frozen, every day has
// one figure from one group: the members of the day it was published,
// normally the day after. A day whose group was below the minimum then is
// never shown, even once the course has grown; the day a student moves,
// the days before keep the group they had. The price is that a late event
// or a corrected count reaching a member after their day was published
// does not move the course's line (one student in ten or more moves it
// little), and it is also the saving: each day of a cohort is worked out
// once, by the first page that needs it, not for every student's view.
//
// The answer holds no group size: the portal needs none, and sizes by day
// would show when someone joined or left.
func (s *Service) getCohortDays(c echo.Context) error {
	ctx := c.Request().Context()
	course := c.Param("course")
	year, err := strconv.Atoi(c.Param("year"))
	if err != nil {
		return server.Problem(http.StatusBadRequest, "year must be a whole number")
	}
	pol := s.Policy.Current()
	eng, err := s.engineFor(pol)
	if err != nil {
		return err
	}
	published, err := store.ReadCohortDays(ctx, s.Redis, course, year)
	if err != nil {
		return unavailable(err)
	}
	ended := endedTeachingDays(pol, pol.Calendar.Today(s.Now()))
	var missing []calendar.Day
	for _, d := range ended {
		if _, ok := published[d.String()]; !ok {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		figures, err := s.cohortFigures(ctx, eng, course, year, missing)
		if err != nil {
			return err
		}
		if published, err = store.PublishCohortDays(ctx, s.Redis, course, year, figures); err != nil {
			return unavailable(err)
		}
	}
	out := CohortDays{Course: course, Year: year, Days: []CohortDay{}}
	for _, d := range ended {
		if fig, ok := published[d.String()]; ok && fig.Size >= eng.MinCohortSize() {
			out.Days = append(out.Days, CohortDay{Date: d.String(), MeanScore: fig.Mean})
		}
	}
	return c.JSON(http.StatusOK, out)
}

// endedTeachingDays are the teaching days of the year before today, oldest
// first: the day in progress has no figure, as it has none on a student's
// line.
func endedTeachingDays(pol *policy.Loaded, today calendar.Day) []calendar.Day {
	cal := pol.Calendar
	last := today.AddDays(-1)
	if cal.LastDay().Before(last) {
		last = cal.LastDay()
	}
	var out []calendar.Day
	for d := cal.FirstDay(); !last.Before(d); d = d.AddDays(1) {
		if cal.IsTeachingDay(d) {
			out = append(out, d)
		}
	}
	return out
}

// cohortFigures works out the size and mean daily score of a course and
// year's current members with an indicator on each of days (oldest first),
// reading their counts a chunk at a time.
func (s *Service) cohortFigures(ctx context.Context, eng *engine.Engine, course string, year int, days []calendar.Day) (map[string]store.CohortDay, error) {
	ids, err := s.Redis.SMembers(ctx, store.CohortKey(course, year)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	slices.Sort(ids)
	sums := make([]float64, len(days))
	sizes := make([]int, len(days))
	for chunk := range ReadChunks(ctx, s.Redis, ids, cohortChunk, days[0], days[len(days)-1]) {
		if chunk.Err != nil {
			return nil, unavailable(chunk.Err)
		}
		for _, r := range chunk.Records {
			// The index may lag the profile for a moment: the profile decides.
			if !r.Found || r.Student.Course != course || r.Student.Year != year || !eng.HasIndicator(v1alpha1.StudyLevel(r.Student.Level)) {
				continue
			}
			for k, d := range days {
				score, _ := eng.DailyScoreOn(d, r.Counts[d])
				sums[k] += score
				sizes[k]++
			}
		}
	}
	out := make(map[string]store.CohortDay, len(days))
	for k, d := range days {
		fig := store.CohortDay{Size: sizes[k]}
		if sizes[k] > 0 {
			fig.Mean = sums[k] / float64(sizes[k])
		}
		out[d.String()] = fig
	}
	return out, nil
}
