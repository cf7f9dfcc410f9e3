package scoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

// postPreview posts a draft that must be accepted.
func postPreview(t testing.TB, base, body string) []byte {
	t.Helper()
	resp, err := http.Post(base+"/v1/policy/preview", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/policy/preview: %d: %s", resp.StatusCode, b)
	}
	return b
}

// expected is each roster student's indicator under a policy, computed
// by the engine from the test's own ledger: what the preview must find by
// reading Redis.
func expected(t *testing.T, f *fixture, students []store.Student, l *policy.Loaded) map[string]*engine.Indicator {
	t.Helper()
	e := newEngine(t, l)
	today := l.Calendar.Today(now)
	out := map[string]*engine.Indicator{}
	for _, st := range students {
		out[st.ID], _ = e.IndicatorToday(engineStudent(st), f.ledger[st.ID], today)
	}
	return out
}

// addTapper adds a student whose engagement is card taps alone, on every
// teaching day so far.
func addTapper(t *testing.T, f *fixture) []store.Student {
	t.Helper()
	tapper := store.Student{ID: "tap1", Name: "Eve", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "FT"}
	if err := store.PutStudents(context.Background(), f.rdb, []store.Student{tapper}); err != nil {
		t.Fatal(err)
	}
	roster := append(slices.Clone(roster), tapper)
	for _, d := range []string{"2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08", "2026-10-09", "2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16", "2026-10-19"} {
		f.record(t, activity{"tap1", d, v1alpha1.TapIn, 4})
	}
	return roster
}

// TestPreviewAttendanceOffForTheYear: switching attendance off without
// renormalising moves the students whose taps counted down, and only
// them; the figures match the engine run over the test's own record of
// the counts.
func TestPreviewAttendanceOffForTheYear(t *testing.T) {
	src := policy.Static(parsePolicy(t, sample(t, "minCohortSize: 10", "minCohortSize: 2")))
	f := start(t, src)
	students := addTapper(t, f)
	off := parsePolicy(t, sample(t, "minCohortSize: 10", "minCohortSize: 2", "attendance:\n    enabled: true", "attendance:\n    enabled: false\n    reason: online"))
	before, after := expected(t, f, students, src.Current()), expected(t, f, students, off)

	got := decode[Preview](t, postPreview(t, f.api.url, `{"attendance":{"enabled":false,"reason":"online","renormalize":false},"wholeYear":true}`))

	wantHash, _ := off.Doc.Hash()
	if got.PolicyHash.After != wantHash || got.PolicyHash.Before != src.Current().Hash {
		t.Errorf("hashes %+v, want after %s (the policy an apply gives)", got.PolicyHash, wantHash)
	}
	var changed []string
	down := 0
	for _, st := range students {
		b, a := before[st.ID], after[st.ID]
		if b == nil || a == nil {
			continue
		}
		if b.Band != a.Band {
			changed = append(changed, st.ID)
		}
		if a.Band.Rank() < b.Band.Rank() {
			down++
		}
		if a.Band.Rank() > b.Band.Rank() {
			t.Fatalf("%s moves up when attendance goes off", st.ID)
		}
	}
	if down == 0 {
		t.Fatal("the fixture moves nobody: the test would prove nothing")
	}
	var gotChanged []string
	for _, c := range got.Changed {
		gotChanged = append(gotChanged, c.Student)
		if c.Before != before[c.Student].Band || c.After != after[c.Student].Band || *c.ScoreAfter != after[c.Student].Score {
			t.Errorf("%s: %+v, want %s -> %s (%v)", c.Student, c, before[c.Student].Band, after[c.Student].Band, after[c.Student].Score)
		}
	}
	slices.Sort(gotChanged)
	if !slices.Equal(gotChanged, changed) || got.ChangedTotal != len(changed) {
		t.Errorf("changed %v (total %d), want %v", gotChanged, got.ChangedTotal, changed)
	}
	if got.Moves.Down != down || got.Moves.Up != 0 || got.Students != len(students) {
		t.Errorf("moves %+v over %d students, want %d down", got.Moves, got.Students, down)
	}
	// Maths has four students with an indicator: shown at a minimum of
	// two. History's only student (pgr1) gets none: merged, and withheld.
	if len(got.Departments.Groups) != 1 || got.Departments.Groups[0].Department != "Maths" || got.Departments.Groups[0].SizeBefore != 4 ||
		got.Departments.Merged != 1 || got.Departments.Rest != nil {
		t.Errorf("departments %+v", got.Departments)
	}
	wantAfter := map[engine.Band]int{}
	for _, st := range students {
		if a := after[st.ID]; a != nil && st.Department == "Maths" {
			wantAfter[a.Band]++
		}
	}
	for _, band := range engine.Bands {
		if got.Departments.Groups[0].After[band] != wantAfter[band] {
			t.Errorf("Maths after: %v, want %v", got.Departments.Groups[0].After, wantAfter)
		}
	}
	if got.University == nil || got.University.SizeAfter != 4 {
		t.Errorf("university %+v", got.University)
	}
	if p, _ := json.Marshal(got.Patch); string(p) != `{"attendance":{"enabled":false,"reason":"online"}}` {
		t.Errorf("patch %s", p)
	}
}

// TestPreviewWithholdsSmallGroups: at the sample's minimum of ten, no
// figure about four students is shown, neither the university's nor a
// department's, nor a merged rest.
func TestPreviewWithholdsSmallGroups(t *testing.T) {
	f := start(t, nil)
	addTapper(t, f)
	got := decode[Preview](t, postPreview(t, f.api.url, `{"attendance":{"enabled":false,"reason":"online"},"wholeYear":true}`))
	if got.University != nil || len(got.Departments.Groups) != 0 || got.Departments.Rest != nil || len(got.Cohorts.Groups) != 0 || got.Cohorts.Rest != nil {
		t.Errorf("figures about a group under the minimum: %+v %+v %+v", got.University, got.Departments, got.Cohorts)
	}
	if got.Departments.Merged != 2 || got.Cohorts.Merged != 2 {
		t.Errorf("merged %d departments, %d cohorts; want 2 and 2", got.Departments.Merged, got.Cohorts.Merged)
	}
	if got.ChangedTotal == 0 {
		t.Error("the LEAP team sees the students who change even when the groups are small")
	}
}

// TestPreviewFromTodayKeepsThePast: a change from today leaves the days
// before it under the old policy, so today's indicator, whose window is
// mostly earlier days, moves less than for the whole year; alerts of a
// shorter alert run start at once.
func TestPreviewFromTodayKeepsThePast(t *testing.T) {
	f := start(t, nil)
	year := decode[Preview](t, postPreview(t, f.api.url, `{"attendance":{"enabled":false,"reason":"online"},"wholeYear":true}`))
	today := decode[Preview](t, postPreview(t, f.api.url, `{"attendance":{"enabled":false,"reason":"online"}}`))
	if len(today.Policy.PolicyHistory) != 1 || today.Policy.PolicyHistory[0].Until != "2026-10-19" || len(year.Policy.PolicyHistory) != 0 {
		t.Fatalf("history from today %+v, for the year %+v", today.Policy.PolicyHistory, year.Policy.PolicyHistory)
	}
	if today.Moves.Down > year.Moves.Down {
		t.Errorf("from today moves %d down, the whole year %d", today.Moves.Down, year.Moves.Down)
	}

	// quiet1 has been silent for 6 teaching days. Today's alerts are
	// yesterday's, judged under yesterday's policy: a shorter run from
	// today alerts from tomorrow, one for the whole year at once.
	alerts := decode[Preview](t, postPreview(t, f.api.url, `{"scoring":{"noEngagementAlertDays":3},"wholeYear":true}`))
	if alerts.Alerts.Started[engine.NoEngagement] != 1 {
		t.Errorf("alerts %+v: an alert after 3 silent days starts for quiet1", alerts.Alerts)
	}
	alerts = decode[Preview](t, postPreview(t, f.api.url, `{"scoring":{"noEngagementAlertDays":3}}`))
	if alerts.Alerts.Started[engine.NoEngagement] != 0 {
		t.Errorf("alerts %+v: yesterday's alerts follow yesterday's policy", alerts.Alerts)
	}
}

// TestPreviewRefusesInvalidDrafts: problem+json with each refusal at the
// path of its field, as the API server would refuse the apply.
func TestPreviewRefusesInvalidDrafts(t *testing.T) {
	f := start(t, nil)
	for _, tc := range []struct{ draft, field, detail string }{
		{`{"scoring":{"bands":{"high":40,"good":50,"partial":30,"low":10}}}`, "spec.scoring.bands", "band thresholds must be strictly descending"},
		{`{"scoring":{"weights":{"tap_in":-1}}}`, "spec.scoring.weights", "weights must not be negative"},
		{`{"breaks":[{"name":"a","start":"2026-11-09","end":"2026-11-13"},{"name":"b","start":"2026-11-11","end":"2026-11-12"}]}`, "spec.breaks", "breaks must not overlap"},
		{`{"scoring":{"windowDays":"seven"}}`, "spec.scoring.windowDays", "must be int32"},
		{`{"terms":[]}`, "draft.terms", "supported values"},
		{`nonsense`, "draft", "a draft is a JSON object"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			resp, err := http.Post(f.api.url+"/v1/policy/preview", "application/json", strings.NewReader(tc.draft))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var p invalidDraftJSON
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range p.Errors {
				found = found || e.Field == tc.field && strings.Contains(e.Detail, tc.detail)
			}
			if !found || p.Status != http.StatusUnprocessableEntity {
				t.Errorf("%+v: want %q at %s", p, tc.detail, tc.field)
			}
		})
	}
}

// TestPreviewChangesNothing: every key and value in Redis, and the policy
// in force, are as they were after a preview.
func TestPreviewChangesNothing(t *testing.T) {
	f := start(t, nil)
	get(t, f.api.url, ug1Range, http.StatusOK) // a cache entry to keep
	snapshot := func() map[string]string {
		ctx := context.Background()
		out := map[string]string{}
		keys, err := f.rdb.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, err := f.rdb.Dump(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			ttl := f.rdb.PTTL(ctx, k).Val() > 0
			out[k] = fmt.Sprintf("%x %v", v, ttl)
		}
		return out
	}
	hash := f.api.svc.Policy.Current().Hash
	was := snapshot()
	postPreview(t, f.api.url, `{"attendance":{"enabled":false,"reason":"online"},"scoring":{"weights":{"faser_view":4}}}`)
	is := snapshot()
	if len(was) < 10 || !mapsEqual(was, is) {
		t.Errorf("Redis changed: %d keys before, %d after", len(was), len(is))
	}
	if f.api.svc.Policy.Current().Hash != hash {
		t.Error("the policy in force changed")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReadStudentsOnACluster: the bulk reader's pipeline reaches every
// node of a Cluster, each student's keys in their own slot, and reads the
// same as one student at a time.
func TestReadStudentsOnACluster(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	var students []store.Student
	var events []store.Event
	from := day(t, "2026-10-05")
	for i := range 60 {
		id := fmt.Sprintf("c%d", i)
		students = append(students, store.Student{ID: id, Name: id, Department: "D", Course: "C", Year: 1, Level: "ug", Mode: "FT"})
		for d := range 40 {
			if (i+d)%3 != 0 {
				events = append(events, store.Event{ID: fmt.Sprintf("%s-%d", id, d), Student: id, Activity: (i + d) % v1alpha1.NumActivities, Day: from.AddDays(d)})
			}
		}
	}
	if err := store.PutStudents(ctx, rdb, students); err != nil {
		t.Fatal(err)
	}
	rec := store.Recorder{Client: rdb, Retention: 24 * time.Hour, Now: func() time.Time { return now }}
	if _, err := rec.Record(ctx, events); err != nil {
		t.Fatal(err)
	}
	ids := []string{"c0", "missing"}
	for _, s := range students[1:] {
		ids = append(ids, s.ID)
	}
	to := from.AddDays(45)
	got, err := store.ReadStudents(ctx, rdb, ids, from, to)
	if err != nil {
		t.Fatal(err)
	}
	slots := map[uint16]bool{}
	for i, id := range ids {
		if id == "missing" {
			if got[i].Found {
				t.Error("a student with no profile was found")
			}
			continue
		}
		slots[store.Slot(id)] = true
		one, err := store.StudentCounts(ctx, rdb, id, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !got[i].Found || got[i].Student.ID != id || !countsEqual(got[i].Counts, one) || len(one) == 0 {
			t.Errorf("%s: bulk %v, one by one %v", id, got[i].Counts, one)
		}
	}
	if len(slots) < 30 {
		t.Fatalf("the students share %d slots: the test would not cross nodes", len(slots))
	}
}

func countsEqual(a, b map[calendar.Day]engine.Counts) bool {
	if len(a) != len(b) {
		return false
	}
	for d, c := range a {
		if b[d] != c {
			return false
		}
	}
	return true
}
