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
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/services/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/policy"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

var now = time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)

const password = "correct horse battery"

type fixture struct {
	url string
	rdb *redis.Client
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
	}
	must(t, store.PutStudents(ctx, rdb, students))
	must(t, store.PutStaff(ctx, rdb, []store.Staff{
		{ID: "t1", Name: "Dr Tutor", Email: "t1@example.ac.uk", Department: "Maths", Role: "tutor"},
		{ID: "o1", Name: "History Office", Department: "History", Role: "staff"},
	}))
	must(t, store.PutTutors(ctx, rdb, []store.Tutoring{{Staff: "t1", Student: "s1"}}))
	day, _ := calendar.ParseDay("2026-10-19")
	_, err = store.Recorder{Client: rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, []store.Event{
		{ID: "e1", Student: "s1", Activity: 0, Day: day}, {ID: "e2", Student: "s1", Activity: 5, Day: day}, {ID: "e3", Student: "s1", Activity: 8, Day: day},
	})
	must(t, err)

	log := slog.New(slog.DiscardHandler)
	sco := server.New(server.Options{Name: "scoring", Logger: log})
	(&scoring.Service{Redis: rdb, Policy: pol, Now: func() time.Time { return now }, CacheTTL: time.Minute}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)

	hash, err := HashPassword(password)
	must(t, err)
	users := map[string]User{}
	for _, u := range []User{{"s1", hash, "s1", RoleStudent}, {"s2", hash, "s2", RoleStudent}, {"x1", hash, "x1", RoleStudent},
		{"t1", hash, "t1", RoleTutor}, {"o1", hash, "o1", RoleStaff}} {
		users[u.Username] = u
	}
	ps := server.New(server.Options{Name: "portal", Logger: log})
	p := &Portal{Redis: rdb, Policy: pol, ScoringURL: scoringTS.URL, Users: users, Now: func() time.Time { return now }}
	must(t, p.Register(ps.Echo))
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)
	return &fixture{url: ts.URL, rdb: rdb}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in and returns a client holding the session cookie.
func (f *fixture) login(t testing.TB, user, pass string) (*http.Client, int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, page := fetch(t, c, f.url+"/login")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the login page")
	}
	resp, err := c.PostForm(f.url+"/login", url.Values{"username": {user}, "password": {pass}, "csrf": {m[1]}})
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

// TestWhoMaySeeWhom is the matrix of role x record: legitimate need or 404.
func TestWhoMaySeeWhom(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	cases := []struct {
		user, path string
		want       int
	}{
		{"s1", "/me", 200}, {"s1", "/students/s1", 200}, {"s1", "/students/s2", 404}, {"s1", "/students/nobody", 404},
		{"t1", "/students/s1", 200}, // tutee
		{"t1", "/students/s2", 200}, // same department
		{"t1", "/students/s3", 404}, // another department, not a tutee
		{"o1", "/students/s3", 200}, {"o1", "/students/s1", 404},
		{"t1", "/students", 200}, {"s1", "/students", 200}, // a student is sent to /me
	}
	for _, tc := range cases {
		c, status, _ := f.login(t, tc.user, password)
		if status != 200 {
			t.Fatalf("%s: login %d", tc.user, status)
		}
		if got, body := fetch(t, c, f.url+tc.path); got != tc.want {
			t.Errorf("%s GET %s: %d, want %d: %.200s", tc.user, tc.path, got, tc.want, body)
		}
	}
	entries, err := f.rdb.XRange(context.Background(), AuditStream, "-", "+").Result()
	must(t, err)
	var views, denials int
	for _, e := range entries {
		switch e.Values["what"] {
		case "view student":
			views++
		case "denied: view student":
			denials++
		}
	}
	// Staff views: t1->s1, t1->s2, o1->s3; denials: s1->s2, s1->nobody, t1->s3, o1->s1.
	if views != 3 || denials != 4 {
		t.Errorf("audit has %d views and %d denials, want 3 and 4: %v", views, denials, entries)
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
	// No session, no page; a form without its token is refused.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if status, _ := fetch(t, c, f.url+"/me"); status != http.StatusSeeOther {
		t.Errorf("no session: %d", status)
	}
	resp, err := http.PostForm(f.url+"/login", url.Values{"username": {"s1"}, "password": {password}})
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d", resp.StatusCode)
	}
}

func TestStudentPageShowsBandWhyTrendAndAttendanceOff(t *testing.T) {
	f := start(t, "attendance:\n    enabled: false\n    reason: \"No physical teaching this term.\"")
	c, _, _ := f.login(t, "s1", password)
	status, page := fetch(t, c, f.url+"/me")
	if status != 200 {
		t.Fatalf("%d", status)
	}
	for _, want := range []string{`id="band"`, "<svg", "What made it", "Moodle course pages", `id="attendance-off"`, "No physical teaching this term.",
		"Shown for your information", "Dr Tutor", "The same figures as a table"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
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
