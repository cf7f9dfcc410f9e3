// Package scoring serves engagement: each student's days, indicator and
// its explanation, tutors' alerts and cohort summaries, computed by the
// engine from the counts in Redis and cached there by policy, student and
// data version.
package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// The cache: one hash per student, leap:{s:ID}:k, holding answers by
// policy hash and range (from, to, asOf), each "version\nbody". Callers
// may ask for any range of up to 400 days, so the entries a student can
// have are bounded: storing one more than maxCachedRanges first drops the
// others. The portal asks one range per student a day (the year so far),
// which the bound leaves room for across a policy change; anything that
// asks for many only evicts its own entries.
const maxCachedRanges = 4

// cacheStore keeps one answer in a student's cache hash, within the bound,
// and sets the hash's lifetime. KEYS: the hash. ARGV: field, answer, the
// bound, lifetime in milliseconds. Plain Lua, for both Redis kinds.
var cacheStore = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('PEXPIRE', KEYS[1], ARGV[4])
`)

// Service is the scoring service.
type Service struct {
	Redis  redis.UniversalClient
	Policy *policy.Source
	Now    func() time.Time
	// Log takes what goes wrong beside a request's answer; nothing when nil.
	Log *slog.Logger
	// CacheTTL bounds how long a computed answer is kept; a new event or a
	// new policy makes it unreachable at once anyway.
	CacheTTL time.Duration

	mu      sync.Mutex
	engines map[string]*engine.Engine // by policy hash

	cache *prometheus.CounterVec
}

// Register adds the scoring routes and metrics.
func (s *Service) Register(e *echo.Echo, reg prometheus.Registerer) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leap_scoring_cache_requests_total", Help: "Engagement requests by cache result (hit or miss).",
	}, []string{"result"})
	reg.MustRegister(s.cache)
	e.GET("/v1/students/:id/engagement", s.getEngagement)
	e.GET("/v1/students/:id/alerts", s.getAlerts)
	e.GET("/v1/students/:id/alerts/history", s.getAlertHistory)
	e.GET("/v1/departments/:department/alerts/weekly", s.getWeeklyAlerts)
	e.GET("/v1/tutors/:id/alerts", s.getTutorAlerts)
	e.GET("/v1/cohorts/:course/:year", s.getCohort)
	e.GET("/v1/cohorts/:course/:year/days", s.getCohortDays)
	(&Previewer{Redis: s.Redis, Policy: s.Policy, Now: s.Now}).Register(e)
	(&Distributor{Redis: s.Redis, Policy: s.Policy, Now: s.Now, CacheTTL: s.CacheTTL, Log: s.Log}).Register(e)
	e.GET("/v1/policy", func(c echo.Context) error {
		l := s.Policy.Current()
		return c.JSON(http.StatusOK, map[string]any{"hash": l.Hash, "leapTerm": l.Doc.LeapTerm, "source": l.Source, "policy": l.Doc})
	})
}

// engineFor is the engine of a policy, built once per policy hash.
func (s *Service) engineFor(l *policy.Loaded) (*engine.Engine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.engines[l.Hash]; ok {
		return e, nil
	}
	e, err := engine.New(l.Doc)
	if err != nil {
		return nil, err
	}
	if s.engines == nil || len(s.engines) > 8 {
		s.engines = map[string]*engine.Engine{}
	}
	s.engines[l.Hash] = e
	return e, nil
}

// Engagement is the answer of GET /v1/students/{id}/engagement.
type Engagement struct {
	Student     string         `json:"student"`
	Indicator   *Indicator     `json:"indicator"`
	Reason      string         `json:"reason,omitempty"`
	Explanation []Contribution `json:"explanation"`
	Days        []Day          `json:"days"`
	PolicyHash  string         `json:"policyHash"`
}

// Indicator is an indicator as the API shows it.
type Indicator struct {
	Band       engine.Band `json:"band"`
	Score      float64     `json:"score"`
	AsOf       string      `json:"asOf"`
	WindowDays int         `json:"windowDays"`
}

// Contribution is an activity's share of a score.
type Contribution struct {
	Activity v1alpha1.Activity `json:"activity"`
	Count    int32             `json:"count"`
	Points   float64           `json:"points"`
}

// Day is one day as the API shows it.
type Day struct {
	Date     string           `json:"date"`
	Teaching bool             `json:"teaching"`
	Score    *float64         `json:"score"`
	Band     engine.Band      `json:"band,omitempty"`
	Counts   map[string]int32 `json:"counts"`
	// InProgress marks today: its score is the day so far.
	InProgress bool `json:"inProgress,omitempty"`
}

func contributions(cs []engine.Contribution) []Contribution {
	out := make([]Contribution, 0, len(cs))
	for _, c := range cs {
		out = append(out, Contribution{Activity: c.Activity, Count: c.Count, Points: float64(int(c.Points*10+0.5)) / 10})
	}
	return out
}

// profile reads a student and turns the roster into the engine's terms.
func profile(ctx context.Context, rdb redis.UniversalClient, id string) (engine.Student, error) {
	st, ok, err := store.GetStudent(ctx, rdb, id)
	if err != nil {
		return engine.Student{}, unavailable(err)
	}
	if !ok {
		return engine.Student{}, server.Problemf(http.StatusNotFound, "no student %s", id)
	}
	return engine.Student{ID: st.ID, Level: v1alpha1.StudyLevel(st.Level), PartTime: st.Mode == "PT"}, nil
}

// span reads from and to (by default the academic year so far) and gives
// today, the day in progress, in the calendar's timezone.
func span(c echo.Context, cal *calendar.Calendar, now time.Time) (from, to, today calendar.Day, err error) {
	today = cal.Today(now)
	from, to = cal.FirstDay(), today
	if cal.LastDay().Before(to) {
		to = cal.LastDay()
	}
	for name, dst := range map[string]*calendar.Day{"from": &from, "to": &to} {
		if v := c.QueryParam(name); v != "" {
			d, perr := calendar.ParseDay(v)
			if perr != nil {
				return from, to, today, server.Problemf(http.StatusBadRequest, "%s=%q: want a date, YYYY-MM-DD", name, v)
			}
			*dst = d
		}
	}
	if c.QueryParam("to") == "" && to.Before(from) {
		to = from // before the year begins: its first day, with no indicator yet
	}
	if to.Before(from) {
		return from, to, today, server.Problem(http.StatusBadRequest, "bad range: to is before from")
	}
	if to.Compare(from.AddDays(399)) > 0 {
		return from, to, today, server.Problem(http.StatusBadRequest, "bad range: at most 400 days at a time")
	}
	return from, to, today, nil
}

func (s *Service) getEngagement(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	pol := s.Policy.Current()
	from, to, today, err := span(c, pol.Calendar, s.Now())
	if err != nil {
		return err
	}
	// An answer for a range that ended before today does not depend on
	// today; one that reaches today does (the day in progress), and is
	// kept for today only.
	asked := "ended"
	if !to.Before(today) {
		asked = today.String()
	}
	field := fmt.Sprintf("%s:%s:%s:%s", pol.Hash, from, to, asked)
	// The cached answer is good while the student's data version is the
	// one it was computed at (a new event bumps the version) and their
	// level and mode are the ones it was computed for: a roster change does
	// not bump the version, yet it changes the window and whether there is
	// an indicator at all.
	pipe := s.Redis.Pipeline()
	mget := pipe.MGet(ctx, store.VersionKey(id))
	entry := pipe.HMGet(ctx, store.ScoringCacheKey(id), field)
	prof := pipe.HMGet(ctx, store.ProfileKey(id), "level", "mode")
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable(err)
	}
	fields := prof.Val()
	level, _ := fields[0].(string)
	mode, _ := fields[1].(string)
	version, _ := mget.Val()[0].(string)
	version += "/" + level + "/" + mode
	if cached, ok := entry.Val()[0].(string); ok {
		if v, body, found := strings.Cut(cached, "\n"); found && v == version {
			s.cache.WithLabelValues("hit").Inc()
			return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, []byte(body))
		}
	}
	s.cache.WithLabelValues("miss").Inc()

	body, err := s.computeEngagement(ctx, pol, id, from, to, today)
	if err != nil {
		return err
	}
	ttl := s.CacheTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute // entries must expire: their keys name date ranges
	}
	if err := cacheStore.Run(ctx, s.Redis, []string{store.ScoringCacheKey(id)}, field, version+"\n"+string(body), maxCachedRanges, ttl.Milliseconds()).Err(); err != nil {
		s.Log.WarnContext(ctx, "scoring cache write failed", slog.String("student", id), slog.String("error", err.Error()))
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

func (s *Service) computeEngagement(ctx context.Context, pol *policy.Loaded, id string, from, to, today calendar.Day) ([]byte, error) {
	st, err := profile(ctx, s.Redis, id)
	if err != nil {
		return nil, err
	}
	eng, err := s.engineFor(pol)
	if err != nil {
		return nil, err
	}
	// The indicator's window reaches back before from.
	asOf := to
	if today.Before(asOf) {
		asOf = today
	}
	windowStart := from
	// 57: the longest window (56), and yesterday's for the day in progress.
	if w := pol.Calendar.TeachingDaysBefore(asOf, 57); len(w) > 0 && w[len(w)-1].Before(windowStart) {
		windowStart = w[len(w)-1]
	}
	counts, err := store.StudentCounts(ctx, s.Redis, id, windowStart, to)
	if err != nil {
		return nil, unavailable(err)
	}
	r := eng.Evaluate(st, counts, from, to, today)
	out := Engagement{Student: id, Reason: r.Reason, Explanation: []Contribution{}, PolicyHash: pol.Hash, Days: make([]Day, 0, len(r.Days))}
	if r.Indicator != nil {
		out.Indicator = &Indicator{Band: r.Indicator.Band, Score: r.Indicator.Score, AsOf: r.Indicator.AsOf.String(), WindowDays: r.Indicator.WindowDays}
		out.Explanation = contributions(r.Indicator.Explanation)
	}
	for _, d := range r.Days {
		dj := Day{Date: d.Date.String(), Teaching: d.Teaching, Band: d.Band, Counts: map[string]int32{}, InProgress: d.InProgress}
		if d.Band != "" {
			score := d.Score
			dj.Score = &score
		}
		for i, n := range d.Counts {
			if n > 0 {
				dj.Counts[string(v1alpha1.Catalogue[i].Key)] = n
			}
		}
		out.Days = append(out.Days, dj)
	}
	return json.Marshal(out)
}

// Alert is an alert as the API shows it.
type Alert struct {
	Student string           `json:"student"`
	Kind    engine.AlertKind `json:"kind"`
	Since   string           `json:"since"`
	Days    int              `json:"days"`
	Message string           `json:"message"`
}

func (s *Service) alerts(ctx context.Context, pol *policy.Loaded, eng *engine.Engine, id string) ([]Alert, error) {
	st, err := profile(ctx, s.Redis, id)
	if err != nil {
		return nil, err
	}
	today := pol.Calendar.Today(s.Now())
	counts, err := s.yearSoFar(ctx, pol, id, today)
	if err != nil {
		return nil, err
	}
	out := []Alert{}
	for _, a := range eng.AlertsToday(st, counts, today) {
		out = append(out, Alert{Student: id, Kind: a.Kind, Since: a.Since.String(), Days: a.Days, Message: a.Message})
	}
	return out, nil
}

// yearSoFar reads a student's counts from the first day of the year to
// today. The engine walks back over the whole year so far to find where a
// run of silence began, so it gets the whole year: a day it is not given
// counts as a day without activity.
func (s *Service) yearSoFar(ctx context.Context, pol *policy.Loaded, id string, today calendar.Day) (map[calendar.Day]engine.Counts, error) {
	from := pol.Calendar.FirstDay()
	if today.Before(from) {
		from = today
	}
	counts, err := store.StudentCounts(ctx, s.Redis, id, from, today)
	if err != nil {
		return nil, unavailable(err)
	}
	return counts, nil
}

func (s *Service) getAlerts(c echo.Context) error {
	pol := s.Policy.Current()
	eng, err := s.engineFor(pol)
	if err != nil {
		return err
	}
	out, err := s.alerts(c.Request().Context(), pol, eng, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// Episode is one alert of a student's history as the API shows it:
// ended and endedBy are empty while it is open, and only an open one has
// a message (it is an alert of today).
type Episode struct {
	Kind    engine.AlertKind `json:"kind"`
	Since   string           `json:"since"`
	Raised  string           `json:"raised"`
	Days    int              `json:"days"`
	Ended   string           `json:"ended,omitempty"`
	EndedBy string           `json:"endedBy,omitempty"`
	Message string           `json:"message,omitempty"`
}

func (s *Service) history(ctx context.Context, pol *policy.Loaded, eng *engine.Engine, id string) ([]engine.Episode, error) {
	st, err := profile(ctx, s.Redis, id)
	if err != nil {
		return nil, err
	}
	today := pol.Calendar.Today(s.Now())
	counts, err := s.yearSoFar(ctx, pol, id, today)
	if err != nil {
		return nil, err
	}
	return eng.AlertHistory(st, counts, today), nil
}

// getAlertHistory lists every alert of the year for a student, so that a
// tutor sees one who keeps dropping out. It is worked out from the counts
// each time, so it is the same on every replica and needs no store of its
// own.
func (s *Service) getAlertHistory(c echo.Context) error {
	pol := s.Policy.Current()
	eng, err := s.engineFor(pol)
	if err != nil {
		return err
	}
	eps, err := s.history(c.Request().Context(), pol, eng, c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]Episode, 0, len(eps))
	for _, ep := range eps {
		j := Episode{Kind: ep.Kind, Since: ep.Since.String(), Raised: ep.Raised.String(), Days: ep.Days, EndedBy: ep.EndedBy}
		if ep.Open() {
			j.Message = ep.Alert().Message
		} else {
			j.Ended = ep.Ended.String()
		}
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, out)
}

// Week counts the alerts raised in one week, Monday to Sunday.
type Week struct {
	Week   string                   `json:"week"` // its Monday
	Raised map[engine.AlertKind]int `json:"raised"`
}

// getWeeklyAlerts counts, for the LEAP team, the alerts raised among a
// department's students in each week of the year so far.
func (s *Service) getWeeklyAlerts(c echo.Context) error {
	ctx := c.Request().Context()
	dept := c.Param("department")
	pol := s.Policy.Current()
	eng, err := s.engineFor(pol)
	if err != nil {
		return err
	}
	ids, err := s.Redis.SMembers(ctx, store.DepartmentKey(dept)).Result()
	if err != nil {
		return unavailable(err)
	}
	byWeek := map[calendar.Day]map[engine.AlertKind]int{}
	for _, id := range ids {
		eps, err := s.history(ctx, pol, eng, id)
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusNotFound {
			continue // in the index, not in the roster
		}
		if err != nil {
			return err
		}
		for _, ep := range eps {
			monday := ep.Raised.AddDays(-(int(ep.Raised.Weekday()) + 6) % 7)
			if byWeek[monday] == nil {
				byWeek[monday] = map[engine.AlertKind]int{}
			}
			byWeek[monday][ep.Kind]++
		}
	}
	weeks := slices.SortedFunc(maps.Keys(byWeek), calendar.Day.Compare)
	out := struct {
		Department string `json:"department"`
		Students   int    `json:"students"`
		Weeks      []Week `json:"weeks"`
	}{Department: dept, Students: len(ids), Weeks: make([]Week, 0, len(weeks))}
	for _, w := range weeks {
		out.Weeks = append(out.Weeks, Week{Week: w.String(), Raised: byWeek[w]})
	}
	return c.JSON(http.StatusOK, out)
}

// getTutorAlerts lists the alerts of a tutor's tutees.
func (s *Service) getTutorAlerts(c echo.Context) error {
	ctx := c.Request().Context()
	pol := s.Policy.Current()
	eng, err := s.engineFor(pol)
	if err != nil {
		return err
	}
	tutees, err := s.Redis.SMembers(ctx, store.TuteesKey(c.Param("id"))).Result()
	if err != nil {
		return unavailable(err)
	}
	out := []Alert{}
	for _, id := range tutees {
		a, err := s.alerts(ctx, pol, eng, id)
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusNotFound {
			continue // assigned, then removed from the roster
		}
		if err != nil {
			return err
		}
		out = append(out, a...)
	}
	return c.JSON(http.StatusOK, out)
}

// Cohort is a cohort summary as the API shows it.
type Cohort struct {
	Course    string              `json:"course"`
	Year      int                 `json:"year"`
	Size      int                 `json:"size"`
	Bands     map[engine.Band]int `json:"bands"`
	MeanScore float64             `json:"meanScore"`
	AsOf      string              `json:"asOf"`
}

// getCohort summarises a course and year, refusing any figure about a group
// smaller than the policy's minimum cohort size.
func (s *Service) getCohort(c echo.Context) error {
	ctx := c.Request().Context()
	year, err := strconv.Atoi(c.Param("year"))
	if err != nil {
		return server.Problem(http.StatusBadRequest, "year must be a whole number")
	}
	pol := s.Policy.Current()
	eng, err := s.engineFor(pol)
	if err != nil {
		return err
	}
	ids, err := s.Redis.SMembers(ctx, store.CohortKey(c.Param("course"), year)).Result()
	if err != nil {
		return unavailable(err)
	}
	// Each student's indicator follows the rule for the day in progress,
	// so the cohort's figures never fall in the morning either; the
	// summary is as of the latest day any of them is for.
	today := pol.Calendar.Today(s.Now())
	window := pol.Calendar.TeachingDaysBefore(today, 57)
	from := today
	if len(window) > 0 {
		from = window[len(window)-1]
	}
	indicators := make([]*engine.Indicator, 0, len(ids))
	var asOf calendar.Day
	for _, id := range ids {
		st, err := profile(ctx, s.Redis, id)
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusNotFound {
			continue // in the index, not in the roster
		}
		if err != nil {
			return err
		}
		counts, err := store.StudentCounts(ctx, s.Redis, id, from, today)
		if err != nil {
			return unavailable(err)
		}
		ind, _ := eng.IndicatorToday(st, counts, today)
		if ind != nil && asOf.Before(ind.AsOf) {
			asOf = ind.AsOf
		}
		indicators = append(indicators, ind)
	}
	sum, err := eng.Cohort(indicators)
	if errors.Is(err, engine.ErrCohortTooSmall) {
		return server.Problemf(http.StatusForbidden, "cohort too small: no comparison is shown for groups of fewer than %d students", pol.Doc.Privacy.MinCohortSize)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Cohort{Course: c.Param("course"), Year: year, Size: sum.Size, Bands: sum.Bands, MeanScore: sum.MeanScore, AsOf: asOf.String()})
}

func unavailable(err error) error {
	return server.Problemf(http.StatusServiceUnavailable, "store unavailable: Redis cannot be reached: %v", err)
}
