package scoring

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

// Distributor answers, for the LEAP team's view of the whole university,
// how the students spread over the bands week by week, for the university
// and for each department, and the alerts open today by department. It is
// computed with the engine over the stored counts of every student, read
// chunk by chunk (ReadChunks), so its memory does not grow with the size
// of the university; it only reads counts, and writes nothing but its own
// cache entry.
//
// Every figure follows the privacy rule of the preview's groups
// (engine.Groups): a department with fewer students than the policy's
// minimum cohort size is never shown alone.
type Distributor struct {
	Redis  redis.UniversalClient
	Policy *policy.Source
	Now    func() time.Time
	// ChunkSize is how many students are read from Redis at a time (500
	// when zero).
	ChunkSize int
	// CacheTTL bounds how long an answer is kept (10 minutes when zero);
	// a new event, a roster change or a new policy makes it unreachable
	// at once anyway.
	CacheTTL time.Duration
	// Log takes a failure to write the cache; nothing when nil.
	Log *slog.Logger
}

// Register adds GET /v1/distribution/weekly.
func (d *Distributor) Register(e *echo.Echo) {
	e.GET("/v1/distribution/weekly", d.getWeekly)
}

// Weekly is the answer of GET /v1/distribution/weekly. Each series has
// one entry per week of Weeks; an entry is null where the group was too
// small to show that week.
type Weekly struct {
	PolicyHash    string `json:"policyHash"`
	Today         string `json:"today"`
	MinCohortSize int    `json:"minCohortSize"`
	// Students is the number of students on the roster.
	Students int `json:"students"`
	// Weeks are the weeks of the year so far that have teaching days,
	// oldest first.
	Weeks      []WeekOf      `json:"weeks"`
	University []*BandCounts `json:"university"`
	// Departments are those shown alone in at least one week, by name;
	// a student counts in the department the roster gives them now, in
	// every week.
	Departments []DepartmentSeries `json:"departments"`
	// Rest is, each week, the departments not shown alone that week,
	// merged: those too small, and, when the university's figure less the
	// departments shown would describe fewer than the minimum, the
	// smallest shown as well (weekGroups); null when there are none or
	// the merged group is itself too small.
	Rest []*BandCounts `json:"rest"`
	// Merged is the number of departments never shown alone.
	Merged int                `json:"merged"`
	Alerts AlertsByDepartment `json:"alerts"`
}

// WeekOf is one week: its Monday, and the day its figures are for (its
// Sunday, or today for the week in progress).
type WeekOf struct {
	Week       string `json:"week"`
	AsOf       string `json:"asOf"`
	InProgress bool   `json:"inProgress,omitempty"`
}

// BandCounts counts a group's students in each band; Size is the number
// with an indicator (research students, by policy, have none).
type BandCounts struct {
	Bands map[engine.Band]int `json:"bands"`
	Size  int                 `json:"size"`
}

// DepartmentSeries is one department's weekly distribution.
type DepartmentSeries struct {
	Department string        `json:"department"`
	Weeks      []*BandCounts `json:"weeks"`
}

// AlertsByDepartment are the alerts open today by department, under the
// same rule: departments too small are merged into Rest (null when that
// is too small too), Merged says how many.
type AlertsByDepartment struct {
	Departments []DepartmentAlerts `json:"departments"`
	Rest        *DepartmentAlerts  `json:"rest"`
	Merged      int                `json:"merged"`
}

// DepartmentAlerts is a department's alerts open today: how many students
// it has, how many of them have an alert, and the alerts by kind.
type DepartmentAlerts struct {
	Department string                   `json:"department,omitempty"`
	Students   int                      `json:"students"`
	Alerted    int                      `json:"alerted"`
	Open       map[engine.AlertKind]int `json:"open"`
}

func (d *Distributor) getWeekly(c echo.Context) error {
	ctx := c.Request().Context()
	body, err := d.Weekly(ctx)
	if err != nil {
		if store.Unavailable(err) {
			return unavailable(err)
		}
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// Weekly is the JSON of the weekly distribution: the cached answer when
// nothing it depends on changed since it was worked out, else a new one.
func (d *Distributor) Weekly(ctx context.Context) ([]byte, error) {
	pol := d.Policy.Current()
	today := pol.Calendar.Today(d.now())
	ids, err := d.Redis.SMembers(ctx, store.StudentsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list students: %w", err)
	}
	slices.Sort(ids)
	version, err := d.fingerprint(ctx, pol.Hash, today, ids)
	if err != nil {
		return nil, err
	}
	cached, err := d.Redis.Get(ctx, store.WeeklyDistributionKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the cache: %w", err)
	}
	if v, body, ok := strings.Cut(cached, "\n"); ok && v == version {
		return []byte(body), nil
	}
	out, err := d.compute(ctx, pol, today, ids)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	ttl := d.CacheTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	if err := d.Redis.Set(ctx, store.WeeklyDistributionKey, version+"\n"+string(body), ttl).Err(); err != nil && d.Log != nil {
		d.Log.WarnContext(ctx, "distribution cache write failed", slog.String("error", err.Error()))
	}
	return body, nil
}

// fingerprint names everything a distribution depends on: the policy,
// today, the roster (who, and each one's department, level and mode: a
// move of department changes no count, yet changes the figures) and each
// student's data version, which every new count bumps. Reading it costs a
// pipelined read of two small keys per student, a small part of working
// the figures out.
func (d *Distributor) fingerprint(ctx context.Context, policyHash string, today calendar.Day, ids []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", policyHash, today)
	const batch = 1000
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		pipe := d.Redis.Pipeline()
		versions := make([]*redis.StringCmd, len(part))
		profiles := make([]*redis.SliceCmd, len(part))
		for j, id := range part {
			versions[j] = pipe.Get(ctx, store.VersionKey(id))
			profiles[j] = pipe.HMGet(ctx, store.ProfileKey(id), "department", "level", "mode")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return "", fmt.Errorf("read data versions: %w", err)
		}
		for j, id := range part {
			fmt.Fprintf(h, "%s\x00%s", id, versions[j].Val())
			for _, v := range profiles[j].Val() {
				s, _ := v.(string)
				fmt.Fprintf(h, "\x00%s", s)
			}
			h.Write([]byte{'\n'})
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// weeksOf are the weeks, Monday to Sunday, from the first of the year to
// today's, that have a teaching day up to today.
func weeksOf(cal *calendar.Calendar, today calendar.Day) []WeekOf {
	first := cal.FirstDay()
	monday := first.AddDays(-((int(first.Weekday()) + 6) % 7))
	var out []WeekOf
	for m := monday; !today.Before(m); m = m.AddDays(7) {
		asOf := m.AddDays(6)
		if today.Before(asOf) {
			asOf = today
		}
		teaching := false
		for d := m; !asOf.Before(d); d = d.AddDays(1) {
			if cal.IsTeachingDay(d) {
				teaching = true
				break
			}
		}
		if teaching {
			out = append(out, WeekOf{Week: m.String(), AsOf: asOf.String(), InProgress: asOf == today})
		}
	}
	return out
}

// studentWeeks is one student's indicator at the end of each week and
// their alerts open today.
type studentWeeks struct {
	bands  []*engine.Indicator
	alerts []engine.Alert
}

func (d *Distributor) compute(ctx context.Context, pol *policy.Loaded, today calendar.Day, ids []string) (*Weekly, error) {
	eng, err := engine.New(pol.Doc)
	if err != nil {
		return nil, fmt.Errorf("the policy in force: %w", err)
	}
	weeks := weeksOf(pol.Calendar, today)
	asOf := make([]calendar.Day, len(weeks))
	for i, w := range weeks {
		asOf[i], _ = calendar.ParseDay(w.AsOf)
	}
	from := pol.Calendar.FirstDay()
	if today.Before(from) {
		from = today
	}
	chunk := d.ChunkSize
	if chunk <= 0 {
		chunk = 500
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads := ReadChunks(ctx, d.Redis, ids, chunk, from, today)

	minSize := eng.MinCohortSize()
	tallies := make([]*engine.Tally, len(weeks))
	for i := range tallies {
		tallies[i] = engine.NewTally(minSize)
	}
	alerts := map[string]*DepartmentAlerts{}
	students := 0
	workers := runtime.GOMAXPROCS(0)
	results := make([]studentWeeks, chunk)
	for r := range reads {
		if r.Err != nil {
			return nil, r.Err
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(r.Records); i += workers {
					rec := &r.Records[i]
					if !rec.Found {
						continue
					}
					s := engine.Student{ID: rec.Student.ID, Level: v1alpha1.StudyLevel(rec.Student.Level), PartTime: rec.Student.Mode == "PT"}
					res := &results[i]
					res.bands = res.bands[:0]
					for _, day := range asOf {
						var ind *engine.Indicator
						if day == today {
							ind, _ = eng.IndicatorToday(s, rec.Counts, today)
						} else {
							ind, _ = eng.Indicator(s, rec.Counts, day)
						}
						res.bands = append(res.bands, ind)
					}
					res.alerts = eng.AlertsToday(s, rec.Counts, today)
				}
			})
		}
		wg.Wait()
		for i := range r.Records {
			rec := &r.Records[i]
			if !rec.Found {
				continue // in the index, not in the roster
			}
			students++
			dept := rec.Student.Department
			for w, ind := range results[i].bands {
				// One policy, so before and after are the same: the
				// preview's tally and its privacy rule, as they are.
				tallies[w].Add(dept, "", engine.Comparison{Before: ind, After: ind})
			}
			a := alerts[dept]
			if a == nil {
				a = &DepartmentAlerts{Department: dept, Open: map[engine.AlertKind]int{}}
				alerts[dept] = a
			}
			a.Students++
			if len(results[i].alerts) > 0 {
				a.Alerted++
			}
			for _, al := range results[i].alerts {
				a.Open[al.Kind]++
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	out := &Weekly{PolicyHash: pol.Hash, Today: today.String(), MinCohortSize: minSize, Students: students, Weeks: weeks,
		University: make([]*BandCounts, len(weeks)), Rest: make([]*BandCounts, len(weeks)), Departments: []DepartmentSeries{}}
	series := map[string][]*BandCounts{}
	all := map[string]bool{}
	for w, t := range tallies {
		if t.UniversityShown() {
			out.University[w] = bandCounts(t.University)
		}
		shown, rest := weekGroups(t, minSize)
		for _, s := range shown {
			if series[s.Name] == nil {
				series[s.Name] = make([]*BandCounts, len(weeks))
			}
			series[s.Name][w] = bandCounts(s.Distribution)
		}
		out.Rest[w] = rest
	}
	for dept := range alerts {
		all[dept] = true
	}
	for dept := range all {
		if s, ok := series[dept]; ok {
			out.Departments = append(out.Departments, DepartmentSeries{Department: dept, Weeks: s})
		} else {
			out.Merged++
		}
	}
	slices.SortFunc(out.Departments, func(a, b DepartmentSeries) int { return cmp.Compare(a.Department, b.Department) })
	out.Alerts = alertGroups(alerts, minSize)
	return out, nil
}

// weekGroups are a week's departments shown alone and the rest, merged,
// by engine.Groups's rule, made safe against subtraction as well: the
// university's figure less those of the departments shown is the merged
// departments' figure, so while that is about fewer than the minimum
// (and more than none), the smallest departments shown join the merged
// ones until it is not. The merged group is then shown, as it reaches the
// minimum; with nothing left to merge it is withheld.
func weekGroups(t *engine.Tally, minSize int) (shown []engine.Group, rest *BandCounts) {
	g := t.Departments()
	merged := &BandCounts{Bands: maps.Clone(t.University.Before), Size: t.University.SizeBefore}
	for _, s := range g.Shown {
		merged.Size -= s.SizeBefore
		for b, n := range s.Before {
			merged.Bands[b] -= n
		}
	}
	shown = slices.Clone(g.Shown)
	slices.SortStableFunc(shown, func(a, b engine.Group) int { return cmp.Compare(a.SizeBefore, b.SizeBefore) })
	for merged.Size > 0 && merged.Size < minSize && len(shown) > 0 {
		merged.Size += shown[0].SizeBefore
		for b, n := range shown[0].Before {
			merged.Bands[b] += n
		}
		shown = shown[1:]
	}
	slices.SortFunc(shown, func(a, b engine.Group) int { return cmp.Compare(a.Name, b.Name) })
	if merged.Size > 0 && merged.Size >= minSize {
		rest = merged
	}
	return shown, rest
}

func bandCounts(d *engine.Distribution) *BandCounts {
	return &BandCounts{Bands: d.Before, Size: d.SizeBefore}
}

// alertGroups applies the rule of engine.Groups to the alerts by
// department, sized by each department's students: one too small is
// merged into the rest, shown only when the merged group reaches the
// minimum.
func alertGroups(byDept map[string]*DepartmentAlerts, minSize int) AlertsByDepartment {
	out := AlertsByDepartment{Departments: []DepartmentAlerts{}}
	rest := DepartmentAlerts{Open: map[engine.AlertKind]int{}}
	for _, a := range byDept {
		if a.Students >= minSize {
			out.Departments = append(out.Departments, *a)
			continue
		}
		out.Merged++
		rest.Students += a.Students
		rest.Alerted += a.Alerted
		for k, n := range a.Open {
			rest.Open[k] += n
		}
	}
	slices.SortFunc(out.Departments, func(a, b DepartmentAlerts) int { return cmp.Compare(a.Department, b.Department) })
	if out.Merged > 0 && rest.Students >= minSize {
		out.Rest = &rest
	}
	return out
}

func (d *Distributor) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}
