package portal

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

type adminFixture struct {
	*fixture
	termFile string
	policy   *policy.Source
}

// startAdmin runs the portal as make run does: the policy from a LeapTerm
// file it re-reads, and a FileWriter that edits that file.
func startAdmin(t testing.TB) *adminFixture {
	t.Helper()
	return startAdminWith(t, func(s string) string { return s })
}

// adminSetup is what options change in startAdminWith.
type adminSetup struct {
	// writer wraps the FileWriter the portal writes the policy with.
	writer func(FileWriter) PolicyWriter
	// scoringRedis, when set, is the Redis scoring reads (the portal
	// keeps its own).
	scoringRedis redis.UniversalClient
}

type adminOption func(*adminSetup)

// startAdminWith is startAdmin with the sample LeapTerm file edited first.
func startAdminWith(t testing.TB, edit func(string) string, options ...adminOption) *adminFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	termFile := filepath.Join(t.TempDir(), "term.yaml")
	must(t, os.WriteFile(termFile, []byte(edit(string(b))), 0o600))
	pol, err := policy.Open(termFile, slog.New(slog.DiscardHandler))
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go pol.Watch(ctx, 20*time.Millisecond)

	r := redistest.Start(t)
	rdb := r.Client(t)
	must(t, store.PutStudents(ctx, rdb, []store.Student{{ID: "s1", Name: "Ada", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"}}))
	must(t, store.PutStaff(ctx, rdb, []store.Staff{{ID: "leap", Name: "LEAP team", Department: "Student Services", Role: RoleLEAPTeam},
		{ID: "t1", Name: "Dr Tutor", Department: "Maths", Role: RoleTutor}}))

	setup := adminSetup{writer: func(f FileWriter) PolicyWriter { return f }, scoringRedis: rdb}
	for _, o := range options {
		o(&setup)
	}
	log := slog.New(slog.DiscardHandler)
	sco := server.New(server.Options{Name: "scoring", Logger: log})
	(&scoring.Service{Redis: setup.scoringRedis, Policy: pol, Now: func() time.Time { return now }, CacheTTL: time.Minute}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)
	hash, err := HashPassword(password)
	must(t, err)
	ps := server.New(server.Options{Name: "portal", Logger: log})
	newPortal(t, ps.Echo, Config{Redis: rdb, Policy: pol, ScoringURL: scoringTS.URL, Now: func() time.Time { return now }, PolicyWriter: setup.writer(FileWriter{Path: termFile}),
		Users: map[string]User{"leap": {"leap", hash, "leap", RoleLEAPTeam}, "s1": {"s1", hash, "s1", RoleStudent}, "t1": {"t1", hash, "t1", RoleTutor}}})
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)
	return &adminFixture{fixture: &fixture{url: ts.URL, rdb: rdb}, termFile: termFile, policy: pol}
}

func TestLEAPTeamSwitchesAttendanceOffAndEveryoneSeesIt(t *testing.T) {
	f := startAdmin(t)
	c, _, _ := f.login(t, "leap", password)
	status, page := fetch(t, c, f.url+"/admin")
	if status != 200 || !strings.Contains(page, "Attendance is <strong>on</strong>") {
		t.Fatalf("admin page %d: %.300s", status, page)
	}
	// Off needs a reason, and a form sent from another site is refused.
	resp, err := c.PostForm(f.url+"/admin/attendance", url.Values{"enabled": {"false"}})
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("off without a reason: %d", resp.StatusCode)
	}
	if status, _ := postFrom(t, c, evilOrigin, f.url+"/admin/attendance", url.Values{"enabled": {"false"}, "reason": {"x"}}); status != http.StatusForbidden {
		t.Errorf("from another site: %d", status)
	}
	if !f.policy.Current().Doc.Attendance.IsEnabled() {
		t.Fatal("a form from another site switched attendance off")
	}

	resp, err = c.PostForm(f.url+"/admin/attendance", url.Values{"enabled": {"false"}, "reason": {"Teaching is online this term."}})
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.String(), "/admin?saved=attendance") {
		t.Fatalf("switch: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.policy.Current().Doc.Attendance.IsEnabled() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.policy.Current().Doc.Attendance.IsEnabled() {
		t.Fatal("the services never saw attendance switched off")
	}
	b, _ := os.ReadFile(f.termFile)
	if !strings.Contains(string(b), "# A typical academic year") || !strings.Contains(string(b), "Teaching is online this term.") {
		t.Errorf("the LeapTerm file lost its comments or the reason:\n%s", b)
	}

	sc, _, _ := f.login(t, "s1", password)
	if _, page := fetch(t, sc, f.url+"/me?activity=tap_in"); !strings.Contains(page, "Teaching is online this term.") {
		t.Error("the student's attendance tab does not say why attendance is off")
	}
	if _, page := fetch(t, c, f.url+"/admin?what=policy+change"); !strings.Contains(page, "policy change: attendance off (Teaching is online this term.)") {
		t.Error("the change is not in the audit log")
	}
}

func TestOnlyTheLEAPTeamReachesItsPages(t *testing.T) {
	f := startAdmin(t)
	for _, user := range []string{"s1", "t1"} {
		c, _, _ := f.login(t, user, password)
		if status, _ := fetch(t, c, f.url+"/admin"); status != http.StatusNotFound {
			t.Errorf("%s reached /admin: %d", user, status)
		}
	}
	c, _, _ := f.login(t, "leap", password)
	_, page := fetch(t, c, f.url+"/admin?who=t1&what=denied")
	if !strings.Contains(page, "denied: GET /admin") || strings.Contains(page, ">s1 (student)<") {
		t.Errorf("the audit filter does not show t1's refused attempt alone:\n%.2000s", page)
	}
}

func TestFreshnessFlagsALateSource(t *testing.T) {
	f := startAdmin(t)
	ctx := context.Background()
	f.rdb.HSet(ctx, store.SourcesKey, "moodle", now.Add(-time.Hour).Format(time.RFC3339), "library", now.Add(-72*time.Hour).Format(time.RFC3339))
	c, _, _ := f.login(t, "leap", password)
	_, page := fetch(t, c, f.url+"/admin")
	if !strings.Contains(page, "<td>library</td><td>"+now.Add(-72*time.Hour).Format(time.RFC3339)+"</td><td><strong>late</strong>") ||
		!strings.Contains(page, "<td>moodle</td><td>"+now.Add(-time.Hour).Format(time.RFC3339)+"</td><td>fresh</td>") {
		t.Errorf("freshness table wrong:\n%.3000s", page)
	}
}

func TestLEAPTeamDecidesAChallengeTheStudentReadsTheAnswer(t *testing.T) {
	f := startAdmin(t)
	ctx := context.Background()
	ch, err := store.AddChallenge(ctx, f.rdb, "s1", store.Challenge{Date: "2026-10-19", Activity: "moodle_login", Reason: "I was in hospital that day."})
	must(t, err)

	tc, _, _ := f.login(t, "t1", password)
	resp, err := tc.PostForm(f.url+"/admin/challenges/s1/"+ch.ID, url.Values{"state": {"rejected"}, "reason": {"no"}})
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a tutor decided a challenge: %d", resp.StatusCode)
	}

	c, _, _ := f.login(t, "leap", password)
	_, page := fetch(t, c, f.url+"/admin")
	if !strings.Contains(page, "I was in hospital that day.") {
		t.Fatal("the open challenge is not in the LEAP team's queue")
	}
	post := func(state, reason string, correction ...string) int {
		v := url.Values{"state": {state}, "reason": {reason}}
		if len(correction) == 2 {
			v.Set("correction", correction[0])
			v.Set("count", correction[1])
		}
		resp, err := c.PostForm(f.url+"/admin/challenges/s1/"+ch.ID, v)
		must(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("accepted", ""); got != http.StatusBadRequest {
		t.Errorf("a decision without a reason: %d", got)
	}
	if got := post("corrected", "The login was recorded twice; it is removed.", "count", "1"); got != http.StatusOK {
		t.Fatalf("decision: %d", got)
	}
	if got := post("rejected", "second thoughts"); got != http.StatusConflict {
		t.Errorf("a second decision: %d", got)
	}
	if _, page := fetch(t, c, f.url+"/admin"); strings.Contains(page, "I was in hospital that day.") {
		t.Error("a decided challenge is still in the queue")
	}
	sc, _, _ := f.login(t, "s1", password)
	_, mine := fetch(t, sc, f.url+"/me")
	if !strings.Contains(mine, "state-corrected") || !strings.Contains(mine, "The login was recorded twice; it is removed.") {
		t.Error("the student does not see the decision and its reason")
	}
	if _, page := fetch(t, c, f.url+"/admin?whom=s1&what=challenge"); !strings.Contains(page, "challenge "+ch.ID+" corrected") {
		t.Error("the decision is not audited")
	}
}
