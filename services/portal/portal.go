// Package portal serves people: students see their engagement band, why it
// is what it is, its trend and their daily activity; tutors and staff see
// the students they have a legitimate need to see. Pages are rendered on
// the server; authorization is decided on the server for every request and
// every record, and every staff view of a student is audited.
package portal

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config configures the portal.
type Config struct {
	Redis  redis.UniversalClient
	Policy *policy.Source
	// ScoringURL is the scoring service's base URL.
	ScoringURL string
	// Users are the local accounts; nil switches password sign-in off.
	Users map[string]User
	// OIDC, when set, signs people in through the university's provider.
	OIDC *OIDC
	// SecureCookies marks cookies Secure (behind a TLS-terminating ingress).
	SecureCookies bool
	// Now is the portal's clock; time.Now when nil.
	Now func() time.Time
	// Logger receives the portal's logs; nothing is logged when nil.
	Logger *slog.Logger
	// TracerProvider traces calls to scoring; the global one when nil.
	TracerProvider trace.TracerProvider
	// PolicyWriter changes the policy for the LEAP team; nil: read-only.
	PolicyWriter PolicyWriter
	// PageCacheBytes bounds the cache of rendered student pages:
	// DefaultPageCacheBytes when zero; negative turns the cache off.
	PageCacheBytes int
	// CohortTTL is how long a cohort summary from scoring is reused:
	// DefaultCohortTTL when zero.
	CohortTTL time.Duration
}

// Portal is the portal service: built once by New, its handlers are its
// methods, installed on a server by Routes.
type Portal struct {
	// Config is what the portal was made with, its defaults filled in;
	// the handlers read it and nothing changes it.
	Config

	log    *slog.Logger
	http   *http.Client
	pages  *template.Template
	sso    *signOn
	caches pageCaches
	// crossOrigin refuses form posts a browser sends from another origin.
	crossOrigin *http.CrossOriginProtection
}

// New builds the portal: its client for scoring, its templates, its page
// caches and, with OIDC set, its single sign-on, whose provider it starts
// discovering so that every replica knows the provider's sign-out
// address before anyone presses "Sign out" (a failure is tried again on
// the next sign-in).
func New(cfg Config) (*Portal, error) {
	if cfg.Redis == nil || cfg.Policy == nil {
		return nil, errors.New("portal: Redis and Policy are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	var tracing []otelhttp.Option
	if cfg.TracerProvider != nil {
		tracing = append(tracing, otelhttp.WithTracerProvider(cfg.TracerProvider))
	}
	p := &Portal{
		Config: cfg, log: log, pages: t,
		http:        &http.Client{Timeout: 5 * time.Second, Transport: otelhttp.NewTransport(http.DefaultTransport, tracing...)},
		caches:      newPageCaches(cfg.PageCacheBytes, cfg.CohortTTL),
		crossOrigin: http.NewCrossOriginProtection(),
	}
	if cfg.OIDC != nil {
		if p.sso, err = newSignOn(*cfg.OIDC); err != nil {
			return nil, err
		}
		go func() { _ = p.sso.discover(context.Background(), p.now) }()
	}
	return p, nil
}

func (p *Portal) now() time.Time { return p.Now() }

// Register installs the portal's routes on e, and its error pages: a
// person in a browser reads errors in the portal's layout, an API client
// gets problem+json.
func (p *Portal) Register(e *echo.Echo) {
	e.HTTPErrorHandler = server.ProblemHandler(p.log, p.errorPage)
	static, _ := fs.Sub(assets, "static")
	e.Use(p.securityHeaders, p.refuseCrossOrigin)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServer(http.FS(static)))))
	e.GET("/login", p.getLogin)
	e.POST("/login", p.postLogin)
	e.POST("/logout", p.postLogout)
	p.signOnRoutes(e)
	// A student's page reads its session itself, with the page's keys.
	e.GET("/me", p.myPage)
	e.GET("/students/:id", p.studentPage)
	g := e.Group("", p.requireSession)
	g.GET("/", p.home)
	g.GET("/students", p.studentList)
	p.adminRoutes(g)
	p.recordRoutes(g)
	p.notificationRoutes(g)
}

// securityHeaders: a strict CSP (no inline script or style), no framing,
// no sniffing, no referrer leaks. Forms post to the portal only, and, with
// single sign-on, lead on to the provider (see signOn.formAction).
func (p *Portal) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		formAction := "'self'"
		if p.sso != nil {
			formAction = p.sso.formAction()
		}
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action "+formAction+"; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

func (p *Portal) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, err := p.session(c)
		if err != nil {
			return err
		}
		if s == nil {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		c.Set("session", s)
		return next(c)
	}
}

func sessionOf(c echo.Context) *Session { return c.Get("session").(*Session) }

func (p *Portal) home(c echo.Context) error {
	if sessionOf(c).Role == RoleStudent {
		return c.Redirect(http.StatusSeeOther, "/me")
	}
	if sessionOf(c).Role == RoleLEAPTeam {
		return c.Redirect(http.StatusSeeOther, "/admin")
	}
	return c.Redirect(http.StatusSeeOther, "/students")
}

// audit records a staff access to a student's data, or a refusal, in an
// append-only Redis stream the product has no way to edit.
func (p *Portal) audit(ctx context.Context, s *Session, whom, what string) error {
	pipe := p.Redis.Pipeline()
	w := p.auditTo(ctx, pipe, s, whom, what)
	_, _ = pipe.Exec(ctx)
	return w.Err()
}

// auditWrite is the commands of one audit entry, queued in a pipeline.
type auditWrite []redis.Cmder

// Err is the first of the commands' errors.
func (w auditWrite) Err() error {
	for _, c := range w {
		if err := c.Err(); err != nil {
			return fmt.Errorf("write audit entry: %w", err)
		}
	}
	return nil
}

// auditTo queues an audit entry in pipe: in the log, and, when it is about
// a student, in that student's index too, so that their download reads
// their entries alone. Both streams drop entries older than the policy's
// retention as new ones come; a student's index also expires whole after
// it, should nothing more be written about them (an id nobody holds).
func (p *Portal) auditTo(ctx context.Context, pipe redis.Pipeliner, s *Session, whom, what string) auditWrite {
	now := p.now()
	keep := time.Duration(p.Policy.Current().Doc.Privacy.AuditRetentionDaysOr(v1alpha1.DefaultAuditRetentionDays)) * 24 * time.Hour
	minID := strconv.FormatInt(now.Add(-keep).UnixMilli(), 10)
	values := map[string]any{"who": s.Person, "role": s.Role, "whom": whom, "what": what, "at": now.UTC().Format(time.RFC3339Nano)}
	w := auditWrite{pipe.XAdd(ctx, &redis.XAddArgs{Stream: AuditStream, MinID: minID, Values: values})}
	if store.ValidID(whom) {
		key := store.AuditKey(whom)
		w = append(w, pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MinID: minID, Values: values}), pipe.PExpire(ctx, key, keep))
	}
	return w
}

// AuditStream is the Redis stream of the audit log.
const AuditStream = store.AuditStreamKey

// mayView decides whether a signed-in person has a legitimate need to see
// a student: the student themself, their personal tutor, staff of their
// department, the LEAP team.
func (p *Portal) mayView(ctx context.Context, s *Session, st store.Student) (bool, error) {
	if (s.Role != RoleTutor && s.Role != RoleStaff) || st.Tutor == s.Person {
		return legitimateNeed(s, st, nil), nil
	}
	dept, err := p.Redis.HGet(ctx, store.StaffKey(s.Person), "department").Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return legitimateNeed(s, st, &dept), nil
}

// legitimateNeed is mayView's rule, given the department of the member of
// staff asking (nil: not in the staff roster, or not read because their
// role does not need it).
func legitimateNeed(s *Session, st store.Student, staffDept *string) bool {
	switch s.Role {
	case RoleStudent:
		return s.Person == st.ID
	case RoleLEAPTeam:
		return true
	case RoleTutor, RoleStaff:
		return st.Tutor == s.Person || (staffDept != nil && *staffDept == st.Department)
	}
	return false
}

// myPage is the signed-in student's own page; staff are sent to their
// list.
func (p *Portal) myPage(c echo.Context) error { return p.showStudent(c, "") }

func (p *Portal) studentPage(c echo.Context) error { return p.showStudent(c, c.Param("id")) }

// notFound is the answer to anything a person may not see: it does not
// tell whether the record exists.
var notFound = server.Problem(http.StatusNotFound, "There is no such page, or it is not one you may see.")

// allowedStudent reads the student a request is about and checks the
// signed-in person's legitimate need: to see the record, or with write to
// write on it too, which only staff roles may. A refusal is audited as
// "denied: what" and answered with the 404 of a record that does not
// exist. A student reading their own record, missing from the roster, is
// no attempt on anyone else's, so that alone is not audited.
func (p *Portal) allowedStudent(ctx context.Context, s *Session, id, what string, write bool) (store.Student, error) {
	if !store.ValidID(id) {
		return store.Student{}, notFound // names nobody: no Redis, no audit entry
	}
	st, ok, err := store.GetStudent(ctx, p.Redis, id)
	if err != nil {
		return store.Student{}, err
	}
	allowed := false
	switch {
	case !ok:
	case write:
		allowed = mayWrite(s, st)
	default:
		if allowed, err = p.mayView(ctx, s, st); err != nil {
			return store.Student{}, err
		}
	}
	if allowed {
		return st, nil
	}
	return store.Student{}, p.refuse(ctx, s, id, what, write)
}

// refuse audits a refusal, as allowedStudent describes, and answers the
// 404 of a record that does not exist.
func (p *Portal) refuse(ctx context.Context, s *Session, id, what string, write bool) error {
	if write || s.Role != RoleStudent || s.Person != id {
		if err := p.audit(ctx, s, id, "denied: "+what); err != nil {
			return err
		}
	}
	return notFound
}

// mayWrite: a student's personal tutor and the LEAP team write notes,
// objectives and referrals; other staff with a legitimate need to see a
// student read, as the product's rules ask ("read-only unless a role says
// more").
func mayWrite(s *Session, st store.Student) bool {
	return s.Role == RoleLEAPTeam || (s.Role == RoleTutor && st.Tutor == s.Person)
}

// fromScoring GETs path from the scoring service into out, passing the
// trace context on. A 200 is decoded; the statuses in accept are returned
// for the caller to read (a refusal it expects); anything else is an error.
func (p *Portal) fromScoring(ctx context.Context, path string, out any, accept ...int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ScoringURL+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		// The cause names internal addresses: it goes to the log only.
		p.log.ErrorContext(ctx, "scoring unreachable", slog.String("path", path), slog.Any("error", err))
		return 0, server.Problem(http.StatusServiceUnavailable, "The scoring service cannot be reached just now; try again in a minute.")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0, fmt.Errorf("decode %s: %w", path, err)
		}
		return resp.StatusCode, nil
	case slices.Contains(accept, resp.StatusCode):
		return resp.StatusCode, nil
	}
	return 0, server.Problemf(http.StatusBadGateway, "The scoring service answered %s.", resp.Status)
}

// engagement asks the scoring service for a student's year so far.
func (p *Portal) engagement(ctx context.Context, id string) (*scoring.Engagement, error) {
	var e scoring.Engagement
	if _, err := p.fromScoring(ctx, "/v1/students/"+url.PathEscape(id)+"/engagement", &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// alerts asks the scoring service for a student's alerts of the year:
// those open today, and how many earlier ones have ended.
func (p *Portal) alerts(ctx context.Context, id string) (open []scoring.Alert, ended int, err error) {
	eps, err := p.alertHistory(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	// Scoring lists the history by the day each was raised; today's
	// alerts are shown no-engagement first, as scoring's own list is.
	for _, ep := range eps {
		if ep.Ended != "" {
			ended++
			continue
		}
		open = append(open, scoring.Alert{Student: id, Kind: ep.Kind, Since: ep.Since, Days: ep.Days, Message: ep.Message})
	}
	slices.SortStableFunc(open, func(a, b scoring.Alert) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
	return open, ended, nil
}

// alertHistory asks the scoring service for every alert of a student's
// year, oldest first.
func (p *Portal) alertHistory(ctx context.Context, id string) ([]scoring.Episode, error) {
	var eps []scoring.Episode
	if _, err := p.fromScoring(ctx, "/v1/students/"+url.PathEscape(id)+"/alerts/history", &eps); err != nil {
		return nil, err
	}
	return eps, nil
}

// alertKindName says what an alert is about, for staff.
func alertKindName(kind string) string {
	if kind == "very_low_week" {
		return "Very low for a week"
	}
	return "Nothing counted"
}

// cohort asks the scoring service for the band distribution of a course
// and year; nil when scoring refuses (403) because the group is smaller
// than the policy's minimum cohort size.
func (p *Portal) cohort(ctx context.Context, course string, year int) (*scoring.Cohort, error) {
	var sum scoring.Cohort
	status, err := p.fromScoring(ctx, "/v1/cohorts/"+url.PathEscape(course)+"/"+strconv.Itoa(year), &sum, http.StatusForbidden)
	if err != nil || status == http.StatusForbidden {
		return nil, err
	}
	return &sum, nil
}

// longDay writes a YYYY-MM-DD date as people read it, "Friday 16 October";
// anything else as it is.
func longDay(date string) string {
	d, err := calendar.ParseDay(date)
	if err != nil {
		return date
	}
	return engine.LongDay(d)
}

// bandWords says what a band means, in plain words for the student.
func bandWords(band string) string {
	switch band {
	case "high":
		return "You are using the university's resources consistently: lectures and seminars, Moodle, recordings and the assignment system."
	case "good":
		return "You are using the university's resources regularly."
	case "partial":
		return "You are using some of what is on offer, but less often than students with higher engagement."
	case "low":
		return "You are using the university's resources now and then. Quieter spells are normal; if something is getting in the way, your tutor can help."
	case "very_low":
		return "You have used very little recently, perhaps nothing for several days. Your tutor may get in touch to check that all is well."
	}
	return ""
}

// bandName is a band as people read it.
func bandName(band string) string {
	if band == "very_low" {
		return "Very low"
	}
	return strings.ToUpper(band[:1]) + band[1:]
}

func activityTitle(key string) string {
	for _, a := range v1alpha1.Catalogue {
		if string(a.Key) == key {
			return a.Title
		}
	}
	return key
}
