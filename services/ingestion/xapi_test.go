package ingestion

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/ingestion/xapi"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// xcall is one request to the xAPI endpoint; by default a POST of JSON with
// version 1.0.3 and the Moodle token as Basic auth, as Moodle sends.
type xcall struct {
	method, path, body string
	version            string // "-" for none
	auth               string // Authorization; "-" for none
	ctype              string
}

type xanswer struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) xapi(t testing.TB, c xcall) xanswer {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.path == "" {
		c.path = "/xapi/statements"
	}
	req, _ := http.NewRequest(c.method, f.url+c.path, strings.NewReader(c.body))
	switch c.ctype {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", c.ctype)
	}
	switch c.version {
	case "":
		req.Header.Set(XAPIVersionHeader, "1.0.3")
	case "-":
	default:
		req.Header.Set(XAPIVersionHeader, c.version)
	}
	switch c.auth {
	case "":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("moodle:"+token)))
	case "-":
	default:
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != server.ProblemContentType {
		t.Errorf("%s %s: error %d answered as %q, want problem+json", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get(XAPIVersionHeader) == "" {
		t.Errorf("%s %s: %d answered without %s", c.method, c.path, resp.StatusCode, XAPIVersionHeader)
	}
	return xanswer{resp.StatusCode, resp.Header, b}
}

func (a xanswer) want(t testing.TB, status int) xanswer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	return a
}

func (a xanswer) ids(t testing.TB) []string {
	t.Helper()
	var ids []string
	if err := json.Unmarshal(a.body, &ids); err != nil {
		t.Fatalf("answer %s: %v", a.body, err)
	}
	return ids
}

func (a xanswer) detail(t testing.TB) string {
	t.Helper()
	var p server.ProblemDetails
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("problem %s: %v", a.body, err)
	}
	return p.Detail
}

func fixtureFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("xapi", "testdata", "statements", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withEmails gives Ada and Ben their email addresses, for actors by mbox.
func (f *fixture) withEmails(t testing.TB) {
	t.Helper()
	body := `[{"id":"s1","name":"Ada","email":"Ada.Byron@uni.example","department":"Maths","course":"BSc Mathematics","year":1,"level":"UG","mode":"FT"},
	{"id":"s2","name":"Ben","email":"Ben.Carter@uni.example","department":"Maths","course":"BSc Mathematics","year":2,"level":"UG","mode":"PT"}]`
	var a RosterAnswer
	f.post(t, "/v1/roster/students", "application/json", rosterToken, body, http.StatusOK, &a)
	if a.Accepted != 2 {
		t.Fatalf("roster %+v", a)
	}
}

func activityIndex(t testing.TB, key string) int {
	i, ok := v1alpha1.ActivityIndex(key)
	if !ok {
		t.Fatalf("unknown activity %s", key)
	}
	return i
}

func (f *fixture) ignored(verb, reason string) float64 {
	return testutil.ToFloat64(f.svc.xapi.ignored.WithLabelValues(verb, reason))
}

// TestXAPIFixturesCountLikeNativeEvents posts every fixture, as Moodle and
// the Jisc recipes shape statements, and finds each student's day counted
// by the default mapping; what maps to nothing is acknowledged and counted
// as ignored, per verb.
func TestXAPIFixturesCountLikeNativeEvents(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	f.withEmails(t)
	files, _ := filepath.Glob(filepath.Join("xapi", "testdata", "statements", "*.json"))
	for _, p := range files {
		name := filepath.Base(p)
		body := fixtureFile(t, name)
		ids := f.xapi(t, xcall{body: body}).want(t, http.StatusOK).ids(t)
		if sts, err := xapi.Parse([]byte(body), xapi.Options{}); err != nil || len(ids) != len(sts) {
			t.Errorf("%s: %d ids for %d statements (%v)", name, len(ids), len(sts), err)
		}
		// The ids are the statements' own, in order.
		for _, id := range regexp.MustCompile(`"id": "([0-9a-f-]{36})"`).FindAllStringSubmatch(body, -1) {
			if !strings.Contains(strings.Join(ids, " "), id[1]) {
				t.Errorf("%s: id %s missing from %v", name, id[1], ids)
			}
		}
	}
	want := map[string]map[string]int32{
		"s1": {"tap_in": 1, "moodle_course": 3, "moodle_login": 2, "moodle_mobile": 3, "library_loan": 1},
		"s2": {"moodle_login": 1, "moodle_course": 7, "reading_list": 1, "listen_again": 1},
	}
	for student, acts := range want {
		got := f.counts(t, student)
		var exp store.Counts
		for k, n := range acts {
			exp[activityIndex(t, k)] = n
		}
		if got != exp {
			t.Errorf("%s: counts %v, want %v", student, got, exp)
		}
	}
	for _, c := range []struct{ verb, reason string }{
		{"http://id.tincanapi.com/verb/viewed", xapi.ReasonUnmapped},                // the dashboard
		{"https://brindlewaye.com/xAPITerms/verbs/loggedout/", xapi.ReasonUnmapped}, // logging out
		{"http://adlnet.gov/expapi/verbs/attended", xapi.ReasonIncomplete},          // the absence
	} {
		if n := f.ignored(c.verb, c.reason); n != 1 {
			t.Errorf("ignored %s %s: %v, want 1", c.verb, c.reason, n)
		}
	}

	// Everything again: acknowledged with the same ids, nothing counts twice.
	for _, p := range files {
		f.xapi(t, xcall{body: fixtureFile(t, filepath.Base(p))}).want(t, http.StatusOK)
	}
	for student, acts := range want {
		got := f.counts(t, student)
		for k, n := range acts {
			if got[activityIndex(t, k)] != n {
				t.Errorf("%s after a resend: %s %d, want %d", student, k, got[activityIndex(t, k)], n)
			}
		}
	}
}

// TestXAPIStatementIsTheEvent: a statement id is the event id, so an event
// sent natively and then as a statement counts once.
func TestXAPIStatementIsTheEvent(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	const id = "0b6a3f2e-5d41-4c7a-9e21-7f3c2a1d8e01"
	var a Answer
	f.post(t, "/v1/events", "application/json", token, "["+event(id, "s1", "moodle_course", "2026-10-20T09:15:07Z")+"]", http.StatusOK, &a)
	if a.Accepted != 1 {
		t.Fatalf("%+v", a)
	}
	f.xapi(t, xcall{body: fixtureFile(t, "moodle_course_viewed.json")}).want(t, http.StatusOK)
	if got := f.counts(t, "s1")[activityIndex(t, "moodle_course")]; got != 1 {
		t.Errorf("moodle_course %d, want 1", got)
	}
}

func TestXAPIVersionAndCredentials(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := fixtureFile(t, "moodle_course_viewed.json")

	a := f.xapi(t, xcall{body: body, version: "-"}).want(t, http.StatusBadRequest)
	if !strings.Contains(a.detail(t), XAPIVersionHeader) || a.header.Get(XAPIVersionHeader) != "1.0.3" {
		t.Errorf("no version: %s %v", a.body, a.header)
	}
	f.xapi(t, xcall{body: body, version: "0.95"}).want(t, http.StatusBadRequest)
	f.xapi(t, xcall{body: body, version: "1.1.0"}).want(t, http.StatusBadRequest)
	a = f.xapi(t, xcall{body: body, version: "2.0.0"}).want(t, http.StatusOK)
	if a.header.Get(XAPIVersionHeader) != "2.0.0" {
		t.Errorf("a 2.0.0 request answered as %s", a.header.Get(XAPIVersionHeader))
	}
	if a = f.xapi(t, xcall{body: body, version: "1.0"}).want(t, http.StatusOK); a.header.Get(XAPIVersionHeader) != "1.0.3" {
		t.Errorf("a 1.0 request answered as %s", a.header.Get(XAPIVersionHeader))
	}

	// Basic with any user name and the token as password, or Bearer.
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	f.xapi(t, xcall{body: body, auth: basic("anything", token)}).want(t, http.StatusOK)
	f.xapi(t, xcall{body: body, auth: "Bearer " + token}).want(t, http.StatusOK)
	for _, auth := range []string{"-", basic(token, ""), basic("moodle", "wrong"), "Bearer wrong", "Token " + token} {
		a := f.xapi(t, xcall{body: body, auth: auth}).want(t, http.StatusUnauthorized)
		if got := strings.Join(a.header.Values("WWW-Authenticate"), ", "); !strings.Contains(got, "Basic") || !strings.Contains(got, "Bearer") {
			t.Errorf("401 challenges %q", got)
		}
	}
	// A credential is checked before the version.
	f.xapi(t, xcall{body: body, auth: "-", version: "-"}).want(t, http.StatusUnauthorized)

	// About needs neither.
	a = f.xapi(t, xcall{method: http.MethodGet, path: "/xapi/about", auth: "-", version: "-"}).want(t, http.StatusOK)
	if !strings.Contains(string(a.body), "1.0.3") {
		t.Errorf("about %s", a.body)
	}
	f.xapi(t, xcall{method: http.MethodGet}).want(t, http.StatusMethodNotAllowed)
	f.xapi(t, xcall{path: "/xapi/activities/state"}).want(t, http.StatusNotFound)
	f.xapi(t, xcall{body: body, ctype: "application/xml"}).want(t, http.StatusBadRequest)
	f.xapi(t, xcall{body: body, ctype: "multipart/mixed; boundary=x"}).want(t, http.StatusBadRequest)
	f.xapi(t, xcall{body: body, path: "/xapi/statements?statementId=0b6a3f2e-5d41-4c7a-9e21-7f3c2a1d8e01"}).want(t, http.StatusBadRequest)
}

func TestXAPIPutAndConflicts(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	const id = "7c1e0d2f-0a01-4b7e-9a5c-000000000001"
	body := fixtureFile(t, "odd_no_timestamp.json")
	put := func(id, body string, want int) xanswer {
		t.Helper()
		return f.xapi(t, xcall{method: http.MethodPut, path: "/xapi/statements?statementId=" + id, body: body}).want(t, want)
	}
	moodleCourse := activityIndex(t, "moodle_course")

	a := put(id, body, http.StatusNoContent)
	if len(a.body) != 0 {
		t.Errorf("204 with a body: %s", a.body)
	}
	put(strings.ToUpper(id), body, http.StatusNoContent) // the same statement: success
	if got := f.counts(t, "s2")[moodleCourse]; got != 1 {
		t.Fatalf("moodle_course %d after the same PUT twice, want 1", got)
	}
	changed := strings.Replace(body, "id=42", "id=43", 1)
	a = put(id, changed, http.StatusConflict)
	if !strings.Contains(a.detail(t), id) || !strings.Contains(a.detail(t), "never changes") {
		t.Errorf("409 detail %q", a.detail(t))
	}
	f.xapi(t, xcall{body: changed}).want(t, http.StatusConflict)
	if got := f.counts(t, "s2")[moodleCourse]; got != 1 {
		t.Errorf("a conflicting statement counted: %d", got)
	}

	// The id of the URL and of the body agree, or the request is refused.
	a = put("7c1e0d2f-0a01-4b7e-9a5c-000000000009", body, http.StatusBadRequest)
	if !strings.HasPrefix(a.detail(t), "$.id: ") {
		t.Errorf("detail %q", a.detail(t))
	}
	put("not-a-uuid", body, http.StatusBadRequest)
	f.xapi(t, xcall{method: http.MethodPut, body: body}).want(t, http.StatusBadRequest)
	f.xapi(t, xcall{method: http.MethodPut, path: "/xapi/statements?statementid=" + id, body: body}).want(t, http.StatusBadRequest)
	put(id, "["+body+"]", http.StatusBadRequest)
	// PUT without an id in the body takes the URL's.
	noID := strings.Replace(fixtureFile(t, "odd_no_id.json"), `"timestamp"`, `"result":{"completion":true},"timestamp"`, 1)
	put("7c1e0d2f-0a01-4b7e-9a5c-00000000000a", noID, http.StatusNoContent)
	put("7c1e0d2f-0a01-4b7e-9a5c-00000000000a", noID, http.StatusNoContent)
}

// TestXAPIBatchIsAllOrNothing: a batch with one conflict, one malformed
// statement or one id twice stores nothing, and leaves no fingerprint.
func TestXAPIBatchIsAllOrNothing(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	session := fixtureFile(t, "moodle_session.json")
	var sts []json.RawMessage
	if err := json.Unmarshal([]byte(session), &sts); err != nil {
		t.Fatal(err)
	}
	held := strings.Replace(string(sts[1]), "Week 3 reading", "Week 3 reading (v1)", 1)
	f.xapi(t, xcall{body: held}).want(t, http.StatusOK)
	before := f.counts(t, "s2")

	a := f.xapi(t, xcall{body: session}).want(t, http.StatusConflict)
	if !strings.HasPrefix(a.detail(t), "$[1].id: statement 3d2c1b0a-9f8e-4d7c-8b6a-5e4d3c2b1a02") {
		t.Errorf("detail %q", a.detail(t))
	}
	if got := f.counts(t, "s2"); got != before {
		t.Errorf("a refused batch counted: %v, was %v", got, before)
	}
	// Its other statements left no fingerprint: another content under their ids is taken.
	other := strings.Replace(string(sts[0]), "08:59:41", "08:59:42", 1)
	f.xapi(t, xcall{body: other}).want(t, http.StatusOK)

	twice := "[" + string(sts[2]) + "," + string(sts[3]) + "," + string(sts[2]) + "]"
	a = f.xapi(t, xcall{body: twice}).want(t, http.StatusBadRequest)
	if !strings.HasPrefix(a.detail(t), "$[2].id: the batch holds statement 3d2c1b0a-9f8e-4d7c-8b6a-5e4d3c2b1a03 twice (also at $[0])") {
		t.Errorf("detail %q", a.detail(t))
	}
	malformed := "[" + string(sts[2]) + "," + strings.Replace(string(sts[3]), `"name": "s2"`, `"name": ""`, 1) + "]"
	a = f.xapi(t, xcall{body: malformed}).want(t, http.StatusBadRequest)
	if !strings.HasPrefix(a.detail(t), "$[1].actor.account.name: must not be empty") {
		t.Errorf("detail %q", a.detail(t))
	}
	if got := f.counts(t, "s2"); got[activityIndex(t, "moodle_course")] != before[activityIndex(t, "moodle_course")] {
		t.Errorf("a refused batch counted: %v", got)
	}
	if n := f.rdb.Exists(t.Context(), store.XAPIStatementKey("moodle", "3d2c1b0a-9f8e-4d7c-8b6a-5e4d3c2b1a03")).Val(); n != 0 {
		t.Error("a refused batch left a fingerprint")
	}
}

// TestXAPIStatementsWithoutIDs: a statement without an id gets a UUID made
// from its content, so the same statement sent again counts once; two
// different ones count twice.
func TestXAPIStatementsWithoutIDs(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := fixtureFile(t, "odd_no_id.json")
	other := strings.Replace(body, "09:50:00", "09:51:00", 1)
	ids := f.xapi(t, xcall{body: "[" + body + "," + other + "," + body + "]"}).want(t, http.StatusOK).ids(t)
	uuid5 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if len(ids) != 3 || !uuid5.MatchString(ids[0]) || ids[0] == ids[1] || ids[0] != ids[2] {
		t.Fatalf("ids %v", ids)
	}
	again := f.xapi(t, xcall{body: body}).want(t, http.StatusOK).ids(t)
	if again[0] != ids[0] {
		t.Errorf("the same statement got id %s, then %s", ids[0], again[0])
	}
	if got := f.counts(t, "s2")[activityIndex(t, "moodle_course")]; got != 2 {
		t.Errorf("moodle_course %d, want 2", got)
	}
	// Without a timestamp, the time it was received: now, in the autumn term.
	f.xapi(t, xcall{body: fixtureFile(t, "odd_no_timestamp.json")}).want(t, http.StatusOK)
	if got := f.counts(t, "s2")[activityIndex(t, "moodle_course")]; got != 3 {
		t.Errorf("moodle_course %d after a statement without a timestamp, want 3", got)
	}
}

// TestXAPIIgnoredIsAcknowledged: statements LEAP does not count are
// acknowledged with their ids and counted as ignored, with the reason.
func TestXAPIIgnoredIsAcknowledged(t *testing.T) {
	f := start(t, loadPolicy(t, "attendance:\n    enabled: false\n    reason: online\n  xapi:\n    accountHomePages: [\"https://moodle.uni.example\", \"https://attendance.uni.example\"]"))
	f.withEmails(t)
	viewed := "http://id.tincanapi.com/verb/viewed"
	stmt := func(id, actor, verb, ts string) string {
		return fmt.Sprintf(`{"id":%q,"actor":%s,"verb":{"id":%q},"object":{"id":"https://moodle.uni.example/course/view.php?id=42","definition":{"type":"http://id.tincanapi.com/activitytype/lms/course"}},"context":{"platform":"Moodle"},"timestamp":%q}`,
			id, actor, verb, ts)
	}
	acct := func(home, name string) string {
		return fmt.Sprintf(`{"account":{"homePage":%q,"name":%q}}`, home, name)
	}
	batch := []string{
		stmt("11111111-0000-4000-8000-000000000001", acct("https://moodle.uni.example", "nobody"), viewed, "2026-10-20T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000002", acct("https://other.example", "s1"), viewed, "2026-10-20T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000003", `{"mbox":"mailto:stranger@uni.example"}`, viewed, "2026-10-20T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000004", `{"openid":"https://id.uni.example/ada"}`, viewed, "2026-10-20T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000005", `{"objectType":"Group","member":[{"mbox":"mailto:ada.byron@uni.example"}]}`, viewed, "2026-10-20T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000006", acct("https://moodle.uni.example", "s1"), viewed, "2026-10-01T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000007", acct("https://moodle.uni.example", "s1"), viewed, "2026-10-20T13:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000008", acct("https://moodle.uni.example", "s1"), "http://example.org/verbs/wondered", "2026-10-20T09:00:00Z"),
		stmt("11111111-0000-4000-8000-000000000009", acct("https://moodle.uni.example", "s 1"), viewed, "2026-10-20T09:00:00Z"),
		fixtureFile(t, "jisc_attendance.json"),
		stmt("11111111-0000-4000-8000-00000000000a", acct("https://MOODLE.uni.example/", "s1"), viewed, "2026-10-20T09:00:00Z"),
	}
	ids := f.xapi(t, xcall{body: "[" + strings.Join(batch, ",") + "]"}).want(t, http.StatusOK).ids(t)
	if len(ids) != len(batch) || ids[9] != "a1b2c3d4-0001-4000-8000-00000000a001" {
		t.Errorf("ids %v", ids)
	}
	for _, c := range []struct{ verb, reason string }{
		{viewed, xapiUnknownStudent}, // nobody, and the stranger's mbox
		{viewed, xapiHomePage},
		{viewed, xapiOpenIDActor},
		{viewed, xapiGroupActor},
		{viewed, xapiTooLate},
		{viewed, xapiFuture},
		{"http://example.org/verbs/wondered", xapi.ReasonUnmapped},
		{viewed, xapiNotAnEvent},
		{"http://adlnet.gov/expapi/verbs/attended", xapiAttendanceOff},
	} {
		want := 1.0
		if c.reason == xapiUnknownStudent {
			want = 2
		}
		if n := f.ignored(c.verb, c.reason); n != want {
			t.Errorf("ignored %s: %v, want %v", c.reason, n, want)
		}
	}
	c := f.counts(t, "s1")
	if c[activityIndex(t, "moodle_course")] != 1 || c[activityIndex(t, "tap_in")] != 0 {
		t.Errorf("s1 counts %v: want the one statement of an accepted home page", c)
	}
}

// good is the smallest statement LEAP takes (as in the xapi package's tests).
const good = `{"actor":{"mbox":"mailto:ada@uni.example"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},"object":{"id":"https://timetable.uni.example/e/1"}}`

func TestXAPIMalformedAndLimits(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	stmts := make([]string, 4)
	for i := range stmts {
		stmts[i] = strings.Replace(good, `"actor"`, fmt.Sprintf(`"id":"22222222-0000-4000-8000-%012d","actor"`, i), 1)
	}
	stmts[3] = strings.Replace(stmts[3], "mailto:ada@uni.example", "ada@uni.example", 1)
	a := f.xapi(t, xcall{body: "[" + strings.Join(stmts, ",") + "]"}).want(t, http.StatusBadRequest)
	if d := a.detail(t); d != "$[3].actor.mbox: must be a mailto: IRI such as mailto:ada@example.ac.uk" {
		t.Errorf("detail %q", d)
	}
	many := "[" + strings.TrimSuffix(strings.Repeat(good+",", 1001), ",") + "]"
	f.xapi(t, xcall{body: many}).want(t, http.StatusRequestEntityTooLarge)
	big := strings.Replace(good, `"actor"`, `"context":{"extensions":{"http://x.example/big":"`+strings.Repeat("x", 70<<10)+`"}},"actor"`, 1)
	f.xapi(t, xcall{body: big}).want(t, http.StatusRequestEntityTooLarge)
	f.xapi(t, xcall{body: strings.Repeat("[", 1<<20+1)}).want(t, http.StatusRequestEntityTooLarge) // over the body limit
	if n := f.rdb.Exists(t.Context(), store.XAPIStatementKey("moodle", "22222222-0000-4000-8000-000000000000")).Val(); n != 0 {
		t.Error("a malformed batch left a fingerprint")
	}
}

func TestXAPIRedisDown(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := fixtureFile(t, "moodle_session.json")
	f.redis.Stop()
	f.xapi(t, xcall{body: body}).want(t, http.StatusServiceUnavailable)
	f.redis.Restart(t)
	f.xapi(t, xcall{body: body}).want(t, http.StatusOK)
	if got := f.counts(t, "s2")[activityIndex(t, "moodle_course")]; got != 4 {
		t.Errorf("moodle_course %d after the retry, want 4", got)
	}
}

// TestXAPIConcurrentDeliveriesCountOnce sends the same statements from
// several clients at once, as replicas receiving a retried delivery would:
// every one is acknowledged, each statement counts once.
func TestXAPIConcurrentDeliveriesCountOnce(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := fixtureFile(t, "moodle_session.json")
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.xapi(t, xcall{body: body}).status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("delivery %d: status %d", i, st)
		}
	}
	c := f.counts(t, "s2")
	if c[activityIndex(t, "moodle_course")] != 4 || c[activityIndex(t, "moodle_login")] != 1 {
		t.Errorf("counts %v after six deliveries, want those of one", c)
	}
}

// TestXAPIIdsAreScopedBySource: an LRS's statement ids are unique to that
// LRS, so a statement id (and a native event id) is held per source. A
// source that sends another's id first neither makes the real statement
// answer 409 nor stops it counting.
func TestXAPIIdsAreScopedBySource(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	const id = "7c1e0d2f-0a01-4b7e-9a5c-000000000001"
	real := fixtureFile(t, "odd_no_timestamp.json")
	squat := strings.Replace(real, "id=42", "id=43", 1)
	put := func(tok, body string, want int) {
		t.Helper()
		f.xapi(t, xcall{method: http.MethodPut, path: "/xapi/statements?statementId=" + id, body: body, auth: "Bearer " + tok}).want(t, want)
	}
	moodleCourse := activityIndex(t, "moodle_course")

	put("attendance-token", squat, http.StatusNoContent) // the attendance system squats the id
	put(token, real, http.StatusNoContent)               // Moodle's own statement is taken...
	if got := f.counts(t, "s2")[moodleCourse]; got != 2 {
		t.Errorf("moodle_course %d after two sources' statements, want 2", got)
	}
	put(token, real, http.StatusNoContent) // ...once
	put(token, squat, http.StatusConflict) // and within one source an id still never changes
	put("attendance-token", squat, http.StatusNoContent)
	if got := f.counts(t, "s2")[moodleCourse]; got != 2 {
		t.Errorf("moodle_course %d after repeats, want 2", got)
	}

	// Native events: the same id from two sources is two events; from one
	// source, one.
	var a Answer
	ev := "[" + event("n-1", "s1", "moodle_course", at) + "]"
	f.post(t, "/v1/events", "application/json", "attendance-token", strings.Replace(ev, `"source":"moodle"`, `"source":"attendance"`, 1), http.StatusOK, &a)
	f.post(t, "/v1/events", "application/json", token, ev, http.StatusOK, &a)
	if a.Accepted != 1 {
		t.Errorf("moodle's event after attendance's with its id: %+v", a)
	}
	f.post(t, "/v1/events", "application/json", token, ev, http.StatusOK, &a)
	if a.Duplicates != 1 {
		t.Errorf("moodle's event again: %+v", a)
	}
}
