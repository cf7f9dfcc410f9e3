package scoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// now is a Tuesday inside the autumn term of the typical sample
// (2026-10-05..12-11). Teaching days so far: 5..9, 12..16, 19 and 20 October.
var now = time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)

const typicalSample = "leap_v1alpha1_leapterm_typical.yaml"

// sample is the text of the typical LeapTerm, with edits applied in order
// (old, new, old, new, ...); every old text must be present.
func sample(t testing.TB, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", typicalSample))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(doc, edits[i]) {
			t.Fatalf("sample policy has no %q to replace", edits[i])
		}
		doc = strings.Replace(doc, edits[i], edits[i+1], 1)
	}
	return doc
}

func parsePolicy(t testing.TB, text string) *policy.Loaded {
	t.Helper()
	l, err := policy.ParseFile("test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The roster of most tests. ug1 is an engaged full-time undergraduate, pt1
// a part-timer, pgr1 a research student (no indicator under the policy) and
// quiet1 a student who has gone silent.
var roster = []store.Student{
	{ID: "ug1", Name: "Ada", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "FT"},
	{ID: "pt1", Name: "Ben", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "PT"},
	{ID: "pgr1", Name: "Cai", Department: "History", Course: "PhD History", Year: 1, Level: "pgr", Mode: "FT"},
	{ID: "quiet1", Name: "Dee", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "FT"},
}

// activity is n events of one kind for a student on a day.
type activity struct {
	student string
	day     string
	kind    v1alpha1.Activity
	n       int
}

// history is what the roster did, on top of which tests add.
var history = []activity{
	{"ug1", "2026-10-09", v1alpha1.FaserView, 2}, // before the 7-day window
	{"ug1", "2026-10-12", v1alpha1.MoodleLogin, 1}, {"ug1", "2026-10-12", v1alpha1.MoodleCourse, 6},
	{"ug1", "2026-10-13", v1alpha1.MoodleLogin, 1}, {"ug1", "2026-10-13", v1alpha1.MoodleCourse, 6},
	{"ug1", "2026-10-14", v1alpha1.MoodleLogin, 1}, {"ug1", "2026-10-14", v1alpha1.MoodleCourse, 6},
	{"ug1", "2026-10-14", v1alpha1.TapIn, 4},
	{"ug1", "2026-10-15", v1alpha1.MoodleLogin, 1}, {"ug1", "2026-10-15", v1alpha1.MoodleCourse, 6},
	{"ug1", "2026-10-16", v1alpha1.MoodleLogin, 1}, {"ug1", "2026-10-16", v1alpha1.MoodleCourse, 6},
	{"ug1", "2026-10-18", v1alpha1.MoodleCourse, 2}, // a Sunday: shown, not in the window
	{"ug1", "2026-10-19", v1alpha1.TapIn, 3}, {"ug1", "2026-10-19", v1alpha1.FaserUpload, 1},
	{"ug1", "2026-10-20", v1alpha1.ListenAgain, 1}, {"ug1", "2026-10-20", v1alpha1.LibraryLoan, 1},

	{"pt1", "2026-10-06", v1alpha1.TapIn, 4},
	{"pt1", "2026-10-15", v1alpha1.MoodleMobile, 6}, // above the cap of 5

	{"pgr1", "2026-10-19", v1alpha1.PCLabLogin, 2}, {"pgr1", "2026-10-19", v1alpha1.MoodleLogin, 1},

	{"quiet1", "2026-10-09", v1alpha1.MoodleLogin, 1}, // the last counted activity
	{"quiet1", "2026-10-16", v1alpha1.LibraryLoan, 1}, // display-only: does not count
}

type fixture struct {
	redis *redistest.Server
	rdb   *redis.Client
	api   api
	// ledger is what the test recorded, kept by the test itself so that
	// expectations never come from reading Redis back.
	ledger map[string]map[calendar.Day]engine.Counts
	nextID int
}

// api is one scoring service over HTTP.
type api struct {
	svc *Service
	url string
	reg *prometheus.Registry
}

// serve starts a scoring service on rdb under src.
func serve(t testing.TB, rdb redis.UniversalClient, src *policy.Source) api {
	t.Helper()
	svc := &Service{Redis: rdb, Policy: src, Now: func() time.Time { return now }, CacheTTL: time.Minute}
	srv := server.New(server.Options{Name: "scoring", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)
	return api{svc: svc, url: ts.URL, reg: srv.Registry}
}

// start runs Redis with the roster and its history, and a scoring service
// under src (the typical sample when nil).
func start(t testing.TB, src *policy.Source) *fixture {
	t.Helper()
	if src == nil {
		src = policy.Static(parsePolicy(t, sample(t)))
	}
	r := redistest.Start(t)
	f := &fixture{redis: r, rdb: r.Client(t), ledger: map[string]map[calendar.Day]engine.Counts{}}
	if err := store.PutStudents(context.Background(), f.rdb, roster); err != nil {
		t.Fatal(err)
	}
	f.record(t, history...)
	// The service has a client of its own that gives up dialling at once,
	// so that answers while Redis is down come quickly.
	svcClient := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = svcClient.Close() })
	f.api = serve(t, svcClient, src)
	return f
}

// record counts activity through the store's Recorder, as ingestion does,
// and adds it to the test's own ledger.
func (f *fixture) record(t testing.TB, acts ...activity) {
	t.Helper()
	var events []store.Event
	for _, a := range acts {
		d := day(t, a.day)
		i, ok := v1alpha1.ActivityIndex(string(a.kind))
		if !ok {
			t.Fatalf("unknown activity %q", a.kind)
		}
		for range a.n {
			f.nextID++
			events = append(events, store.Event{ID: fmt.Sprintf("e%d", f.nextID), Student: a.student, Activity: i, Day: d})
		}
		if f.ledger[a.student] == nil {
			f.ledger[a.student] = map[calendar.Day]engine.Counts{}
		}
		c := f.ledger[a.student][d]
		c[i] += int32(a.n)
		f.ledger[a.student][d] = c
	}
	rec := store.Recorder{Client: f.rdb, Retention: 7 * 24 * time.Hour, Now: func() time.Time { return now }}
	out, err := rec.Record(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o != store.Counted {
			t.Fatalf("event %+v: outcome %d, want counted", events[i], o)
		}
	}
}

func day(t testing.TB, s string) calendar.Day {
	t.Helper()
	d, err := calendar.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newEngine(t testing.TB, l *policy.Loaded) *engine.Engine {
	t.Helper()
	e, err := engine.New(l.Doc)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// engineStudent is a roster entry in the engine's terms.
func engineStudent(s store.Student) engine.Student {
	return engine.Student{ID: s.ID, Level: v1alpha1.StudyLevel(s.Level), PartTime: s.Mode == "PT"}
}

func rosterEntry(t testing.TB, id string) store.Student {
	t.Helper()
	for _, s := range roster {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no %s in the roster", id)
	return store.Student{}
}

// get fetches path and checks the status; errors must be problem+json and
// carry their status.
func get(t testing.TB, base, path string, want int) []byte {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	ctype := resp.Header.Get("Content-Type")
	if want >= 400 {
		if ctype != server.ProblemContentType {
			t.Errorf("GET %s: error answered as %q, want %s", path, ctype, server.ProblemContentType)
		}
		var p server.ProblemDetails
		if err := json.Unmarshal(b, &p); err != nil || p.Status != want || p.Title == "" {
			t.Errorf("GET %s: problem %s (%v), want status %d and a title", path, b, err, want)
		}
	} else if !strings.HasPrefix(ctype, "application/json") {
		t.Errorf("GET %s: content type %q, want JSON", path, ctype)
	}
	return b
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// cacheRequests reads leap_scoring_cache_requests_total{result} from reg.
func cacheRequests(t testing.TB, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "leap_scoring_cache_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

type cacheCounts struct{ hits, misses float64 }

func (a api) cache(t testing.TB) cacheCounts {
	t.Helper()
	return cacheCounts{cacheRequests(t, a.reg, "hit"), cacheRequests(t, a.reg, "miss")}
}

// wantEngagement checks an answer for the days from..today against what
// the engine gives for the ledger's counts.
func (f *fixture) wantEngagement(t testing.TB, got Engagement, l *policy.Loaded, id, from string) {
	t.Helper()
	st := engineStudent(rosterEntry(t, id))
	today := day(t, "2026-10-20")
	want := newEngine(t, l).Evaluate(st, f.ledger[id], day(t, from), today, today)

	if got.Student != id || got.PolicyHash != l.Hash || got.Reason != want.Reason {
		t.Errorf("student %q policyHash %q reason %q, want %q %q %q", got.Student, got.PolicyHash, got.Reason, id, l.Hash, want.Reason)
	}
	switch {
	case want.Indicator == nil && got.Indicator != nil:
		t.Errorf("indicator %+v, want none", *got.Indicator)
	case want.Indicator != nil && got.Indicator == nil:
		t.Errorf("no indicator, want %+v", *want.Indicator)
	case want.Indicator != nil:
		w := Indicator{Band: want.Indicator.Band, Score: want.Indicator.Score, AsOf: want.Indicator.AsOf.String(), WindowDays: want.Indicator.WindowDays}
		if *got.Indicator != w {
			t.Errorf("indicator %+v, want %+v", *got.Indicator, w)
		}
		if len(got.Explanation) != len(want.Indicator.Explanation) {
			t.Fatalf("explanation %+v, want %+v", got.Explanation, want.Indicator.Explanation)
		}
		for i, w := range want.Indicator.Explanation {
			if g := got.Explanation[i]; g.Activity != w.Activity || g.Count != w.Count || math.Abs(g.Points-w.Points) > 0.05 {
				t.Errorf("explanation %d: %+v, want %+v to one decimal", i, g, w)
			}
		}
	}
	if len(got.Days) != len(want.Days) {
		t.Fatalf("%d days, want %d", len(got.Days), len(want.Days))
	}
	for i, w := range want.Days {
		g := got.Days[i]
		wantCounts := map[string]int32{}
		for a, n := range w.Counts {
			if n > 0 {
				wantCounts[string(v1alpha1.Catalogue[a].Key)] = n
			}
		}
		if g.Date != w.Date.String() || g.Teaching != w.Teaching || g.Band != w.Band || !reflect.DeepEqual(g.Counts, wantCounts) {
			t.Errorf("day %d: %+v, want date %s teaching %v band %q counts %v", i, g, w.Date, w.Teaching, w.Band, wantCounts)
		}
		switch {
		case w.Band == "" && g.Score != nil:
			t.Errorf("day %s: score %v, want none", g.Date, *g.Score)
		case w.Band != "" && (g.Score == nil || *g.Score != w.Score):
			t.Errorf("day %s: score %v, want %v", g.Date, g.Score, w.Score)
		}
	}
}

func dayOf(t testing.TB, e Engagement, date string) Day {
	t.Helper()
	for _, d := range e.Days {
		if d.Date == date {
			return d
		}
	}
	t.Fatalf("no day %s in the answer", date)
	return Day{}
}

const ug1Range = "/v1/students/ug1/engagement?from=2026-10-12&to=2026-10-20"

func TestEngagementThroughTheCache(t *testing.T) {
	f := start(t, nil)
	pol := f.api.svc.Policy.Current()

	first := get(t, f.api.url, ug1Range, http.StatusOK)
	if c := f.api.cache(t); c != (cacheCounts{hits: 0, misses: 1}) {
		t.Errorf("first request: cache %+v, want one miss", c)
	}

	// The contract's shape, read as plain JSON.
	var shape struct {
		Student   string           `json:"student"`
		Indicator map[string]any   `json:"indicator"`
		Days      []map[string]any `json:"days"`
	}
	if err := json.Unmarshal(first, &shape); err != nil {
		t.Fatal(err)
	}
	if shape.Student != "ug1" {
		t.Errorf("student %q, want ug1", shape.Student)
	}
	for _, k := range []string{"band", "score", "asOf"} {
		if _, ok := shape.Indicator[k]; !ok {
			t.Errorf("indicator %v has no %q", shape.Indicator, k)
		}
	}
	if len(shape.Days) != 9 {
		t.Fatalf("%d days from 12 to 20 October, want 9", len(shape.Days))
	}
	for _, d := range shape.Days {
		for _, k := range []string{"date", "teaching", "score", "band", "counts"} {
			if _, ok := d[k]; !ok {
				t.Errorf("day %v has no %q", d, k)
			}
		}
		if _, ok := d["counts"].(map[string]any); !ok {
			t.Errorf("day %v: counts is not an object", d)
		}
	}

	got := decode[Engagement](t, first)
	f.wantEngagement(t, got, pol, "ug1", "2026-10-12")

	// Anchors worked out by hand (weights sum to 14), so that agreeing with
	// the engine is not agreeing with nothing: tap_in 3 of cap 4 at weight 3
	// and one upload at weight 3 make 5.25/14 = 37.5.
	if d := dayOf(t, got, "2026-10-19"); d.Score == nil || *d.Score != 37.5 || d.Band != engine.Partial || !d.Teaching ||
		!maps.Equal(d.Counts, map[string]int32{"tap_in": 3, "faser_upload": 1}) {
		t.Errorf("19 October: %+v, want score 37.5, partial, tap_in 3 and faser_upload 1", d)
	}
	if d := dayOf(t, got, "2026-10-18"); d.Teaching || !maps.Equal(d.Counts, map[string]int32{"moodle_course": 2}) {
		t.Errorf("18 October (Sunday): %+v, want not teaching with moodle_course 2", d)
	}
	if d := dayOf(t, got, "2026-10-20"); !maps.Equal(d.Counts, map[string]int32{"listen_again": 1, "library_loan": 1}) {
		t.Errorf("20 October: counts %v, want the display-only loan shown too", d.Counts)
	}
	if got.Indicator == nil || got.Indicator.Band != engine.Low || got.Indicator.WindowDays != 7 || got.Indicator.AsOf != "2026-10-20" {
		t.Errorf("indicator %+v, want low over 7 teaching days as of 2026-10-20", got.Indicator)
	}
	// Six course pages of cap 10 at weight 2 on five days: 6/7 points a day
	// over the window, the most of any activity.
	if len(got.Explanation) == 0 || got.Explanation[0] != (Contribution{Activity: v1alpha1.MoodleCourse, Count: 30, Points: 6.1}) {
		t.Errorf("explanation %+v, want moodle_course first with 30 pages and 6.1 points", got.Explanation)
	}

	// The same request again is answered from the cache, byte for byte.
	second := get(t, f.api.url, ug1Range, http.StatusOK)
	if c := f.api.cache(t); c != (cacheCounts{hits: 1, misses: 1}) {
		t.Errorf("second request: cache %+v, want one hit and one miss", c)
	}
	if string(second) != string(first) {
		t.Errorf("cached answer differs:\n%s\n%s", second, first)
	}
	if keys, entries := f.cacheMemory(t, "ug1"); len(keys) != 1 || entries != 1 {
		t.Errorf("cache of ug1: %d entries in keys %v, want one", entries, keys)
	}

	// The default range is the year so far; the part-timer's window is 21
	// teaching days, of which 11 have ended: today, in progress and empty
	// so far, would only lower the figure.
	all := decode[Engagement](t, get(t, f.api.url, "/v1/students/pt1/engagement", http.StatusOK))
	f.wantEngagement(t, all, pol, "pt1", "2026-10-05")
	if all.Indicator == nil || all.Indicator.WindowDays != 11 || all.Indicator.AsOf != "2026-10-19" {
		t.Errorf("part-timer's indicator %+v, want 11 window days, as of 2026-10-19", all.Indicator)
	}
	if d := dayOf(t, all, "2026-10-15"); d.Counts["moodle_mobile"] != 6 {
		t.Errorf("15 October: counts %v, want moodle_mobile 6 (counts are not capped)", d.Counts)
	}
}

func TestNewEventInvalidatesOnlyThatStudent(t *testing.T) {
	f := start(t, nil)
	pol := f.api.svc.Policy.Current()
	const pt1Range = "/v1/students/pt1/engagement?from=2026-10-05&to=2026-10-20"

	before := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	ptBefore := get(t, f.api.url, pt1Range, http.StatusOK)
	if c := f.api.cache(t); c != (cacheCounts{hits: 0, misses: 2}) {
		t.Fatalf("warming up: cache %+v, want two misses", c)
	}

	f.record(t, activity{"ug1", "2026-10-20", v1alpha1.TapIn, 2})

	after := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	if c := f.api.cache(t); c != (cacheCounts{hits: 0, misses: 3}) {
		t.Errorf("after a new event: cache %+v, want a third miss and no hit", c)
	}
	f.wantEngagement(t, after, pol, "ug1", "2026-10-12")
	if n := dayOf(t, after, "2026-10-20").Counts["tap_in"]; n != 2 {
		t.Errorf("20 October: tap_in %d, want 2", n)
	}
	if after.Indicator.Score <= before.Indicator.Score {
		t.Errorf("indicator %v after two taps, want more than %v", after.Indicator.Score, before.Indicator.Score)
	}
	if a, b := dayOf(t, after, "2026-10-20").Score, dayOf(t, before, "2026-10-20").Score; *a <= *b {
		t.Errorf("20 October: score %v after two taps, want more than %v", *a, *b)
	}

	// The other student's entry is still good.
	ptAfter := get(t, f.api.url, pt1Range, http.StatusOK)
	if c := f.api.cache(t); c != (cacheCounts{hits: 1, misses: 3}) {
		t.Errorf("other student: cache %+v, want a hit", c)
	}
	if string(ptAfter) != string(ptBefore) {
		t.Errorf("other student's answer changed:\n%s\n%s", ptAfter, ptBefore)
	}
	// And ug1's new answer is cached in turn.
	get(t, f.api.url, ug1Range, http.StatusOK)
	if c := f.api.cache(t); c != (cacheCounts{hits: 2, misses: 3}) {
		t.Errorf("repeat after recompute: cache %+v, want a second hit", c)
	}
}

func TestRosterChangeInvalidates(t *testing.T) {
	f := start(t, nil)
	before := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	if before.Indicator == nil || before.Indicator.WindowDays != 7 {
		t.Fatalf("full-time indicator %+v, want 7 window days", before.Indicator)
	}

	// ug1 goes part time: same counts, a 21-day window.
	changed := rosterEntry(t, "ug1")
	changed.Mode = "PT"
	if err := store.PutStudents(context.Background(), f.rdb, []store.Student{changed}); err != nil {
		t.Fatal(err)
	}
	after := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	// 11 ended days: today's listening so far does not lift the mean.
	if after.Indicator == nil || after.Indicator.WindowDays != 11 {
		t.Errorf("after going part time: indicator %+v, want 11 window days (a stale cached answer?)", after.Indicator)
	}

	// ug1 becomes a research student: the indicator must go at once.
	changed.Level = "pgr"
	if err := store.PutStudents(context.Background(), f.rdb, []store.Student{changed}); err != nil {
		t.Fatal(err)
	}
	pgr := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	if pgr.Indicator != nil || pgr.Reason == "" {
		t.Errorf("after becoming a research student: indicator %+v reason %q, want none", pgr.Indicator, pgr.Reason)
	}
}

func TestPolicySwitchAppliesAtOnce(t *testing.T) {
	// The policy comes from a file that the Source watches, as in a pod.
	textA := sample(t)
	textB := sample(t, "tap_in: 3, faser_upload: 3", "tap_in: 1, faser_upload: 6")
	polA, polB := parsePolicy(t, textA), parsePolicy(t, textB)
	if polA.Hash == polB.Hash {
		t.Fatal("the two policies have the same hash")
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(text string) { // whole, as a ConfigMap mount changes
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(textA)
	src, err := policy.Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.Watch(ctx, 5*time.Millisecond)
	switchTo := func(text string, hash string) {
		t.Helper()
		write(text)
		for deadline := time.Now().Add(5 * time.Second); src.Current().Hash != hash; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the policy file changed but the source still has %s", src.Current().Hash)
			}
		}
	}

	f := start(t, src)
	a := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	f.wantEngagement(t, a, polA, "ug1", "2026-10-12")
	get(t, f.api.url, ug1Range, http.StatusOK) // cached under policy A

	switchTo(textB, polB.Hash)
	b := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	if c := f.api.cache(t); c != (cacheCounts{hits: 1, misses: 2}) {
		t.Errorf("after the switch: cache %+v, want a miss", c)
	}
	f.wantEngagement(t, b, polB, "ug1", "2026-10-12")
	if b.PolicyHash != polB.Hash {
		t.Errorf("policyHash %s, want the new %s", b.PolicyHash, polB.Hash)
	}
	if b.Indicator.Score == a.Indicator.Score {
		t.Errorf("indicator %v under both policies, want a change", b.Indicator.Score)
	}
	if d := dayOf(t, b, "2026-10-19"); *d.Score == *dayOf(t, a, "2026-10-19").Score {
		t.Errorf("19 October: score %v under both policies, want a change", *d.Score)
	}
	if current := decode[map[string]any](t, get(t, f.api.url, "/v1/policy", http.StatusOK)); current["hash"] != polB.Hash {
		t.Errorf("/v1/policy hash %v, want %s", current["hash"], polB.Hash)
	}

	// A second service on the same Redis still under policy A, as during a
	// rolling update, keeps getting A's answer from the shared cache.
	other := serve(t, f.rdb, policy.Static(polA))
	if oa := decode[Engagement](t, get(t, other.url, ug1Range, http.StatusOK)); oa.PolicyHash != polA.Hash || *oa.Indicator != *a.Indicator {
		t.Errorf("service under A answers %s %+v, want %s %+v", oa.PolicyHash, *oa.Indicator, polA.Hash, *a.Indicator)
	}
	if c := other.cache(t); c != (cacheCounts{hits: 1}) {
		t.Errorf("service under A: cache %+v, want a hit", c)
	}

	// Back to A: A's entry is still good, since no data changed.
	switchTo(textA, polA.Hash)
	back := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	if back.PolicyHash != polA.Hash || *back.Indicator != *a.Indicator {
		t.Errorf("back under A: %s %+v, want %s %+v", back.PolicyHash, *back.Indicator, polA.Hash, *a.Indicator)
	}
	if c := f.api.cache(t); c != (cacheCounts{hits: 2, misses: 2}) {
		t.Errorf("back under A: cache %+v, want a hit", c)
	}
}

func TestResearchStudentGetsCountsOnly(t *testing.T) {
	f := start(t, nil)
	const path = "/v1/students/pgr1/engagement?from=2026-10-12&to=2026-10-20"
	raw := get(t, f.api.url, path, http.StatusOK)
	generic := decode[map[string]json.RawMessage](t, raw)
	if string(generic["indicator"]) != "null" {
		t.Errorf("indicator %s, want null", generic["indicator"])
	}
	got := decode[Engagement](t, raw)
	if want := "no engagement indicator is calculated for postgraduate research students"; got.Reason != want {
		t.Errorf("reason %q, want %q", got.Reason, want)
	}
	if len(got.Explanation) != 0 {
		t.Errorf("explanation %+v, want none", got.Explanation)
	}
	f.wantEngagement(t, got, f.api.svc.Policy.Current(), "pgr1", "2026-10-12")
	d := dayOf(t, got, "2026-10-19")
	if !maps.Equal(d.Counts, map[string]int32{"pc_lab_login": 2, "moodle_login": 1}) {
		t.Errorf("19 October: counts %v, want pc_lab_login 2 and moodle_login 1", d.Counts)
	}
	for _, d := range got.Days {
		if d.Score != nil || d.Band != "" {
			t.Errorf("day %s: score %v band %q, want neither (a daily band is an indicator too)", d.Date, d.Score, d.Band)
		}
	}
	if strings.Contains(string(raw), `"band"`) || strings.Contains(string(raw), `"windowDays"`) {
		t.Errorf("answer mentions a band or window: %s", raw)
	}
	if alerts := get(t, f.api.url, "/v1/students/pgr1/alerts", http.StatusOK); string(alerts) != "[]\n" {
		t.Errorf("alerts %s, want []", alerts)
	}
}

func TestBadRequests(t *testing.T) {
	f := start(t, nil)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/v1/students/nobody/engagement", http.StatusNotFound},
		{"/v1/students/nobody/alerts", http.StatusNotFound},
		{"/v1/students/ug1/engagement?from=yesterday", http.StatusBadRequest},
		{"/v1/students/ug1/engagement?from=2026-13-01", http.StatusBadRequest},
		{"/v1/students/ug1/engagement?to=2026-10-32", http.StatusBadRequest},
		{"/v1/students/ug1/engagement?from=20261012", http.StatusBadRequest},
		{"/v1/students/ug1/engagement?from=2026-10-20&to=2026-10-12", http.StatusBadRequest},
		{"/v1/students/ug1/engagement?to=2026-10-04", http.StatusBadRequest}, // before the default from
		{"/v1/students/ug1/engagement?from=2026-10-05&to=2027-12-01", http.StatusBadRequest},
		{"/v1/cohorts/BSc%20Mathematics/first", http.StatusBadRequest},
	} {
		get(t, f.api.url, c.path, c.want)
	}
	// A one-day range is fine.
	one := decode[Engagement](t, get(t, f.api.url, "/v1/students/ug1/engagement?from=2026-10-19&to=2026-10-19", http.StatusOK))
	if len(one.Days) != 1 || one.Indicator == nil || one.Indicator.AsOf != "2026-10-19" {
		t.Errorf("one day: %+v", one)
	}
	// Nothing about unknown students is cached.
	if keys, _ := f.rdb.Keys(context.Background(), "leap:{s:nobody}*").Result(); len(keys) != 0 {
		t.Errorf("keys for an unknown student: %v", keys)
	}
}

func TestNoEngagementAlerts(t *testing.T) {
	f := start(t, nil)
	pol := f.api.svc.Policy.Current()
	eng := newEngine(t, pol)
	url, clk := f.serveClocked(t, nil)
	// Wednesday morning: Tuesday has ended.
	clk.set(t, "2026-10-21 08:00")
	today := day(t, "2026-10-21")
	want := func(id string) []Alert {
		out := []Alert{}
		for _, a := range eng.AlertsToday(engineStudent(rosterEntry(t, id)), f.ledger[id], today) {
			out = append(out, Alert{Student: id, Kind: a.Kind, Since: a.Since.String(), Days: a.Days, Message: a.Message})
		}
		return out
	}

	// quiet1 last did something counted on Friday 9 October: nothing on
	// the 7 teaching days 12..16, 19 and 20 (a display-only loan does not
	// count). On Tuesday at noon 6 of them have ended: no alert yet.
	for _, a := range decode[[]Alert](t, get(t, f.api.url, "/v1/students/quiet1/alerts", http.StatusOK)) {
		if a.Kind == engine.NoEngagement {
			t.Errorf("Tuesday noon, 6 silent days ended: %+v", a)
		}
	}
	quiet := decode[[]Alert](t, get(t, url, "/v1/students/quiet1/alerts", http.StatusOK))
	if len(quiet) == 0 || quiet[0].Kind != engine.NoEngagement || quiet[0].Since != "2026-10-12" || quiet[0].Days != 7 || quiet[0].Student != "quiet1" {
		t.Fatalf("quiet1 alerts %+v, want no_engagement since 2026-10-12 for 7 days first", quiet)
	}
	if !reflect.DeepEqual(quiet, want("quiet1")) {
		t.Errorf("quiet1 alerts\n%+v\nwant\n%+v", quiet, want("quiet1"))
	}
	if ug := get(t, url, "/v1/students/ug1/alerts", http.StatusOK); string(ug) != "[]\n" {
		t.Errorf("ug1 alerts %s, want []", ug)
	}

	// The tutor of quiet1, ug1 and pgr1 sees quiet1's alerts only.
	ctx := context.Background()
	if err := store.PutStaff(ctx, f.rdb, []store.Staff{{ID: "t1", Name: "Tess", Department: "Maths", Role: "tutor"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutTutors(ctx, f.rdb, []store.Tutoring{{Staff: "t1", Student: "quiet1"}, {Staff: "t1", Student: "ug1"}, {Staff: "t1", Student: "pgr1"}}); err != nil {
		t.Fatal(err)
	}
	tutor := decode[[]Alert](t, get(t, url, "/v1/tutors/t1/alerts", http.StatusOK))
	if !reflect.DeepEqual(tutor, want("quiet1")) {
		t.Errorf("tutor alerts\n%+v\nwant quiet1's\n%+v", tutor, want("quiet1"))
	}
	if none := get(t, url, "/v1/tutors/nobody/alerts", http.StatusOK); string(none) != "[]\n" {
		t.Errorf("alerts of a tutor without tutees %s, want []", none)
	}

	// One counted event today ends the run.
	f.record(t, activity{"quiet1", "2026-10-21", v1alpha1.MoodleLogin, 1})
	for _, a := range decode[[]Alert](t, get(t, url, "/v1/students/quiet1/alerts", http.StatusOK)) {
		if a.Kind == engine.NoEngagement {
			t.Errorf("still %+v after a login today", a)
		}
	}
}

// cohortStudents are n full-time undergraduates of a course and year.
func cohortStudents(course string, year, n int) []store.Student {
	out := make([]store.Student, n)
	for i := range out {
		out[i] = store.Student{ID: fmt.Sprintf("c%d-%02d", year, i), Name: "N", Department: "Physics", Course: course, Year: year, Level: "ug", Mode: "FT"}
	}
	return out
}

func TestCohortPrivacy(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()

	// BSc Mathematics 1 has ug1, pt1 and quiet1: too few.
	assertRefused := func(path string) {
		t.Helper()
		b := get(t, f.api.url, path, http.StatusForbidden)
		for _, figure := range []string{`"size"`, `"bands"`, `"meanScore"`} {
			if strings.Contains(string(b), figure) {
				t.Errorf("%s: refusal carries %s: %s", path, figure, b)
			}
		}
		if !strings.Contains(string(b), "fewer than 10 students") {
			t.Errorf("%s: refusal %s does not give the minimum", path, b)
		}
	}
	assertRefused("/v1/cohorts/BSc%20Mathematics/1")
	assertRefused("/v1/cohorts/Nothing/3") // an empty cohort

	// BSc Physics 2 has ten, with different amounts of activity.
	big := cohortStudents("BSc Physics", 2, 10)
	if err := store.PutStudents(ctx, f.rdb, big); err != nil {
		t.Fatal(err)
	}
	var acts []activity
	for i, s := range big {
		for _, d := range []string{"2026-10-14", "2026-10-15", "2026-10-16", "2026-10-19", "2026-10-20"} {
			if i > 0 {
				acts = append(acts, activity{s.ID, d, v1alpha1.MoodleCourse, i}, activity{s.ID, d, v1alpha1.TapIn, i / 2})
			}
			if i >= 6 {
				acts = append(acts, activity{s.ID, d, v1alpha1.FaserUpload, 1})
			}
			if i >= 8 {
				acts = append(acts, activity{s.ID, d, v1alpha1.ListenAgain, 2})
			}
		}
	}
	f.record(t, acts...)

	eng := newEngine(t, f.api.svc.Policy.Current())
	var inds []*engine.Indicator
	for _, s := range big {
		ind, _ := eng.Indicator(engineStudent(s), f.ledger[s.ID], day(t, "2026-10-20"))
		inds = append(inds, ind)
	}
	want, err := eng.Cohort(inds)
	if err != nil {
		t.Fatal(err)
	}
	got := decode[Cohort](t, get(t, f.api.url, "/v1/cohorts/BSc%20Physics/2", http.StatusOK))
	if got.Size != 10 || got.Course != "BSc Physics" || got.Year != 2 || got.AsOf != "2026-10-20" {
		t.Errorf("cohort %+v, want BSc Physics 2 of 10 as of 2026-10-20", got)
	}
	if len(got.Bands) != 5 || !maps.Equal(got.Bands, want.Bands) || got.MeanScore != want.MeanScore {
		t.Errorf("bands %v mean %v, want %v and %v", got.Bands, got.MeanScore, want.Bands, want.MeanScore)
	}
	for _, b := range []engine.Band{engine.High, engine.Good, engine.Partial, engine.Low, engine.VeryLow} {
		if _, ok := got.Bands[b]; !ok {
			t.Errorf("band %s missing from %v", b, got.Bands)
		}
	}
	total := 0
	for _, n := range got.Bands {
		total += n
	}
	if total != 10 || got.Bands[engine.VeryLow] == 10 {
		t.Errorf("bands %v: want 10 students spread over more than one band", got.Bands)
	}

	// One of the ten becomes a research student, who has no indicator:
	// nine remain, and the figures are refused again.
	big[0].Level = "pgr"
	if err := store.PutStudents(ctx, f.rdb, big[:1]); err != nil {
		t.Fatal(err)
	}
	assertRefused("/v1/cohorts/BSc%20Physics/2")
}

func TestRedisDown(t *testing.T) {
	f := start(t, nil)
	get(t, f.api.url, ug1Range, http.StatusOK)

	f.redis.Stop()
	for _, path := range []string{
		ug1Range,
		"/v1/students/pt1/engagement",
		"/v1/students/quiet1/alerts",
		"/v1/tutors/t1/alerts",
		"/v1/cohorts/BSc%20Mathematics/1",
	} {
		b := get(t, f.api.url, path, http.StatusServiceUnavailable)
		if p := decode[server.ProblemDetails](t, b); p.Title != "Service Unavailable" || !strings.Contains(p.Detail, "cannot be reached") {
			t.Errorf("%s: problem %+v, want Service Unavailable, the store cannot be reached", path, p)
		}
	}

	// Back again, with its data.
	f.redis.Restart(t)
	got := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	f.wantEngagement(t, got, f.api.svc.Policy.Current(), "ug1", "2026-10-12")
}

// Many requests at once, while events arrive, agree with one another and
// end at the final counts (run with -race).
func TestConcurrentRequests(t *testing.T) {
	f := start(t, nil)
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			path := ug1Range
			if i%2 == 1 {
				path = "/v1/students/pt1/engagement"
			}
			resp, err := http.Get(f.api.url + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("GET %s: %d", path, resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	f.record(t, activity{"ug1", "2026-10-20", v1alpha1.FaserUpload, 1})
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got := decode[Engagement](t, get(t, f.api.url, ug1Range, http.StatusOK))
	f.wantEngagement(t, got, f.api.svc.Policy.Current(), "ug1", "2026-10-12")
	if s := slices.Collect(maps.Keys(dayOf(t, got, "2026-10-20").Counts)); !slices.Contains(s, "faser_upload") {
		t.Errorf("20 October counts %v, want the upload", s)
	}
}

// A run of silence longer than the indicator's longest window is reported
// from where it really began.
func TestLongSilence(t *testing.T) {
	f := start(t, nil)
	f.record(t, activity{"quiet1", "2026-10-14", v1alpha1.MoodleLogin, 1})
	// 10 March 2027 is a Wednesday of the spring term, the 70th teaching
	// day after 14 October.
	march := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
	svc := &Service{Redis: f.rdb, Policy: f.api.svc.Policy, Now: func() time.Time { return march }, CacheTTL: time.Minute}
	srv := server.New(server.Options{Name: "scoring", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)

	// 10 March is in progress: the run is of the 69 days that have ended.
	got := decode[[]Alert](t, get(t, ts.URL, "/v1/students/quiet1/alerts", http.StatusOK))
	if len(got) == 0 || got[0].Kind != engine.NoEngagement || got[0].Since != "2026-10-15" || got[0].Days != 69 {
		t.Fatalf("alerts %+v, want no_engagement since 2026-10-15 for 69 teaching days first", got)
	}
	eng := newEngine(t, svc.Policy.Current())
	for i, a := range eng.AlertsToday(engineStudent(rosterEntry(t, "quiet1")), f.ledger["quiet1"], day(t, "2027-03-10")) {
		if i >= len(got) || got[i] != (Alert{"quiet1", a.Kind, a.Since.String(), a.Days, a.Message}) {
			t.Errorf("alert %d: %+v, want %+v", i, got, a)
		}
	}
}
