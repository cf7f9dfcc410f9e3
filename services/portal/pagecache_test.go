package portal

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

type cacheFixture struct {
	*fixture
	portal *Portal
	policy *policy.Source
	writer FileWriter
}

// startCached runs the portal with its page cache over a real Redis and a
// real scoring service, the policy in a LeapTerm file it re-reads: s1 has
// the tutor t1; t9 tutors in s1's department, o1 is staff of another one;
// leap is the LEAP team.
func startCached(t *testing.T) *cacheFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	termFile := filepath.Join(t.TempDir(), "term.yaml")
	must(t, os.WriteFile(termFile, b, 0o600))
	log := slog.New(slog.DiscardHandler)
	pol, err := policy.Open(termFile, log)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go pol.Watch(ctx, 20*time.Millisecond)

	rdb := redistest.Start(t).Client(t)
	must(t, store.PutStudents(ctx, rdb, []store.Student{{ID: "s1", Name: "Ada", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"}}))
	must(t, store.PutStaff(ctx, rdb, []store.Staff{{ID: "leap", Name: "LEAP team", Department: "Student Services", Role: RoleLEAPTeam},
		{ID: "t1", Name: "Dr Tutor", Email: "t1@example.ac.uk", Department: "Maths", Role: RoleTutor},
		{ID: "o1", Name: "History Office", Department: "History", Role: RoleStaff},
		{ID: "t9", Name: "Dr Colleague", Department: "Maths", Role: RoleTutor}}))
	must(t, store.PutTutors(ctx, rdb, []store.Tutoring{{Staff: "t1", Student: "s1"}}))

	sco := server.New(server.Options{Name: "scoring", Logger: log})
	(&scoring.Service{Redis: rdb, Policy: pol, Now: func() time.Time { return now }, CacheTTL: time.Minute}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)
	hash, err := HashPassword(password)
	must(t, err)
	users := map[string]User{}
	for _, u := range []User{{"leap", hash, "leap", RoleLEAPTeam}, {"s1", hash, "s1", RoleStudent}, {"t1", hash, "t1", RoleTutor}, {"o1", hash, "o1", RoleStaff}, {"t9", hash, "t9", RoleTutor}} {
		users[u.Username] = u
	}
	ps := server.New(server.Options{Name: "portal", Logger: log})
	p := newPortal(t, ps.Echo, Config{Redis: rdb, Policy: pol, ScoringURL: scoringTS.URL, Now: func() time.Time { return now }, Users: users})
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)
	return &cacheFixture{fixture: &fixture{url: ts.URL, rdb: rdb}, portal: p, policy: pol, writer: FileWriter{Path: termFile}}
}

// cached is the number of pages in the portal's page cache.
func (f *cacheFixture) cached() int {
	pc := f.portal.caches.pages
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.entries)
}

// page fetches a page that must be there.
func page(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	status, body := fetch(t, c, u)
	if status != http.StatusOK {
		t.Fatalf("%s: %d", u, status)
	}
	return body
}

// TestStudentPageShowsEveryChangeAtOnce: the page comes from the cache
// while nothing on it changed, and any change of what it shows is on the
// very next view: a note, an objective's state, a challenge and its
// decision, a new event, a policy change, a new tutor, the tutor's contact,
// the student's profile.
func TestStudentPageShowsEveryChangeAtOnce(t *testing.T) {
	f := startCached(t)
	ctx := context.Background()
	s1 := f.signIn(t, "s1")
	t1 := f.signIn(t, "t1")
	first := page(t, s1.Client, f.url+"/me")
	n := f.cached()
	if again := page(t, s1.Client, f.url+"/me"); again != first {
		t.Fatal("two views with nothing changed differ")
	}
	if f.cached() != n || n == 0 {
		t.Fatalf("the second view was not served from the cache: %d pages, then %d", n, f.cached())
	}

	// A note, and an objective marked done. The tutor's page was cached
	// before, with the forms.
	if got := page(t, t1.Client, f.url+"/students/s1"); !strings.Contains(got, `id="note-form"`) {
		t.Fatal("the tutor's page has no note form")
	}
	post(t, t1.Client, f.url+"/students/s1/notes", form("text", "See you on Tuesday"))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "See you on Tuesday") {
		t.Error("a new note is not on the next view")
	}
	post(t, t1.Client, f.url+"/students/s1/objectives", form("text", "Draft the essay", "due", "2026-11-02"))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "Draft the essay") {
		t.Error("a new objective is not on the next view")
	}
	recs, err := store.ListRecords(ctx, f.rdb, "s1")
	must(t, err)
	post(t, t1.Client, f.url+"/students/s1/objectives/"+recs[len(recs)-1].ID+"/state", form("state", "done"))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "marked done by Dr Tutor") {
		t.Error("an objective marked done is not on the next view")
	}

	// A challenge and the LEAP team's decision.
	post(t, s1.Client, f.url+"/me/challenges", form("activity", "moodle_login", "date", "2026-10-19", "reason", "I was away that day"))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "I was away that day") || !strings.Contains(got, "state-open") {
		t.Error("a new challenge is not on the next view")
	}
	chs, err := store.ListChallenges(ctx, f.rdb, "s1")
	must(t, err)
	must(t, store.DecideChallenge(ctx, f.rdb, "s1", chs[0].ID, store.ChallengeRejected, "The card reader shows you in"))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "The card reader shows you in") {
		t.Error("a decision is not on the next view")
	}

	// New events: today's count of Moodle logins goes from 0 to 3.
	login, _ := v1alpha1.ActivityIndex(string(v1alpha1.MoodleLogin))
	tab := func(page string) string { return between(page, `id="tab-moodle_login"`, "</table>") }
	if got := tab(page(t, s1.Client, f.url+"/me?activity=moodle_login")); !strings.Contains(got, `<td><time datetime="2026-10-20">Tue 20 Oct</time></td><td>0</td>`) {
		t.Fatalf("the Moodle tab before: %s", got)
	}
	today := calendar.Day{Year: 2026, Month: 10, Day: 20}
	_, err = store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, []store.Event{
		{ID: "c1", Student: "s1", Activity: login, Day: today}, {ID: "c2", Student: "s1", Activity: login, Day: today}, {ID: "c3", Student: "s1", Activity: login, Day: today}})
	must(t, err)
	if got := tab(page(t, s1.Client, f.url+"/me?activity=moodle_login")); !strings.Contains(got, `<td><time datetime="2026-10-20">Tue 20 Oct</time></td><td>3</td>`) {
		t.Errorf("new events are not on the next view: %s", got)
	}

	// A policy change: attendance off.
	must(t, f.writer.SetAttendance(ctx, false, "Teaching is online this week.", nil))
	deadline := time.Now().Add(5 * time.Second)
	for f.policy.Current().Doc.Attendance.IsEnabled() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := page(t, s1.Client, f.url+"/me?activity=tap_in"); !strings.Contains(got, `id="attendance-off"`) || !strings.Contains(got, "Teaching is online this week.") {
		t.Error("a policy change is not on the next view")
	}

	// The roster: a new tutor, their new address, the student's new name.
	must(t, store.PutStaff(ctx, f.rdb, []store.Staff{{ID: "t2", Name: "Prof Second", Email: "t2@example.ac.uk", Department: "Maths", Role: RoleTutor}}))
	must(t, store.PutTutors(ctx, f.rdb, []store.Tutoring{{Staff: "t2", Student: "s1"}}))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "Prof Second") || strings.Contains(got, "t1@example.ac.uk") {
		t.Error("a new tutor is not on the next view")
	}
	must(t, store.PutStaff(ctx, f.rdb, []store.Staff{{ID: "t2", Name: "Prof Second", Email: "second@example.ac.uk", Department: "Maths", Role: RoleTutor}}))
	if got := page(t, s1.Client, f.url+"/me"); !strings.Contains(got, "second@example.ac.uk") {
		t.Error("the tutor's new address is not on the next view")
	}
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{{ID: "s1", Name: "Ada Lovelace", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"}}))
	if got := page(t, s1.Client, f.url+"/students/s1"); !strings.Contains(got, "<title>Ada Lovelace · LEAP</title>") {
		t.Error("the student's new name is not on the next view")
	}
	// The former tutor still sees a student of their department, but no
	// longer writes on the record: the page they had is not theirs now.
	if got := page(t, t1.Client, f.url+"/students/s1"); strings.Contains(got, `id="note-form"`) {
		t.Error("the former tutor's page still has the note form")
	}
}

// TestNoViewerGetsAnotherViewersPage: nobody is served a page cached for
// someone else, on a cache hit too: each page names the person signed in
// and offers what they may do; the same person's two sign-ins share one
// page, which carries nothing of either session.
func TestNoViewerGetsAnotherViewersPage(t *testing.T) {
	f := startCached(t)
	// The student twice, their tutor, a tutor of the same department (the
	// same role, read only), the LEAP team.
	names := []string{"s1", "s1", "t1", "t9", "leap"}
	viewers := make([]signedIn, len(names))
	for i, name := range names {
		viewers[i] = f.signIn(t, name)
	}
	writes := []bool{false, false, true, false, true}
	for round := range 2 {
		for i, v := range viewers {
			got := page(t, v.Client, f.url+"/students/s1")
			if !strings.Contains(got, "Signed in as "+names[i]+"</span>") {
				t.Errorf("round %d, viewer %d: the page is not signed in as %s", round, i, names[i])
			}
			for _, ck := range v.Jar.Cookies(mustParse(t, f.url)) {
				if strings.Contains(got, ck.Value) {
					t.Errorf("round %d, viewer %d: the page holds the session's cookie %s", round, i, ck.Name)
				}
			}
			if strings.Contains(got, `name="csrf"`) {
				t.Errorf("round %d, viewer %d: a form carries a token", round, i)
			}
			self := strings.Contains(got, "<h1>Your engagement</h1>")
			if self != (i < 2) {
				t.Errorf("round %d, viewer %d: the student's own page is %v", round, i, self)
			}
			if write := strings.Contains(got, `id="note-form"`); write != writes[i] {
				t.Errorf("round %d, viewer %d: the note form is there: %v", round, i, write)
			}
		}
	}
	if f.cached() != 4 {
		t.Errorf("%d pages cached; want one for each of s1, t1, t9 and leap", f.cached())
	}
}

// TestStaffViewsAreAuditedOnCacheHits: a page from the cache is a view
// like any other: every staff view is audited, and a refusal is still a
// 404 and audited, however often it is asked.
func TestStaffViewsAreAuditedOnCacheHits(t *testing.T) {
	f := startCached(t)
	ctx := context.Background()
	t1 := f.signIn(t, "t1")
	o1 := f.signIn(t, "o1")
	audited := func(who, what string) int {
		entries, err := f.rdb.XRange(ctx, AuditStream, "-", "+").Result()
		must(t, err)
		n := 0
		for _, e := range entries {
			if e.Values["who"] == who && e.Values["whom"] == "s1" && e.Values["what"] == what {
				n++
			}
		}
		return n
	}
	for range 3 {
		page(t, t1.Client, f.url+"/students/s1")
		if status, _ := fetch(t, o1.Client, f.url+"/students/s1"); status != http.StatusNotFound {
			t.Errorf("staff of another department see the student: %d", status)
		}
	}
	if f.cached() != 1 {
		t.Errorf("%d pages cached, want the tutor's", f.cached())
	}
	if n := audited("t1", "view student"); n != 3 {
		t.Errorf("three views by the tutor, %d audited", n)
	}
	if n := audited("o1", "denied: view student"); n != 3 {
		t.Errorf("three refusals, %d audited", n)
	}
	s1 := f.signIn(t, "s1")
	page(t, s1.Client, f.url+"/me")
	if n := audited("s1", "view student"); n != 0 {
		t.Errorf("a student's view of their own page audited %d times", n)
	}
}

// TestStudentPageIsNotStored: personal data, not for shared caches nor
// the browser's.
func TestStudentPageIsNotStored(t *testing.T) {
	f := startCached(t)
	s1 := f.signIn(t, "s1")
	for range 2 {
		resp, err := s1.Get(f.url + "/me")
		must(t, err)
		_ = resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	}
}

func TestPageCacheKeepsTheMostRecentlyUsedWithinItsBound(t *testing.T) {
	pc := newPageCache(3 * 1100)
	pg := func(fill byte) []byte { return bytes.Repeat([]byte{fill}, 1000) }
	for i := range 3 {
		pc.put(fmt.Sprint("k", i), pg(byte('a'+i)))
	}
	if _, ok := pc.get("k0"); !ok { // k0 is now the most recently used
		t.Fatal("k0 is gone before the cache was full")
	}
	pc.put("k3", pg('d'))
	if _, ok := pc.get("k1"); ok {
		t.Error("k1, the least recently used, was kept beyond the bound")
	}
	for _, k := range []string{"k0", "k2", "k3"} {
		if _, ok := pc.get(k); !ok {
			t.Errorf("%s was dropped", k)
		}
	}
	if pc.size > pc.max || len(pc.entries) != pc.order.Len() {
		t.Errorf("size %d of %d, %d entries, %d in order", pc.size, pc.max, len(pc.entries), pc.order.Len())
	}
	if got, _ := pc.get("k3"); !bytes.Equal(got, pg('d')) {
		t.Errorf("k3 holds %.20q…, want the page put there", got)
	}
	pc.put("huge", make([]byte, 4000))
	if _, ok := pc.get("huge"); ok || len(pc.entries) != 3 {
		t.Error("a page larger than the whole cache was kept")
	}

	var k1, k2 pageKey
	k1.add("ab", "c")
	k2.add("a", "bc")
	if k1.String() == k2.String() {
		t.Error("different parts make the same key")
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	must(t, err)
	return u
}

// roundTrips counts the commands and pipelines a Redis client sends while
// on is set: each is one round trip.
type roundTrips struct {
	on atomic.Bool
	n  atomic.Int64
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if r.on.Load() {
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if r.on.Load() {
			r.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestStudentPageFromTheCacheIsOneRoundTrip: once the portal has read a
// session, a student's page from the cache costs one Redis round trip:
// the session, what decides access and what keys the page, together. A
// member of staff's costs one more, for the audit entry written before the
// page is sent. Signing out ends it on the very next view.
func TestStudentPageFromTheCacheIsOneRoundTrip(t *testing.T) {
	f := startCached(t)
	s1 := f.signIn(t, "s1")
	t1 := f.signIn(t, "t1")
	for range 2 { // the second from the cache, with the tutor guessed right
		page(t, s1.Client, f.url+"/me")
		page(t, t1.Client, f.url+"/students/s1")
	}
	var trips roundTrips
	f.rdb.AddHook(&trips)
	for _, tc := range []struct {
		who  signedIn
		path string
		want int64
	}{{s1, "/me", 1}, {t1, "/students/s1", 2}} {
		trips.n.Store(0)
		trips.on.Store(true)
		page(t, tc.who.Client, f.url+tc.path)
		trips.on.Store(false)
		if got := trips.n.Load(); got != tc.want {
			t.Errorf("%s from the cache: %d Redis round trips, want %d", tc.path, got, tc.want)
		}
	}
	if status, _ := post(t, s1.Client, f.url+"/logout", nil); status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", status)
	}
	resp, err := noRedirect(s1.Client).Get(f.url + "/me")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("/me after sign-out: %d to %q, want /login", resp.StatusCode, resp.Header.Get("Location"))
	}
}
