package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A cohort's published daily figures: scoring's course-and-year average
// over the year, for the line on a student's trend chart.
//
//	leap:cohortdays:COURSE:YEAR   HASH  YYYY-MM-DD -> "size mean": how many students were
//	                                    averaged that day and their mean daily score
//
// A day is written once, when it has ended and a student's page first asks
// for it (HSETNX), and never rewritten: see scoring's cohortDays for why.

// CohortDaysKey holds a course and year's published daily figures.
func CohortDaysKey(course string, year int) string {
	return "leap:cohortdays:" + course + ":" + strconv.Itoa(year)
}

// cohortDaysLifetime outlives an academic year, so that a year's figures
// stay put while it runs, and goes when nobody has asked for a year.
const cohortDaysLifetime = 400 * 24 * time.Hour

// CohortDay is a cohort's figure for one day.
type CohortDay struct {
	Size int
	Mean float64
}

// ReadCohortDays reads a course and year's published figures by date.
// Entries that do not parse are left out: they are never shown.
func ReadCohortDays(ctx context.Context, c redis.UniversalClient, course string, year int) (map[string]CohortDay, error) {
	raw, err := c.HGetAll(ctx, CohortDaysKey(course, year)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the days of cohort %s %d: %w", course, year, err)
	}
	out := make(map[string]CohortDay, len(raw))
	for date, v := range raw {
		size, mean, ok := strings.Cut(v, " ")
		n, err1 := strconv.Atoi(size)
		m, err2 := strconv.ParseFloat(mean, 64)
		if ok && err1 == nil && err2 == nil {
			out[date] = CohortDay{Size: n, Mean: m}
		}
	}
	return out, nil
}

// PublishCohortDays writes the figures of days not yet published and
// leaves those already there as they are, whoever wrote them first; it
// returns the figures as published, the ones it lost a race for included.
func PublishCohortDays(ctx context.Context, c redis.UniversalClient, course string, year int, days map[string]CohortDay) (map[string]CohortDay, error) {
	key := CohortDaysKey(course, year)
	pipe := c.Pipeline()
	for date, d := range days {
		pipe.HSetNX(ctx, key, date, strconv.Itoa(d.Size)+" "+strconv.FormatFloat(d.Mean, 'f', 1, 64))
	}
	pipe.PExpire(ctx, key, cohortDaysLifetime)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("publish the days of cohort %s %d: %w", course, year, err)
	}
	return ReadCohortDays(ctx, c, course, year)
}

// WeeklyDistributionKey holds scoring's last answer of the university's
// weekly band distribution, as "fingerprint\nbody": one answer for the
// whole university, shared by every replica.
const WeeklyDistributionKey = "leap:distribution:weekly"
