package portal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// addPhysics puts ten Physics and ten Chemistry students on the roster,
// enough to show, the first of them with activity this week. With both,
// one of them is shown alone: Chemistry, the first of two of a size, is
// merged with Maths and History (four students) so that theirs cannot be
// worked out from the university's figure.
func addPhysics(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	students := make([]store.Student, 20)
	for i := range students {
		dept, course := "Physics", "BSc Physics"
		if i >= 10 {
			dept, course = "Chemistry", "BSc Chemistry"
		}
		students[i] = store.Student{ID: fmt.Sprintf("p%02d", i), Name: fmt.Sprintf("Phys Student %d", i), Email: fmt.Sprintf("p%02d@example.ac.uk", i),
			Department: dept, Course: course, Year: 1 + i%2, Level: "ug", Mode: "FT"}
	}
	must(t, store.PutStudents(ctx, f.rdb, students))
	day, _ := calendar.ParseDay("2026-10-19")
	_, err := store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, []store.Event{
		{ID: "pe1", Student: "p00", Activity: 5, Day: day}, {ID: "pe2", Student: "p00", Activity: 6, Day: day},
	})
	must(t, err)
}

// TestUniversityPage: the LEAP team's page has the university's chart,
// Physics's and the merged departments', each with its title,
// description and table, the alerts by department and the freshness
// table, and is linked from /admin; Maths (four students) and History
// (one) are too small to be named in any figure. Everyone else gets
// /admin's 404.
func TestUniversityPage(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	addPhysics(t, f)
	lt := f.signIn(t, "lt")

	_, admin := fetch(t, lt.Client, f.url+"/admin")
	if !strings.Contains(admin, `href="/admin/university"`) {
		t.Errorf("/admin does not link the university page")
	}
	status, page := fetch(t, lt.Client, f.url+"/admin/university")
	if status != http.StatusOK {
		t.Fatalf("/admin/university: %d: %.300s", status, page)
	}
	for _, want := range []string{
		`<svg class="distribution"`, `id="university-title"`, `id="university-desc"`, `id="dept-0-h">Physics</h3>`,
		`<caption>The whole university: students in each band`, `<caption>Physics: students in each band`,
		`<th scope="row">2026-10-19 (so far)</th>`, `id="alerts"`, `<a href="/students?department=Physics&amp;alert=any">Physics</a>`,
		`id="freshness"`, `id="rest-h">Other departments, merged</h3>`, `3 departments are not shown alone`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if n := strings.Count(page, `<svg class="distribution"`); n != 3 {
		t.Errorf("%d charts, want the university's, Physics's and the merged departments'", n)
	}
	for _, small := range []string{"Maths", "History"} {
		if strings.Contains(page, small) {
			t.Errorf("the page names %s, a department too small to show", small)
		}
	}

	for _, user := range []string{"t1", "o1", "s1"} {
		c := f.signIn(t, user)
		_, want404 := fetch(t, c.Client, f.url+"/admin")
		status, body := fetch(t, c.Client, f.url+"/admin/university")
		// The same answer but for the address it names.
		want404 = strings.ReplaceAll(want404, `"/admin"`, `"/admin/university"`)
		if status != http.StatusNotFound || body != want404 {
			t.Errorf("%s: /admin/university %d, want /admin's 404:\n%s\n%s", user, status, body, want404)
		}
	}
}

// TestUniversityPageClock: on a Saturday the week in progress is the
// week so far, with the rest of the year's weeks before it; before the
// year begins the page says there is nothing to show yet. Answers, not
// errors.
func TestUniversityPageClock(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	addPhysics(t, f)

	// Signed in at each time: a session lasts 12 hours at most.
	f.clock.Set(time.Date(2026, 10, 24, 11, 0, 0, 0, time.UTC))
	lt := f.signIn(t, "lt")
	status, page := fetch(t, lt.Client, f.url+"/admin/university")
	if status != http.StatusOK || !strings.Contains(page, `<th scope="row">2026-10-19 (so far)</th>`) || strings.Count(page, `<th scope="row">2026-10-05</th>`) != 3 ||
		!strings.Contains(page, "figures as of Saturday 24 October") {
		t.Errorf("on Saturday: %d: %.600s", status, page)
	}

	f.clock.Set(time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC))
	lt = f.signIn(t, "lt")
	status, page = fetch(t, lt.Client, f.url+"/admin/university")
	if status != http.StatusOK || !strings.Contains(page, `id="no-weeks"`) || strings.Contains(page, "<svg") {
		t.Errorf("before the year: %d: %.300s", status, page)
	}
}

// TestUniversityPageStoreDown: when scoring cannot reach Redis, the page
// is a 503 in the portal's layout that says so, not a 500 or a 502.
func TestUniversityPageStoreDown(t *testing.T) {
	pol := policy.Static(typicalPolicy(t))
	portalRedis := redistest.Start(t).Client(t)
	scoringRedis := redistest.Start(t)
	sco := server.New(server.Options{Name: "scoring", Logger: slog.New(slog.DiscardHandler)})
	(&scoring.Service{Redis: scoringRedis.Client(t), Policy: pol, Now: func() time.Time { return now }}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)
	hash, err := HashPassword(password)
	must(t, err)
	ps := server.New(server.Options{Name: "portal", Logger: slog.New(slog.DiscardHandler)})
	newPortal(t, ps.Echo, Config{Redis: portalRedis, Policy: pol, ScoringURL: scoringTS.URL, Now: func() time.Time { return now },
		Users: map[string]User{"lt": {"lt", hash, "lt1", RoleLEAPTeam}}})
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)
	f := &fixture{url: ts.URL}
	lt := f.signIn(t, "lt")
	scoringRedis.Stop()

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/admin/university", nil)
	req.Header.Set("Accept", "text/html,*/*;q=0.8")
	resp, err := lt.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	body := string(b)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "the data store cannot be reached") || strings.Contains(body, "goroutine") {
		t.Errorf("store down: %d %s: %.400s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
