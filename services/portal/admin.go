package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// staleAfter is how long a source may be silent before the LEAP team's
// freshness table flags it.
const staleAfter = 48 * time.Hour

// adminRoutes adds the LEAP team's pages: the policy in force and the
// LeapTerm's status, the attendance switch, the freshness of each source,
// and the audit log.
func (p *Portal) adminRoutes(g *echo.Group) {
	a := g.Group("/admin", p.requireLEAPTeam)
	a.GET("", p.adminPage)
	a.GET("/university", p.universityPage)
	a.GET("/preview", p.previewFormPage)
	a.POST("/preview", p.postPreview)
	a.POST("/apply", p.postApply)
	a.POST("/attendance", p.postAttendance)
	a.POST("/challenges/:student/:id", p.postDecision)
}

// postDecision decides a student's data challenge: accepted, corrected or
// rejected, with a reason the student reads. Corrected carries the
// correction (the right count, or discard the day's counts), stored as an
// amendment beside the source's counts. The first decision stands.
func (p *Portal) postDecision(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	student, id := c.Param("student"), c.Param("id")
	state, reason := c.FormValue("state"), strings.TrimSpace(c.FormValue("reason"))
	if state == store.ChallengeCorrected || c.FormValue("correction") != "" {
		// What cannot be corrected says so first, and where it is put
		// right instead, before any complaint about the form's fields.
		ch, err := p.challenge(ctx, student, id)
		if err != nil {
			return err
		}
		if err := p.checkAmendable(ch); err != nil {
			return err
		}
	}
	correction, err := parseCorrection(state, c.FormValue("correction"), c.FormValue("count"))
	if err != nil {
		return err
	}
	amendment, err := p.decide(ctx, s, student, id, state, reason, correction)
	if err != nil {
		return err
	}
	what := "challenge " + id + " " + state + ": " + reason
	if amendment != nil {
		what += "; amendment: " + amendmentWords(amendment)
	}
	if err := p.audit(ctx, s, student, what); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin?saved=challenge")
}

// requireLEAPTeam lets the LEAP team in; anyone else gets the 404 that
// any page they may not see gets, and the attempt is audited.
func (p *Portal) requireLEAPTeam(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := sessionOf(c)
		if s.Role != RoleLEAPTeam {
			if err := p.audit(c.Request().Context(), s, "", "denied: "+c.Request().Method+" "+c.Path()); err != nil {
				return err
			}
			return notFound
		}
		return next(c)
	}
}

// Freshness is when a source system last sent events.
type Freshness struct {
	Source string
	Last   string
	Stale  bool
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	At, Who, Role, Whom, What string
}

func (p *Portal) adminPage(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	fresh, err := p.freshness(ctx)
	if err != nil {
		return err
	}
	filter := AuditFilter{Who: c.QueryParam("who"), Whom: c.QueryParam("whom"), What: c.QueryParam("what")}
	entries, err := p.auditLog(ctx, filter, 200)
	if err != nil {
		return err
	}
	where := "nowhere: this portal cannot change policy"
	if p.PolicyWriter != nil {
		where = p.PolicyWriter.Where()
	}
	var status map[string]any
	if k, ok := p.PolicyWriter.(*KubeWriter); ok {
		if status, err = k.leapTermStatus(ctx); err != nil {
			status = map[string]any{"error": err.Error()}
		}
	}
	challenges, err := store.OpenChallenges(ctx, p.Redis)
	if err != nil {
		return err
	}
	shown, pager := pageOf(challenges, c.QueryParam("cpage"), challengePage)
	views, err := p.challengeViews(ctx, shown)
	if err != nil {
		return err
	}
	pol := p.Policy.Current()
	return p.render(c, http.StatusOK, "admin.html", adminPage{
		Status: status, Challenges: views, ChallengePager: pager, OpenChallenges: len(challenges),
		Session: s, Policy: pol.Doc, Hash: pol.Hash, Where: where, CanWrite: p.PolicyWriter != nil,
		Attendance: pol.Doc.Attendance, AttendanceOn: pol.Doc.Attendance.IsEnabled(),
		Fresh: fresh, Audit: entries, Filter: filter, Saved: c.QueryParam("saved"),
	})
}

// challengePage is how many open challenges the LEAP team's page shows at
// a time: the page stays light however many are waiting.
const challengePage = 25

// Pager says where a page of a list is: its number, the previous and next
// (0 when there is none) and the number of pages.
type Pager struct{ Page, Prev, Next, Pages int }

// pageOf is page number raw (1 when absent or not a number; the last when
// past the end) of list, size items a page.
func pageOf[T any](list []T, raw string, size int) ([]T, Pager) {
	pages := max(1, (len(list)+size-1)/size)
	page, err := strconv.Atoi(raw)
	if err != nil || page < 1 {
		page = 1
	}
	page = min(page, pages)
	pg := Pager{Page: page, Pages: pages}
	if page > 1 {
		pg.Prev = page - 1
	}
	if page < pages {
		pg.Next = page + 1
	}
	return list[(page-1)*size : min(page*size, len(list))], pg
}

// attendanceHistory is the policy history after a change of attendance
// from the day from on: the attendance in force until then joins the
// history, ending the day before. A second change on the same day replaces
// the first, so the history already ends the day before and stays as it
// is. The entry has no scoring of its own: a later correction of the
// weights for the whole year applies to those days too.
func attendanceHistory(doc policy.Document, from calendar.Day) []v1alpha1.PolicyEra {
	until := v1alpha1.Date(from.AddDays(-1).String())
	history := slices.Clone(doc.PolicyHistory)
	if n := len(history); n > 0 && history[n-1].Until >= until {
		return history
	}
	return append(history, v1alpha1.PolicyEra{Until: until, Attendance: doc.Attendance})
}

// postAttendance flips the attendance switch and records who did it.
func (p *Portal) postAttendance(c echo.Context) error {
	ctx := c.Request().Context()
	s := sessionOf(c)
	if p.PolicyWriter == nil {
		return server.Problem(http.StatusConflict, "This portal has no way to change the policy.")
	}
	enabled := c.FormValue("enabled") == "true"
	reason := strings.TrimSpace(c.FormValue("reason"))
	if len(reason) > 500 {
		return server.Problem(http.StatusBadRequest, "The reason is too long: at most 500 characters.")
	}
	if !enabled && reason == "" {
		return server.Problem(http.StatusBadRequest, "Give a reason: students read it on their attendance tab, so say why attendance is off.")
	}
	// From today unless the LEAP team chose the whole year: the days
	// before keep the policy they were scored under.
	pol := p.Policy.Current()
	wholeYear := c.FormValue("wholeYear") == "true"
	var history []v1alpha1.PolicyEra
	if !wholeYear {
		history = attendanceHistory(pol.Doc, pol.Calendar.Today(p.now()))
	}
	if err := p.PolicyWriter.SetAttendance(ctx, enabled, reason, history); err != nil {
		return server.Problemf(http.StatusBadGateway, "The policy was not changed: %v", err)
	}
	what := "policy change: attendance on"
	if !enabled {
		what = "policy change: attendance off (" + reason + ")"
	}
	if wholeYear {
		what += ", for the whole year"
	} else {
		what += ", from " + pol.Calendar.Today(p.now()).String()
	}
	if err := p.audit(ctx, s, "", what); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin?saved=attendance")
}

func (p *Portal) freshness(ctx context.Context) ([]Freshness, error) {
	last, err := p.Redis.HGetAll(ctx, store.SourcesKey).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Freshness, 0, len(last))
	for src, at := range last {
		t, err := time.Parse(time.RFC3339, at)
		out = append(out, Freshness{Source: src, Last: at, Stale: err != nil || p.now().Sub(t) > staleAfter})
	}
	slices.SortFunc(out, func(a, b Freshness) int { return strings.Compare(a.Source, b.Source) })
	return out, nil
}

// AuditFilter selects audit entries: each field, when set, must appear in
// the entry's field of the same name.
type AuditFilter struct{ Who, Whom, What string }

func (f AuditFilter) match(e AuditEntry) bool {
	return strings.Contains(e.Who, f.Who) && strings.Contains(e.Whom, f.Whom) && strings.Contains(e.What, f.What)
}

// auditLog reads the newest entries that match, newest first, scanning at
// most ten thousand.
func (p *Portal) auditLog(ctx context.Context, f AuditFilter, limit int) ([]AuditEntry, error) {
	msgs, err := p.Redis.XRevRangeN(ctx, AuditStream, "+", "-", 10000).Result()
	if err != nil {
		return nil, err
	}
	var out []AuditEntry
	for _, m := range msgs {
		e := auditEntry(m)
		if f.match(e) {
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func auditEntry(m redis.XMessage) AuditEntry {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	return AuditEntry{At: str("at"), Who: str("who"), Role: str("role"), Whom: str("whom"), What: str("what")}
}

// leapTermStatus reads the LeapTerm's status conditions through the writer
// when it is a cluster's, for the LEAP team's page.
func (k *KubeWriter) leapTermStatus(ctx context.Context) (map[string]any, error) {
	t, err := k.Get(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(t.Status)
	if err != nil {
		return nil, err
	}
	var status map[string]any
	return status, json.Unmarshal(b, &status)
}
