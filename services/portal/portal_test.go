package portal

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

var now = time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)

const password = "correct horse battery"

// TestMain makes the fixtures' password hashes cheap: at bcrypt's default
// cost every sign-in takes most of a second under the race detector.
func TestMain(m *testing.M) {
	passwordCost = bcrypt.MinCost
	dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.MinCost)
	os.Exit(m.Run())
}

type fixture struct {
	url string
	rdb *redis.Client
	// clock is what the portal and scoring take for now; tests move it.
	clock *testClock
}

// testClock is a settable clock, read by the services under test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// start runs Redis with a small roster, a scoring service and the portal.
func start(t testing.TB, attendance string) *fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "attendance:\n    enabled: true", attendance, 1)
	l, err := policy.ParseFile("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Static(l)
	r := redistest.Start(t)
	rdb := r.Client(t)
	ctx := context.Background()
	students := []store.Student{
		{ID: "s1", Name: "Ada Student", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s2", Name: "Ben Student", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s3", Name: "Cai Student", Department: "History", Course: "BA History", Year: 2, Level: "ug", Mode: "FT"},
		{ID: "x1", Name: "Xan Exchange", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT", Exchange: true},
		{ID: "r1", Name: "Rua Research", Department: "Maths", Course: "PhD Maths", Year: 1, Level: "pgr", Mode: "FT"},
	}
	must(t, store.PutStudents(ctx, rdb, students))
	must(t, store.PutStaff(ctx, rdb, []store.Staff{
		{ID: "t1", Name: "Dr Tutor", Email: "t1@example.ac.uk", Department: "Maths", Role: "tutor"},
		{ID: "o1", Name: "History Office", Department: "History", Role: "staff"},
		{ID: "lt1", Name: "Lee Team", Department: "Student Services", Role: "leap-team"},
	}))
	must(t, store.PutTutors(ctx, rdb, []store.Tutoring{{Staff: "t1", Student: "s1"}, {Staff: "t1", Student: "r1"}}))
	day, _ := calendar.ParseDay("2026-10-19")
	_, err = store.Recorder{Client: rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, []store.Event{
		{ID: "e1", Student: "s1", Activity: 0, Day: day}, {ID: "e2", Student: "s1", Activity: 5, Day: day}, {ID: "e3", Student: "s1", Activity: 8, Day: day},
	})
	must(t, err)

	log := slog.New(slog.DiscardHandler)
	clk := &testClock{t: now}
	sco := server.New(server.Options{Name: "scoring", Logger: log})
	(&scoring.Service{Redis: rdb, Policy: pol, Now: clk.Now, CacheTTL: time.Minute}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)

	hash, err := HashPassword(password)
	must(t, err)
	users := map[string]User{}
	for _, u := range []User{{"s1", hash, "s1", RoleStudent}, {"s2", hash, "s2", RoleStudent}, {"x1", hash, "x1", RoleStudent},
		{"t1", hash, "t1", RoleTutor}, {"o1", hash, "o1", RoleStaff}, {"r1", hash, "r1", RoleStudent}, {"lt", hash, "lt1", RoleLEAPTeam},
		{"t2", hash, "t2", RoleTutor}, {"t3", hash, "t3", RoleTutor}} {
		users[u.Username] = u
	}
	ps := server.New(server.Options{Name: "portal", Logger: log})
	newPortal(t, ps.Echo, Config{Redis: rdb, Policy: pol, ScoringURL: scoringTS.URL, Users: users, Now: clk.Now})
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)
	return &fixture{url: ts.URL, rdb: rdb, clock: clk}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// login signs in and returns a client holding the session cookie.
func (f *fixture) login(t testing.TB, user, pass string) (*http.Client, int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(f.url+"/login", url.Values{"username": {user}, "password": {pass}})
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return c, resp.StatusCode, string(b)
}

func fetch(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// noRedirect is c without following redirects, so that a test sees the
// 303 of a form that was taken.
func noRedirect(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// post sends a form without following the answer's redirect.
func post(t testing.TB, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	return postFrom(t, c, "", u, form)
}

// evilOrigin is another site's origin, for forms forged there.
const evilOrigin = "http://evil.example"

// postFrom sends a form as a browser sends one from a page of origin (the
// portal's own when empty), without following the answer's redirect.
func postFrom(t testing.TB, c *http.Client, origin, u string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	resp, err := noRedirect(c).Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signedIn is a signed-in user: a client with the session cookie.
type signedIn struct{ *http.Client }

// signIn signs a user in.
func (f *fixture) signIn(t testing.TB, user string) signedIn {
	t.Helper()
	c, status, _ := f.login(t, user, password)
	if status != 200 {
		t.Fatalf("%s: login %d", user, status)
	}
	return signedIn{c}
}

// form is the fields of a request.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestWhoMaySeeWhom is the matrix of role x route x record: legitimate
// need or 404, for pages and for writes; a form sent from another site is
// 403 and costs nothing; refusals and staff writes are audited.
func TestWhoMaySeeWhom(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	users := map[string]signedIn{}
	for _, u := range []string{"s1", "t1", "o1", "lt"} {
		users[u] = f.signIn(t, u)
	}
	note := []string{"text", "Met to talk about the first assignment."}
	objective := []string{"text", "Book a meeting with the library", "due", "2026-11-02"}
	challenge := []string{"date", "2026-10-19", "activity", "tap_in", "reason", "I was at the lecture."}
	cases := []struct {
		user, method, path string
		fields             []string
		crossSite          bool
		want               int
	}{
		{"s1", "GET", "/me", nil, false, 200}, {"s1", "GET", "/students/s1", nil, false, 200},
		{"s1", "GET", "/students/s2", nil, false, 404}, {"s1", "GET", "/students/nobody", nil, false, 404},
		{"t1", "GET", "/students/s1", nil, false, 200}, // tutee
		{"t1", "GET", "/students/s2", nil, false, 200}, // same department
		{"t1", "GET", "/students/s3", nil, false, 404}, // another department, not a tutee
		{"o1", "GET", "/students/s3", nil, false, 200}, {"o1", "GET", "/students/s1", nil, false, 404},
		{"t1", "GET", "/students", nil, false, 200}, {"s1", "GET", "/students", nil, false, 200}, // a student is sent to /me

		// Writes: staff with a legitimate need only; students never.
		{"s1", "POST", "/students/s1/notes", note, false, 404},
		{"s1", "POST", "/students/s2/notes", note, false, 404},
		{"s1", "POST", "/students/s1/objectives/x/state", []string{"state", "done"}, false, 404},
		{"t1", "POST", "/students/s1/notes", note, false, 303},
		{"t1", "POST", "/students/r1/objectives", objective, false, 303},                     // a research student
		{"t1", "POST", "/students/s2/referrals", []string{"service", "library"}, false, 404}, // sees, not their tutee: read-only
		{"t1", "POST", "/students/s3/notes", note, false, 404},
		{"t1", "POST", "/students/nobody/notes", note, false, 404},
		{"t1", "POST", "/students/s1/notes", note, true, 403},
		{"t1", "POST", "/students/s1/referrals", []string{"service", "astrology"}, false, 400},
		{"t1", "POST", "/students/s1/objectives", []string{"text", "Soon", "due", "next week"}, false, 400},
		{"t1", "POST", "/students/s1/objectives/nope/state", []string{"state", "done"}, false, 404},
		{"o1", "POST", "/students/s3/notes", note, false, 404}, // departmental staff read
		{"o1", "POST", "/students/s1/objectives", objective, false, 404},
		{"lt", "POST", "/students/s3/referrals", []string{"service", "wellbeing"}, false, 303},
		{"lt", "POST", "/students/s3/referrals", []string{"service", "library"}, true, 403},
		{"t1", "POST", "/students/s1/objectives/nope/state", []string{"state", "done"}, true, 403},

		// Challenges and downloads: the student, for themself only.
		{"s1", "POST", "/me/challenges", challenge, false, 303},
		{"s1", "POST", "/me/challenges", challenge, true, 403},
		{"s1", "POST", "/me/challenges", []string{"date", "2025-01-01", "activity", "tap_in", "reason", "x"}, false, 400},
		{"s1", "POST", "/me/challenges", []string{"date", "2026-10-19", "activity", "tap_in", "reason", " "}, false, 400},
		{"t1", "POST", "/me/challenges", challenge, false, 404},
		{"s1", "GET", "/me/export.json", nil, false, 200}, {"s1", "GET", "/me/export.csv", nil, false, 200},
		{"t1", "GET", "/me/export.json", nil, false, 404}, {"lt", "GET", "/me/export.csv", nil, false, 404},
	}
	for _, tc := range cases {
		u := users[tc.user]
		var got int
		var body string
		if tc.method == "GET" {
			got, body = fetch(t, u.Client, f.url+tc.path)
		} else {
			origin := ""
			if tc.crossSite {
				origin = evilOrigin
			}
			got, body = postFrom(t, u.Client, origin, f.url+tc.path, form(tc.fields...))
		}
		if got != tc.want {
			t.Errorf("%s %s %s: %d, want %d: %.200s", tc.user, tc.method, tc.path, got, tc.want, body)
		}
	}

	entries, err := f.rdb.XRange(context.Background(), AuditStream, "-", "+").Result()
	must(t, err)
	count := map[string]int{}
	for _, e := range entries {
		what, _ := e.Values["what"].(string)
		kind, _, _ := strings.Cut(what, " ")
		if strings.HasPrefix(what, "denied: ") {
			kind = what
		}
		count[kind+" "+e.Values["who"].(string)+"->"+e.Values["whom"].(string)]++
	}
	want := map[string]int{
		// Staff views and refused views.
		"view t1->s1": 1, "view t1->s2": 1, "view o1->s3": 1,
		"denied: view student s1->s2": 1, "denied: view student s1->nobody": 1, "denied: view student t1->s3": 1, "denied: view student o1->s1": 1,
		// Refused writes, a student's on their own record too.
		"denied: write note s1->s1": 1, "denied: write note s1->s2": 1, "denied: change objective s1->s1": 1,
		"denied: write note t1->s3": 1, "denied: write note t1->nobody": 1, "denied: write objective o1->s1": 1,
		"denied: challenge t1->": 1, "denied: download data t1->": 1, "denied: download data lt1->": 1,
		"denied: write referral t1->s2": 1, "denied: write note o1->s3": 1,
		// Writes that were taken: the personal tutor and the LEAP team.
		"note t1->s1": 1, "objective t1->r1": 1, "referral lt1->s3": 1,
		"challenge s1->s1": 1, "download s1->s1": 2,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("audit has %d of %q, want %d", count[k], k, n)
		}
	}
	// Nothing refused was written.
	for id, n := range map[string]int{"s1": 1, "s2": 0, "s3": 1, "r1": 1} {
		rs, err := store.ListRecords(context.Background(), f.rdb, id)
		must(t, err)
		if len(rs) != n {
			t.Errorf("%s has %d records, want %d: %+v", id, len(rs), n, rs)
		}
	}
}

func TestLoginRules(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	if _, status, body := f.login(t, "s1", "wrong"); status != 401 || !strings.Contains(body, "do not match") {
		t.Errorf("wrong password: %d", status)
	}
	if _, status, _ := f.login(t, "ghost", password); status != 401 {
		t.Errorf("unknown user: %d", status)
	}
	if _, status, body := f.login(t, "x1", password); status != 401 || !strings.Contains(body, "exchange") {
		t.Errorf("exchange student: %d %s", status, body)
	}
	for range 5 {
		f.login(t, "s2", "guess")
	}
	if _, status, body := f.login(t, "s2", password); status != 401 || !strings.Contains(body, "Too many attempts") {
		t.Errorf("after 6 attempts the right password still got in: %d", status)
	}
	// No session, no page; a sign-in form sent from another site (login
	// CSRF) is refused.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if status, _ := fetch(t, c, f.url+"/me"); status != http.StatusSeeOther {
		t.Errorf("no session: %d", status)
	}
	if status, _ := postFrom(t, c, evilOrigin, f.url+"/login", form("username", "s1", "password", password)); status != http.StatusForbidden {
		t.Errorf("sign-in from another site: %d", status)
	}
}

func TestStudentPageShowsBandWhyTrendAndAttendanceOff(t *testing.T) {
	f := start(t, "attendance:\n    enabled: false\n    reason: \"No physical teaching this term.\"")
	c, _, _ := f.login(t, "s1", password)
	status, page := fetch(t, c, f.url+"/me")
	if status != 200 {
		t.Fatalf("%d", status)
	}
	for _, want := range []string{`id="band"`, "<svg", "What made it", "Moodle course pages", "Dr Tutor", "The same figures as a table"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Each activity is a tab of its own, chosen by a query parameter.
	for tab, wants := range map[string][]string{"tap_in": {`id="attendance-off"`, "No physical teaching this term."}, "library_loan": {"Shown for your information"}} {
		_, tabPage := fetch(t, c, f.url+"/me?activity="+tab)
		for _, want := range wants {
			if !strings.Contains(tabPage, want) {
				t.Errorf("the %s tab lacks %q", tab, want)
			}
		}
	}
	resp, err := c.Get(f.url + "/me")
	must(t, err)
	_ = resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "style=") {
		t.Error("inline script or style on the page")
	}
}

// newPortal builds a portal and installs its routes on e.
func newPortal(t testing.TB, e *echo.Echo, cfg Config) *Portal {
	t.Helper()
	p, err := New(cfg)
	must(t, err)
	p.Register(e)
	return p
}
