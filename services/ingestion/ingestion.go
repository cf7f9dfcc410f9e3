// Package ingestion takes events and rosters from the university's systems
// into Redis: every record checked, every event counted once.
package ingestion

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// Limits on one record.
const (
	maxIDLen      = 128
	maxStudentLen = 64
	// maxAhead is how far in the future an event may claim to be: clocks of
	// source systems drift, but not by much.
	maxAhead = 5 * time.Minute
	// chunk is how many events go to Redis in one pipeline.
	chunk = 1000
)

// studentID is the shape of a student id: no spaces, and no braces, which
// would break the Redis Cluster hash tag.
var studentID = regexp.MustCompile(`^[A-Za-z0-9._@-]+$`)

// sourceName is the shape of a source system's name.
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// AnySource is the source of a token that may write events of any source:
// the demo token of `make run`. Tokens the operator generates each belong to
// one source.
const AnySource = "*"

// RosterSource is the student records system: its token alone may change
// the roster (students, staff and their roles, personal tutors), since the
// roster decides who may see whom. An event source's token is refused
// there.
const RosterSource = "roster"

// Service is the ingestion service.
type Service struct {
	Redis  redis.UniversalClient
	Policy *policy.Source
	// Tokens maps a bearer token to the source system it belongs to.
	Tokens map[string]string
	// TokenExpiry holds when a token stops being accepted: a source's
	// previous token during a rotation's overlap. Other tokens do not expire.
	TokenExpiry map[string]time.Time
	// Backfill lists sources whose events may be older than the late-arrival
	// window (still inside the academic year): loading history when LEAP
	// starts mid-year, and the demo data of `make run`.
	Backfill map[string]bool
	// MaxBodyBytes bounds a request body; larger answers 413.
	MaxBodyBytes int64
	// RosterWait bounds how long a roster upload waits for another to be
	// stored before answering 503 (DefaultRosterWait when zero).
	RosterWait time.Duration
	Now        func() time.Time
	// Log takes what goes wrong beside a request's answer; nothing when nil.
	Log *slog.Logger

	events *prometheus.CounterVec
	xapi   *xapiState
}

// Answer is the result of a batch of events.
type Answer struct {
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	Ignored    []Ignored  `json:"ignored"`
	Rejected   []Rejected `json:"rejected"`
}

// Ignored is a valid event that was not counted, and why.
type Ignored struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Rejected is an event that failed a check.
type Rejected struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	Error string `json:"error"`
}

// Reasons an event is ignored.
const (
	ReasonAttendanceOff  = "attendance is switched off"
	ReasonOutsideYear    = "outside the academic year"
	ReasonUnknownStudent = "student not in the roster"
)

// Register adds the ingestion routes and metrics.
func (s *Service) Register(e *echo.Echo, reg prometheus.Registerer) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leap_ingest_events_total", Help: "Events received, by source and outcome.",
	}, []string{"source", "outcome"})
	reg.MustRegister(s.events)
	g := e.Group("/v1", s.authenticate("leap-ingestion", false))
	g.POST("/events", s.postEvents)
	r := g.Group("/roster", rosterOnly)
	r.POST("/students", s.postStudents)
	r.POST("/staff", s.postStaff)
	r.POST("/tutors", s.postTutors)
	s.registerXAPI(e, reg)
	e.GET("/v1/policy", func(c echo.Context) error { return c.JSON(http.StatusOK, PolicyInfo(s.Policy.Current())) })
}

// PolicyInfo says which policy a service runs under.
func PolicyInfo(l *policy.Loaded) map[string]any {
	return map[string]any{"hash": l.Hash, "leapTerm": l.Doc.LeapTerm, "source": l.Source, "policy": l.Doc}
}

// sourceOf is the source of a token, or "" for no known token or one past
// its expiry. Every token is compared in constant time, so timing tells
// nothing about any of them.
func (s *Service) sourceOf(got string) string {
	source := ""
	if got != "" {
		for token, src := range s.Tokens {
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
				source = src
				if expires, ok := s.TokenExpiry[token]; ok && !s.Now().Before(expires) {
					source = ""
				}
			}
		}
	}
	return source
}

// rosterOnly admits the roster source's token (and the demo's any-source
// token) to the roster routes.
func rosterOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if src := c.Get("source").(string); src != RosterSource && src != AnySource {
			return server.Problemf(http.StatusForbidden, "the token of source %q may send events only; the roster takes the %q token", src, RosterSource)
		}
		return next(c)
	}
}

// authenticate is ingestion's one gate: it admits a request that carries
// a source's token as a bearer token or, when basic, as the password of
// Basic auth (xAPI clients send either), and records the source under
// "source". Others get 401 with a challenge for each scheme taken.
func (s *Service) authenticate(realm string, basic bool) echo.MiddlewareFunc {
	challenges := []string{`Bearer realm="` + realm + `"`}
	detail := "a valid ingest token is required: Authorization: Bearer TOKEN"
	if basic {
		challenges = []string{`Basic realm="` + realm + `"`, challenges[0]}
		detail = "a valid ingest token is required: Basic auth with the token as password, or Authorization: Bearer TOKEN"
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			source := ""
			if got, ok := strings.CutPrefix(req.Header.Get(echo.HeaderAuthorization), "Bearer "); ok {
				source = s.sourceOf(got)
			} else if _, password, ok := req.BasicAuth(); ok && basic {
				source = s.sourceOf(password)
			}
			if source == "" {
				for _, ch := range challenges {
					c.Response().Header().Add(echo.HeaderWWWAuthenticate, ch)
				}
				return server.Problem(http.StatusUnauthorized, detail)
			}
			c.Set("source", source)
			return next(c)
		}
	}
}

// body limits the request body and turns an over-large one into 413.
func (s *Service) body(c echo.Context) (io.Reader, error) {
	req := c.Request()
	if req.ContentLength > s.MaxBodyBytes {
		return nil, tooLarge(s.MaxBodyBytes)
	}
	return http.MaxBytesReader(c.Response(), req.Body, s.MaxBodyBytes), nil
}

func tooLarge(limit int64) error {
	return server.Problemf(http.StatusRequestEntityTooLarge, "body too large: the limit is %d bytes; send smaller batches", limit)
}

func mediaType(c echo.Context) string {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	return mt
}

// readError maps a failure to read the body to its answer.
func readError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, errUnreadable):
		return server.Problem(http.StatusBadRequest, "the body cannot be read: "+err.Error())
	case isRedisDown(err):
		return server.Problem(http.StatusServiceUnavailable, "store unavailable: Redis cannot be reached; retry the same batch later, it will not count twice")
	default:
		return err
	}
}

func isRedisDown(err error) bool {
	var ne interface{ Timeout() bool }
	return err != nil && (errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "redis unreachable") || errors.Is(err, redis.ErrClosed) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "LOADING"))
}

func (s *Service) postEvents(c echo.Context) error {
	ctx := c.Request().Context()
	source := c.Get("source").(string)
	body, err := s.body(c)
	if err != nil {
		return err
	}
	var read func(io.Reader, func(int, Record, error) error) error
	streamed := false
	switch mediaType(c) {
	case "application/json":
		read = readJSONArray
	case "application/x-ndjson", "application/jsonl":
		read, streamed = readNDJSON, true
	case "text/csv":
		read, streamed = readCSV, true
	default:
		return server.Problem(http.StatusUnsupportedMediaType, "send application/json (an array of events), application/x-ndjson or text/csv")
	}
	if err := store.Ping(ctx, s.Redis); err != nil {
		return readError(err, s.MaxBodyBytes)
	}

	b := s.newBatch(ctx, source, s.Policy.Current())
	emit := func(i int, rec Record, recErr error) error {
		b.add(i, rec, recErr)
		if streamed && len(b.pending) >= chunk {
			return b.flush()
		}
		return nil
	}
	if err := read(body, emit); err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	if err := b.flush(); err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	b.markFresh()
	return c.JSON(http.StatusOK, b.answer)
}

func (s *Service) newBatch(ctx context.Context, source string, pol *policy.Loaded) *batch {
	return &batch{svc: s, ctx: ctx, source: source, pol: pol, now: s.Now(), answer: Answer{Ignored: []Ignored{}, Rejected: []Rejected{}}, seen: map[string]bool{}}
}

// markFresh records, for the LEAP team, when each source of counted events
// last sent.
func (b *batch) markFresh() {
	for src := range b.seen {
		if err := b.svc.Redis.HSet(b.ctx, store.SourcesKey, src, b.now.UTC().Format(time.RFC3339)).Err(); err != nil {
			b.svc.Log.WarnContext(b.ctx, "source freshness not recorded", slog.String("source", src), slog.String("error", err.Error()))
		}
	}
}

// eventRetention is how long an event id is remembered: past the
// late-arrival window, after which the event is refused anyway.
func eventRetention(pol *policy.Loaded) time.Duration {
	late := pol.Doc.Privacy.LateArrivalDaysOr(v1alpha1.DefaultLateArrivalDays)
	return time.Duration(max(late, v1alpha1.DefaultLateArrivalDays)+2) * 24 * time.Hour
}

// batch checks records and sends the valid ones to Redis in chunks.
type batch struct {
	svc     *Service
	ctx     context.Context
	source  string
	pol     *policy.Loaded
	now     time.Time
	answer  Answer
	pending []store.Event
	index   []int
	ids     []string
	sources []string
	seen    map[string]bool
}

func (b *batch) reject(i int, id, msg string, source string) {
	b.answer.Rejected = append(b.answer.Rejected, Rejected{Index: i, ID: id, Error: msg})
	b.svc.count(source, "rejected")
}

func (b *batch) ignore(i int, id, reason string, source string) {
	b.answer.Ignored = append(b.answer.Ignored, Ignored{Index: i, ID: id, Reason: reason})
	b.svc.count(source, "ignored")
}

func (b *batch) add(i int, rec Record, recErr error) {
	source := b.source
	if b.source == AnySource {
		source = "unknown"
		if sourceName.MatchString(rec.Source) {
			source = rec.Source
		}
	}
	if recErr != nil {
		b.reject(i, rec.ID, recErr.Error(), source)
		return
	}
	ev, problem := b.check(rec)
	switch {
	case problem != "":
		b.reject(i, rec.ID, problem, source)
	case ev == nil:
		// check ignored it and said why
	default:
		if rec.Source != "" && b.source != AnySource && rec.Source != b.source {
			b.reject(i, rec.ID, fmt.Sprintf("source %q does not match the token's source %q", rec.Source, b.source), source)
			return
		}
		// A tap counts when attendance did on its day: a late tap of a day
		// before the switch went off is still taken.
		if ev.Activity == tapIn && !b.pol.Doc.AttendanceOn(ev.Day.String()).IsEnabled() {
			b.ignore(i, rec.ID, ReasonAttendanceOff, source)
			return
		}
		if ev.Day.Before(b.pol.Calendar.FirstDay()) || b.pol.Calendar.LastDay().Before(ev.Day) {
			b.ignore(i, rec.ID, ReasonOutsideYear, source)
			return
		}
		// Event ids are unique per source, not across sources: each
		// source's ids are its own (store.ScopedID).
		ev.ID = store.ScopedID(source, ev.ID)
		b.pending = append(b.pending, *ev)
		b.index = append(b.index, i)
		b.ids = append(b.ids, rec.ID)
		b.sources = append(b.sources, source)
	}
}

var tapIn, _ = v1alpha1.ActivityIndex(string(v1alpha1.TapIn))

// check validates one record; it returns the event, or why it is rejected.
func (b *batch) check(rec Record) (*store.Event, string) {
	switch {
	case rec.ID == "":
		return nil, "id is empty"
	case len(rec.ID) > maxIDLen:
		return nil, fmt.Sprintf("id is longer than %d characters", maxIDLen)
	case rec.Student == "":
		return nil, "student is empty"
	case len(rec.Student) > maxStudentLen:
		return nil, fmt.Sprintf("student is longer than %d characters", maxStudentLen)
	case !studentID.MatchString(rec.Student):
		return nil, "student may hold only letters, digits and . _ @ -"
	}
	activity, ok := v1alpha1.ActivityIndex(rec.Activity)
	if !ok {
		return nil, fmt.Sprintf("unknown activity %q", rec.Activity)
	}
	at, err := time.Parse(time.RFC3339Nano, rec.At)
	if err != nil {
		return nil, fmt.Sprintf("at %q is not an RFC 3339 time such as 2026-10-05T09:00:00Z", rec.At)
	}
	if at.After(b.now.Add(maxAhead)) {
		return nil, fmt.Sprintf("at %s is in the future", rec.At)
	}
	late := b.pol.Doc.Privacy.LateArrivalDaysOr(v1alpha1.DefaultLateArrivalDays)
	if b.now.Sub(at) > time.Duration(late)*24*time.Hour && !b.svc.Backfill[b.source] {
		return nil, fmt.Sprintf("at %s is older than the late-arrival window of %d days", rec.At, late)
	}
	return &store.Event{ID: rec.ID, Student: rec.Student, Activity: activity, Day: calendar.DayOf(at.In(b.pol.Calendar.Location()))}, ""
}

// flush sends the pending events to Redis and records their outcomes.
func (b *batch) flush() error {
	if len(b.pending) == 0 {
		return nil
	}
	rec := store.Recorder{Client: b.svc.Redis, Retention: eventRetention(b.pol), Now: b.svc.Now}
	outcomes, err := rec.Record(b.ctx, b.pending)
	if err != nil {
		return err
	}
	for j, o := range outcomes {
		switch o {
		case store.Counted:
			b.seen[b.sources[j]] = true
			b.answer.Accepted++
			b.svc.count(b.sources[j], "accepted")
		case store.Duplicate:
			b.answer.Duplicates++
			b.svc.count(b.sources[j], "duplicate")
		case store.UnknownStudent:
			b.ignore(b.index[j], b.ids[j], ReasonUnknownStudent, b.sources[j])
		}
	}
	b.pending, b.index, b.ids, b.sources = b.pending[:0], b.index[:0], b.ids[:0], b.sources[:0]
	return nil
}

func (s *Service) count(source, outcome string) {
	if s.events != nil {
		s.events.WithLabelValues(source, outcome).Inc()
	}
}
