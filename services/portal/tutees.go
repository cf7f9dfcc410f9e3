package portal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// sparkDays is how many teaching days the list's small trend shows: about
// three weeks, enough to see a slide begin.
const sparkDays = 14

// TuteeRow is one student on a tutor's list.
type TuteeRow struct {
	store.Student
	// Band is "" for a student without an indicator; Reason says why.
	Band   string
	Score  float64
	Reason string
	Alerts []scoring.Alert
	// EarlierAlerts counts this year's alerts that have ended: a student
	// who keeps dropping out shows it.
	EarlierAlerts int
	// DaysSince is the number of days since the last activity of any
	// kind; -1 when there was none this year.
	DaysSince int
	Trend     template.HTML
}

func (p *Portal) studentList(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	if s.Role == RoleStudent {
		return c.Redirect(http.StatusSeeOther, "/me")
	}
	filter, err := parseListFilter(c.QueryParams())
	if err != nil {
		return server.Problemf(http.StatusBadRequest, "The search cannot be run: %v.", err)
	}
	if s.Role == RoleLEAPTeam {
		return p.teamList(c, s, filter)
	}
	ids, staffDept, err := p.listedStudents(ctx, s)
	if err != nil {
		return err
	}
	rows := make([]TuteeRow, 0, len(ids))
	for _, id := range ids {
		row, ok, err := p.tuteeRow(ctx, s, staffDept, id, filter)
		if err != nil {
			return err
		}
		if ok && filter.matchRow(row) {
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, byNeed)
	page := listPage{Session: s, Rows: rows, SparkDays: sparkDays, Filter: filter, Bands: bandList()}
	if s.Role == RoleTutor && !filter.ByScore() {
		if page.DepartmentName, page.Department, err = p.departmentOthers(ctx, s, ids); err != nil {
			return err
		}
		page.Department = slices.DeleteFunc(page.Department, func(st store.Student) bool { return !filter.matchStudent(st) })
	}
	if err := p.audit(ctx, s, "", listAudit(len(rows)+len(page.Department), filter)); err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "list.html", page)
}

// listAudit is the audit entry of a list: how many students it showed,
// and the search that found them.
func listAudit(n int, f ListFilter) string {
	what := fmt.Sprintf("list %d students", n)
	if f.Active() {
		what += " (" + f.String() + ")"
	}
	return what
}

// teamRowLimit is how many students the LEAP team's list shows at a
// time, and teamScoreLimit how many a band or alert filter may have
// scoring look at: each student is two calls to scoring, so a filter on
// band over the whole university waits for a narrower search first.
const (
	teamRowLimit   = 100
	teamScoreLimit = 300
)

// teamList is the LEAP team's list: any student, found by the search and
// filters. Without them it lists nobody, as a university's roster is too
// long to read as a list.
func (p *Portal) teamList(c echo.Context, s *Session, filter ListFilter) error {
	ctx := c.Request().Context()
	page := listPage{Session: s, SparkDays: sparkDays, Filter: filter, Bands: bandList(), Team: true}
	if !filter.Active() {
		return p.render(c, http.StatusOK, "list.html", page)
	}
	found, err := p.searchRoster(ctx, filter)
	if err != nil {
		return err
	}
	page.Matched = len(found)
	switch {
	case filter.ByScore() && len(found) > teamScoreLimit:
		page.Notice = fmt.Sprintf("%d students match the search. Narrow it (a department, course, year, or part of a name) to %d or fewer before filtering by band or alert.", len(found), teamScoreLimit)
		found = nil
	case !filter.ByScore() && len(found) > teamRowLimit:
		page.More = len(found) - teamRowLimit
		found = found[:teamRowLimit]
	}
	for _, st := range found {
		row, ok, err := p.tuteeRow(ctx, s, nil, st.ID, filter)
		if err != nil {
			return err
		}
		if ok && filter.matchRow(row) {
			page.Rows = append(page.Rows, row)
		}
	}
	slices.SortFunc(page.Rows, byNeed)
	if len(page.Rows) > teamRowLimit {
		page.More = len(page.Rows) - teamRowLimit
		page.Rows = page.Rows[:teamRowLimit]
	}
	if err := p.audit(ctx, s, "", listAudit(len(page.Rows), filter)); err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "list.html", page)
}

// searchRoster reads every student of the roster, a chunk of profiles at
// a time, and keeps those the search and roster filters match, by name.
func (p *Portal) searchRoster(ctx context.Context, f ListFilter) ([]store.Student, error) {
	ids, err := p.Redis.SMembers(ctx, store.StudentsKey).Result()
	if err != nil {
		return nil, err
	}
	var out []store.Student
	const chunk = 1000
	for i := 0; i < len(ids); i += chunk {
		pipe := p.Redis.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, 0, chunk)
		for _, id := range ids[i:min(i+chunk, len(ids))] {
			cmds = append(cmds, pipe.HGetAll(ctx, store.ProfileKey(id)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for _, cmd := range cmds {
			if st, ok := store.StudentFromProfile(cmd.Val()); ok && f.matchStudent(st) {
				out = append(out, st)
			}
		}
	}
	slices.SortFunc(out, func(a, b store.Student) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// departmentOthers are the students of a tutor's department other than
// their tutees (listed), by name: the pages legitimateNeed lets the tutor
// open, so that they are reached from a list rather than a typed address.
// A tutor on no staff roster has none.
func (p *Portal) departmentOthers(ctx context.Context, s *Session, listed []string) (string, []store.Student, error) {
	dept, err := p.Redis.HGet(ctx, store.StaffKey(s.Person), "department").Result()
	if errors.Is(err, redis.Nil) || err == nil && dept == "" {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	ids, err := p.Redis.SMembers(ctx, store.DepartmentKey(dept)).Result()
	if err != nil {
		return "", nil, err
	}
	pipe := p.Redis.Pipeline()
	var profiles []*redis.MapStringStringCmd
	for _, id := range ids {
		if !slices.Contains(listed, id) {
			profiles = append(profiles, pipe.HGetAll(ctx, store.ProfileKey(id)))
		}
	}
	if len(profiles) == 0 {
		return dept, nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return "", nil, err
	}
	var out []store.Student
	for _, cmd := range profiles {
		if st, ok := store.StudentFromProfile(cmd.Val()); ok && st.Department == dept && legitimateNeed(s, st, &dept) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b store.Student) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return dept, out, nil
}

// listedStudents are a tutor's tutees, or the students of other staff's
// department (staffDept, nil for a tutor or someone on no staff roster).
// The sets are indexes: tuteeRow checks each student against the profile.
func (p *Portal) listedStudents(ctx context.Context, s *Session) (ids []string, staffDept *string, err error) {
	if s.Role == RoleTutor {
		ids, err = p.Redis.SMembers(ctx, store.TuteesKey(s.Person)).Result()
		return ids, nil, err
	}
	dept, err := p.Redis.HGet(ctx, store.StaffKey(s.Person), "department").Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	ids, err = p.Redis.SMembers(ctx, store.DepartmentKey(dept)).Result()
	return ids, &dept, err
}

// listable decides whether a student read from the roster belongs on the
// viewer's list: the list's own rule (their tutor, their department, or,
// for the LEAP team, anyone)
// and the student page's rule, legitimateNeed, both on the profile as read
// now. An index left behind by a roster change, or changed since it was
// read, can then never show a row whose page would answer 404.
func listable(s *Session, st store.Student, staffDept *string) bool {
	switch s.Role {
	case RoleLEAPTeam:
		return legitimateNeed(s, st, staffDept)
	case RoleTutor:
		return st.Tutor == s.Person && legitimateNeed(s, st, staffDept)
	}
	return staffDept != nil && st.Department == *staffDept && legitimateNeed(s, st, staffDept)
}

// tuteeRow gathers one student's line: profile, band, alerts, days since
// the last activity and the trend. ok is false for a student who is not
// listable (no longer in the roster, or not the viewer's to list), and
// nothing about them is asked of scoring; nor is it of a student the
// search and roster filters (f) leave out. Two calls to scoring per
// student, one after the other: thirty tutees take under a tenth of a
// second over loopback, even under the race detector
// (TestTutorListIsSortedByNeed logs it); a department of hundreds would
// want the calls in parallel, or one batch endpoint in scoring.
func (p *Portal) tuteeRow(ctx context.Context, s *Session, staffDept *string, id string, f ListFilter) (TuteeRow, bool, error) {
	st, ok, err := store.GetStudent(ctx, p.Redis, id)
	if err != nil || !ok || !listable(s, st, staffDept) || !f.matchStudent(st) {
		return TuteeRow{}, false, err
	}
	eng, err := p.engagement(ctx, id)
	if err != nil {
		return TuteeRow{}, false, err
	}
	alerts, ended, err := p.alerts(ctx, id)
	if err != nil {
		return TuteeRow{}, false, err
	}
	row := TuteeRow{Student: st, Reason: eng.Reason, Alerts: alerts, EarlierAlerts: ended, DaysSince: p.daysSinceActivity(eng)}
	if eng.Indicator != nil {
		row.Band, row.Score = string(eng.Indicator.Band), eng.Indicator.Score
	}
	row.Trend = sparkline(lastScores(eng, sparkDays), p.Policy.Current().Doc.Scoring.Bands)
	return row, true, nil
}

// daysSinceActivity counts the days from the last day with any activity
// to today; -1 when the year so far has none.
func (p *Portal) daysSinceActivity(e *scoring.Engagement) int {
	today := p.Policy.Current().Calendar.Today(p.now())
	for i := len(e.Days) - 1; i >= 0; i-- {
		for _, n := range e.Days[i].Counts {
			if n > 0 {
				d, err := calendar.ParseDay(e.Days[i].Date)
				if err != nil {
					return -1
				}
				return int(today.Start(time.UTC).Sub(d.Start(time.UTC)).Hours() / 24)
			}
		}
	}
	return -1
}

// lastScores are the scores of the last n teaching days that have ended,
// oldest first: the day in progress would draw a fall every morning.
func lastScores(e *scoring.Engagement, n int) []float64 {
	var out []float64
	for i := len(e.Days) - 1; i >= 0 && len(out) < n; i-- {
		if d := e.Days[i]; d.Teaching && d.Score != nil && !d.InProgress {
			out = append(out, *d.Score)
		}
	}
	slices.Reverse(out)
	return out
}

// bandRank orders bands by need, very low first; students without an
// indicator (research students, by policy) come after every band, as
// there is nothing to say they need more.
func bandRank(band string) int {
	switch band {
	case "very_low":
		return 0
	case "low":
		return 1
	case "partial":
		return 2
	case "good":
		return 3
	case "high":
		return 4
	}
	return 5
}

// byNeed sorts students with alerts first, then by band, very low first,
// then by score, lowest first, then by the days since their last
// activity, longest first (none this year is longest), then by name.
func byNeed(a, b TuteeRow) int {
	return cmp.Or(
		cmp.Compare(alerted(b), alerted(a)),
		cmp.Compare(bandRank(a.Band), bandRank(b.Band)),
		cmp.Compare(a.Score, b.Score),
		cmp.Compare(silence(b.DaysSince), silence(a.DaysSince)),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.ID, b.ID),
	)
}

func alerted(r TuteeRow) int { return min(len(r.Alerts), 1) }

// silence is DaysSince for sorting: no activity at all is the longest.
func silence(days int) int {
	if days < 0 {
		return math.MaxInt
	}
	return days
}
