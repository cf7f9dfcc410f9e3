package ingestion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/ingestion/xapi"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// xAPI: LEAP takes statements as a Learning Record Store would
// (POST and PUT /xapi/statements, xAPI 1.0.3 and 2.0.0), maps each to a
// LEAP activity with the policy's table, and counts it exactly like a
// native event: the statement id is the event id, through the same checks
// and the same atomic record script.
//
// A statement id already held never changes. The fingerprint of every
// statement taken is kept in Redis under leap:xapi:<source>:<id> (one key per
// statement, no hash tag, so the keys spread over a Cluster and every
// operation on them is on one key), for as long as event ids are kept plus
// a day; the same id with the same content is a success, with other
// content a 409. Statements that map to nothing keep their fingerprint too.
//
// A statement without an id gets a name-based UUID (version 5) derived from
// its fingerprint: sending the same statement again (as Moodle does after a
// failed delivery, its statements carrying no ids) gives the same id and
// counts once.

// XAPIVersionHeader is the header of the xAPI version, on every request
// and every answer.
const XAPIVersionHeader = "X-Experience-API-Version"

// maxVerbLabels bounds the verb label of the ignored-statements metric:
// the first verbs a process sees keep their IRI, later ones count as other.
const maxVerbLabels = 200

// Why a statement is acknowledged but not counted, beyond the reasons of
// xapi.Mapper.Match: the reason label of leap_xapi_statements_ignored_total.
// The reasons of the event checks (attendance off, outside the year, not in
// the roster) are the same as for native events.
const (
	// The actor is a Group: LEAP counts the activity of one student.
	xapiGroupActor = "group_actor"
	// The actor is known by openid only, which the roster does not hold.
	xapiOpenIDActor = "openid_actor"
	// The actor's account has a home page spec.xapi.accountHomePages does not accept.
	xapiHomePage = "home_page_not_accepted"
	// The actor is not a student of the roster.
	xapiUnknownStudent = "unknown_student"
	xapiAttendanceOff  = "attendance_off"
	xapiOutsideYear    = "outside_year"
	// The event failed a check of native events: older than the
	// late-arrival window, in the future, or a student id LEAP cannot hold.
	xapiTooLate    = "too_late"
	xapiFuture     = "in_the_future"
	xapiNotAnEvent = "not_an_event"
)

// xapiState is the xAPI part of the service.
type xapiState struct {
	ignored *prometheus.CounterVec
	mapper  atomic.Pointer[xapi.Mapper]

	mu    sync.Mutex
	verbs map[string]bool
}

var xapiVersion = regexp.MustCompile(`^(1|2)\.0(\.\d+)?$`)

func (s *Service) registerXAPI(e *echo.Echo, reg prometheus.Registerer) {
	s.xapi = &xapiState{verbs: map[string]bool{}}
	s.xapi.ignored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leap_xapi_statements_ignored_total",
		Help: "xAPI statements acknowledged but not counted, by verb and reason (unmapped, incomplete, unknown_student, ...).",
	}, []string{"verb", "reason"})
	reg.MustRegister(s.xapi.ignored)
	// The About resource needs neither credentials nor a version, as
	// xAPI says; every answer carries the version header.
	g := e.Group("/xapi", xapiVersionHeader)
	g.GET("/about", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"version": []string{"1.0.3", "2.0.0"}})
	})
	g.Group("", s.authenticate("leap-xapi", true), xapiRequireVersion).Any("/statements", s.xapiStatements)
}

// xapiVersionHeader sets the version header on every answer: 2.0.0 to a
// request of 2.0.x, else 1.0.3.
func xapiVersionHeader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		version := c.Request().Header.Get(XAPIVersionHeader)
		v2 := xapiVersion.MatchString(version) && version[0] == '2'
		answer := "1.0.3"
		if v2 {
			answer = "2.0.0"
		}
		c.Response().Header().Set(XAPIVersionHeader, answer)
		c.Set("xapi2", v2)
		return next(c)
	}
}

// xapiRequireVersion refuses a request without a version xAPI defines.
func xapiRequireVersion(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		version := c.Request().Header.Get(XAPIVersionHeader)
		switch {
		case version == "":
			return server.Problem(http.StatusBadRequest, "xAPI version required: send the header "+XAPIVersionHeader+": 1.0.3 (or 2.0.0)")
		case !xapiVersion.MatchString(version):
			return server.Problemf(http.StatusBadRequest, "unsupported xAPI version: %s %q: LEAP takes 1.0.x and 2.0.x", XAPIVersionHeader, version)
		}
		return next(c)
	}
}

func (s *Service) xapiStatements(c echo.Context) error {
	switch c.Request().Method {
	case http.MethodPost:
		return s.putStatements(c, false)
	case http.MethodPut:
		return s.putStatements(c, true)
	}
	c.Response().Header().Set(echo.HeaderAllow, "POST, PUT")
	return server.Problem(http.StatusMethodNotAllowed, "LEAP takes statements (POST, PUT /xapi/statements); it does not serve them back")
}

// mapperOf is the mapping table of a policy, built once per policy.
func (s *Service) mapperOf(l *policy.Loaded) *xapi.Mapper {
	if m := s.xapi.mapper.Load(); m != nil && m.Hash == l.Hash {
		return m
	}
	m := xapi.NewMapper(l)
	s.xapi.mapper.Store(m)
	return m
}

// bodies are reused request buffers: a batch of statements is read whole
// before anything is stored, since a bad statement refuses the batch.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// taken is one statement of a request and what becomes of it.
type taken struct {
	xapi.Statement
	// repeat is the index of an identical statement earlier in the batch.
	repeat int
	// claimed: this request wrote the fingerprint.
	claimed  bool
	student  string
	activity string
	reason   string
}

// putStatements takes a POST or PUT of statements in phases: the request,
// the body, the ids, the claim of each id, the students, the record. From
// the claim until the record, a request that fails takes back the
// fingerprints it wrote, in one deferred rollback.
func (s *Service) putStatements(c echo.Context, put bool) error {
	ctx := c.Request().Context()
	source := c.Get("source").(string)
	statementID, err := statementIDOf(c, put)
	if err != nil {
		return err
	}
	pol := s.Policy.Current()
	mp := s.mapperOf(pol)
	read, err := s.readStatements(c, xapi.Options{Single: put, V2: c.Get("xapi2").(bool), ExtKeys: mp.ExtKeys})
	if err != nil {
		return err
	}
	received := s.Now()
	sts, err := identify(read, put, statementID, received)
	if err != nil {
		return err
	}

	// Ids are the source's own: the any-source token of the demo counts
	// its statements as source xapi.
	scope := source
	if source == AnySource {
		scope = "xapi"
	}
	recorded := false
	defer func() {
		if !recorded {
			s.release(scope, sts)
		}
	}()
	conflict, err := s.claim(ctx, scope, sts, pol)
	if err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	if conflict >= 0 {
		return server.Problemf(http.StatusConflict,
			"%s.id: statement %s is already held with different content; a statement id never changes", pathAt(conflict, put), sts[conflict].ID)
	}
	if err := s.findStudents(ctx, sts, mp); err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	if err := s.recordStatements(ctx, source, pol, sts, received); err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	recorded = true

	if put {
		return c.NoContent(http.StatusNoContent)
	}
	ids := make([]string, len(sts))
	for i := range sts {
		ids[i] = sts[i].ID
	}
	return c.JSON(http.StatusOK, ids)
}

// statementIDOf checks the parameters and the media type of a request of
// statements, and gives the statement id of a PUT, lower-case.
func statementIDOf(c echo.Context, put bool) (string, error) {
	q := c.QueryParams()
	for name := range q {
		if !put || name != "statementId" {
			return "", server.Problemf(http.StatusBadRequest, "%s /xapi/statements takes no parameter %q", c.Request().Method, name)
		}
	}
	statementID := q.Get("statementId")
	if put {
		if statementID == "" {
			return "", server.Problem(http.StatusBadRequest, "statementId required: PUT /xapi/statements?statementId=UUID")
		}
		if !xapi.IsUUID(statementID) {
			return "", server.Problemf(http.StatusBadRequest, "statementId %q is not a UUID", statementID)
		}
		statementID = strings.ToLower(statementID)
	}
	switch mediaType(c) {
	case "", "application/json":
	case "multipart/mixed":
		return "", server.Problem(http.StatusBadRequest, "LEAP keeps no attachments: send the statements as application/json, without attachment content")
	default:
		return "", server.Problem(http.StatusBadRequest, "send the statements as application/json")
	}
	return statementID, nil
}

// readStatements reads the body whole, before anything is stored, and
// parses it; a malformed statement is a problem naming its path.
func (s *Service) readStatements(c echo.Context, opt xapi.Options) ([]xapi.Statement, error) {
	body, err := s.body(c)
	if err != nil {
		return nil, err
	}
	buf := bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4<<20 {
			buf.Reset()
			bodies.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, readError(err, s.MaxBodyBytes)
	}
	read, err := xapi.Parse(buf.Bytes(), opt)
	var se *xapi.Error
	if errors.As(err, &se) {
		return nil, server.Problem(se.Status, se.Error())
	}
	return read, err
}

// identify gives each statement its id: the one of the URL for a PUT, the
// statement's own, or one made from its content. A batch that names an id
// twice is refused; a statement without an id sent twice in a batch is a
// repeat of the first. Statements without a timestamp take received.
func identify(read []xapi.Statement, put bool, statementID string, received time.Time) ([]taken, error) {
	sts := make([]taken, len(read))
	first := map[string]int{}
	for i := range read {
		t := &sts[i]
		t.Statement, t.repeat = read[i], -1
		at := pathAt(i, put)
		derived := false
		switch {
		case put && t.ID != "" && t.ID != statementID:
			return nil, server.Problemf(http.StatusBadRequest, "%s.id: %s differs from statementId %s", at, t.ID, statementID)
		case put:
			t.ID = statementID
		case t.ID == "":
			t.ID, derived = xapi.DerivedID(t.Fingerprint), true
		}
		if j, seen := first[t.ID]; seen {
			if !derived || sts[j].Fingerprint != t.Fingerprint {
				return nil, server.Problemf(http.StatusBadRequest, "%s.id: the batch holds statement %s twice (also at %s)", at, t.ID, pathAt(j, put))
			}
			t.repeat = j
			continue
		}
		first[t.ID] = i
		if !t.HasTimestamp {
			t.Timestamp = received
		}
	}
	return sts, nil
}

// findStudents maps each statement to its activity and finds its student:
// by account, or by mbox in the roster. What has neither gets its reason.
func (s *Service) findStudents(ctx context.Context, sts []taken, mp *xapi.Mapper) error {
	var byMbox []int
	for i := range sts {
		t := &sts[i]
		if t.repeat >= 0 {
			continue
		}
		var reason string
		t.activity, reason = mp.Match(&t.Statement)
		switch {
		case t.activity == "":
			t.reason = reason
		case t.Actor.Group:
			t.reason = xapiGroupActor
		case t.Actor.Name != "":
			if mp.AcceptsHomePage(t.Actor.HomePage) {
				t.student = t.Actor.Name
			} else {
				t.reason = xapiHomePage
			}
		case t.Actor.MboxSHA1 != "":
			byMbox = append(byMbox, i)
		default:
			t.reason = xapiOpenIDActor
		}
	}
	if len(byMbox) == 0 {
		return nil
	}
	hashes := make([]string, len(byMbox))
	for j, i := range byMbox {
		hashes[j] = sts[i].Actor.MboxSHA1
	}
	students, err := store.StudentsByMbox(ctx, s.Redis, hashes)
	if err != nil {
		return err
	}
	for j, i := range byMbox {
		if students[j] == "" {
			sts[i].reason = xapiUnknownStudent
		}
		sts[i].student = students[j]
	}
	return nil
}

// recordStatements counts the statements that have a student and an
// activity through the path of native events, and counts the others as
// ignored, by verb and reason.
func (s *Service) recordStatements(ctx context.Context, source string, pol *policy.Loaded, sts []taken, received time.Time) error {
	recordSource := ""
	if source == AnySource {
		recordSource = "xapi"
	}
	b := s.newBatch(ctx, source, pol)
	b.now = received // the clock of the checks is the clock of the missing timestamps
	for i := range sts {
		t := &sts[i]
		if t.repeat >= 0 || t.reason != "" {
			continue
		}
		b.add(i, Record{ID: t.ID, Student: t.student, Activity: t.activity, At: t.Timestamp.UTC().Format(time.RFC3339Nano), Source: recordSource}, nil)
	}
	if err := b.flush(); err != nil {
		return err
	}
	b.markFresh()
	for _, ig := range b.answer.Ignored {
		sts[ig.Index].reason = ignoredLabel(ig.Reason)
	}
	for _, rj := range b.answer.Rejected {
		sts[rj.Index].reason = rejectedLabel(rj.Error)
	}
	for i := range sts {
		if sts[i].reason != "" {
			s.xapi.ignored.WithLabelValues(s.verbLabel(sts[i].Verb), sts[i].reason).Inc()
		}
	}
	return nil
}

func pathAt(i int, single bool) string {
	if single {
		return "$"
	}
	return "$[" + strconv.Itoa(i) + "]"
}

// claim writes the fingerprint of each statement under its id unless the
// id is held, and returns the index of the first statement whose id is held
// with another fingerprint, or -1.
func (s *Service) claim(ctx context.Context, source string, sts []taken, pol *policy.Loaded) (int, error) {
	ttl := int64((eventRetention(pol) + 24*time.Hour).Seconds())
	pipe := s.Redis.Pipeline()
	cmds := make([]*redis.Cmd, len(sts))
	for i := range sts {
		if sts[i].repeat < 0 {
			cmds[i] = pipe.Do(ctx, "set", store.XAPIStatementKey(source, sts[i].ID), xapi.FingerprintHex(sts[i].Fingerprint), "nx", "get", "ex", ttl)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return -1, fmt.Errorf("claim statement ids: %w", err)
	}
	conflict := -1
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		held, err := cmd.Text()
		switch {
		case errors.Is(err, redis.Nil):
			sts[i].claimed = true
		case err != nil:
			return -1, fmt.Errorf("claim statement ids: %w", err)
		case held != xapi.FingerprintHex(sts[i].Fingerprint) && conflict < 0:
			conflict = i
		}
	}
	return conflict, nil
}

// releaseScript deletes a fingerprint only while it is the one this
// request wrote.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// release takes back the fingerprints a refused request wrote, so that
// nothing of it remains; best effort, since Redis may be what failed.
func (s *Service) release(source string, sts []taken) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pipe := s.Redis.Pipeline()
	n := 0
	for i := range sts {
		if sts[i].claimed {
			releaseScript.Eval(ctx, pipe, []string{store.XAPIStatementKey(source, sts[i].ID)}, xapi.FingerprintHex(sts[i].Fingerprint))
			n++
		}
	}
	if n == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.Log.WarnContext(ctx, "xAPI statement ids of a refused request not released", slog.String("source", source), slog.Int("statements", n), slog.String("error", err.Error()))
	}
}

// ignoredLabel and rejectedLabel turn the reasons of the event checks into
// reason labels.
func ignoredLabel(reason string) string {
	switch reason {
	case ReasonAttendanceOff:
		return xapiAttendanceOff
	case ReasonOutsideYear:
		return xapiOutsideYear
	case ReasonUnknownStudent:
		return xapiUnknownStudent
	}
	return "other"
}

func rejectedLabel(problem string) string {
	switch {
	case strings.Contains(problem, "late-arrival window"):
		return xapiTooLate
	case strings.Contains(problem, "in the future"):
		return xapiFuture
	}
	return xapiNotAnEvent
}

func (s *Service) verbLabel(verb string) string {
	x := s.xapi
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.verbs[verb] {
		return verb
	}
	if len(x.verbs) < maxVerbLabels && len(verb) <= 256 {
		x.verbs[verb] = true
		return verb
	}
	return "other"
}
