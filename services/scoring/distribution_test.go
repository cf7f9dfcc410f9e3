package scoring

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

const weeklyPath = "/v1/distribution/weekly"

// physics adds twelve Physics students with graded activity from the
// second week of term, so that they spread over the bands, and returns
// the whole roster.
func physics(t *testing.T, f *fixture) []store.Student {
	t.Helper()
	students := make([]store.Student, 12)
	var acts []activity
	for i := range students {
		students[i] = store.Student{ID: fmt.Sprintf("p%02d", i), Name: fmt.Sprintf("Phys %d", i), Email: fmt.Sprintf("p%02d@example.ac.uk", i),
			Department: "Physics", Course: "BSc Physics", Year: 1 + i%2, Level: "ug", Mode: "FT"}
		for _, d := range []string{"2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16", "2026-10-19", "2026-10-20"} {
			if i > 0 {
				acts = append(acts, activity{students[i].ID, d, v1alpha1.MoodleCourse, i})
			}
			if i >= 4 {
				acts = append(acts, activity{students[i].ID, d, v1alpha1.TapIn, min(i/2, 4)})
			}
			if i >= 8 {
				acts = append(acts, activity{students[i].ID, d, v1alpha1.FaserUpload, 1}, activity{students[i].ID, d, v1alpha1.ListenAgain, 2})
			}
		}
	}
	if err := store.PutStudents(context.Background(), f.rdb, students); err != nil {
		t.Fatal(err)
	}
	f.record(t, acts...)
	return append(slices.Clone(roster), students...)
}

// chemistry adds ten Chemistry students, each with a little Moodle from
// the second week, and returns them.
func chemistry(t *testing.T, f *fixture) []store.Student {
	t.Helper()
	students := make([]store.Student, 10)
	var acts []activity
	for i := range students {
		students[i] = store.Student{ID: fmt.Sprintf("k%02d", i), Name: fmt.Sprintf("Chem %d", i), Department: "Chemistry", Course: "BSc Chemistry", Year: 1, Level: "ug", Mode: "FT"}
		for _, d := range []string{"2026-10-12", "2026-10-14", "2026-10-16", "2026-10-19"} {
			acts = append(acts, activity{students[i].ID, d, v1alpha1.MoodleCourse, 1 + i%4})
		}
	}
	if err := store.PutStudents(context.Background(), f.rdb, students); err != nil {
		t.Fatal(err)
	}
	f.record(t, acts...)
	return students
}

// wantWeeks is what the distribution must say, worked out by the engine
// from the test's own ledger: per week, the bands of the university and
// of each department (every group, whatever its size).
func wantWeeks(t *testing.T, f *fixture, students []store.Student, l *policy.Loaded, today calendar.Day, weeks []WeekOf) (univ []BandCounts, depts map[string][]BandCounts) {
	t.Helper()
	e := newEngine(t, l)
	depts = map[string][]BandCounts{}
	for w, wk := range weeks {
		u := BandCounts{Bands: map[engine.Band]int{}}
		for _, st := range students {
			asOf := day(t, wk.AsOf)
			var ind *engine.Indicator
			if asOf == today {
				ind, _ = e.IndicatorToday(engineStudent(st), f.ledger[st.ID], today)
			} else {
				ind, _ = e.Indicator(engineStudent(st), f.ledger[st.ID], asOf)
			}
			if depts[st.Department] == nil {
				depts[st.Department] = make([]BandCounts, len(weeks))
			}
			d := &depts[st.Department][w]
			if d.Bands == nil {
				d.Bands = map[engine.Band]int{}
			}
			if ind != nil {
				u.Bands[ind.Band]++
				u.Size++
				d.Bands[ind.Band]++
				d.Size++
			}
		}
		univ = append(univ, u)
	}
	return univ, depts
}

// sameBands compares a shown group with what the engine says, ignoring
// bands with no student.
func sameBands(got *BandCounts, want BandCounts) bool {
	if got == nil {
		return false
	}
	g := maps.Clone(got.Bands)
	maps.DeleteFunc(g, func(_ engine.Band, n int) bool { return n == 0 })
	return got.Size == want.Size && maps.Equal(g, want.Bands)
}

// TestWeeklyDistribution: the weeks of the year so far, the university's
// and each big department's bands at the end of each week, as the engine
// gives them from the test's own ledger; the small departments (Maths
// with three students with an indicator, History with none) merged, and
// never to be worked out by subtraction: with Physics alone big enough,
// the university less Physics would be Maths's three, so Physics is
// merged too; with Chemistry too, the smaller of the two is. Alerts by
// department under the same rule.
func TestWeeklyDistribution(t *testing.T) {
	f := start(t, nil)
	students := physics(t, f)
	alone := decode[Weekly](t, get(t, f.api.url, weeklyPath, http.StatusOK))
	if len(alone.Departments) != 0 || alone.Merged != 3 {
		t.Errorf("Physics, Maths and History: departments %+v, %d merged; want none shown, three merged", alone.Departments, alone.Merged)
	}
	for w := range alone.Weeks {
		if alone.University[w] == nil || alone.Rest[w] == nil || alone.Rest[w].Size != alone.University[w].Size {
			t.Errorf("week %s: university %+v, rest %+v; want the merged departments the whole university", alone.Weeks[w].Week, alone.University[w], alone.Rest[w])
		}
	}

	students = append(students, chemistry(t, f)...)
	got := decode[Weekly](t, get(t, f.api.url, weeklyPath, http.StatusOK))

	wantWeekList := []WeekOf{{Week: "2026-10-05", AsOf: "2026-10-11"}, {Week: "2026-10-12", AsOf: "2026-10-18"}, {Week: "2026-10-19", AsOf: "2026-10-20", InProgress: true}}
	if !slices.Equal(got.Weeks, wantWeekList) {
		t.Fatalf("weeks %+v, want %+v", got.Weeks, wantWeekList)
	}
	if got.Students != 26 || got.MinCohortSize != 10 || got.Today != "2026-10-20" {
		t.Errorf("students %d, minimum %d, today %s; want 26, 10, 2026-10-20", got.Students, got.MinCohortSize, got.Today)
	}
	univ, depts := wantWeeks(t, f, students, f.api.svc.Policy.Current(), day(t, "2026-10-20"), got.Weeks)
	for w := range got.Weeks {
		if !sameBands(got.University[w], univ[w]) {
			t.Errorf("week %s: university %+v, want %+v", got.Weeks[w].Week, got.University[w], univ[w])
		}
	}
	if len(got.Departments) != 1 || got.Departments[0].Department != "Physics" {
		t.Fatalf("departments %+v, want Physics alone", got.Departments)
	}
	for w, bc := range got.Departments[0].Weeks {
		if !sameBands(bc, depts["Physics"][w]) {
			t.Errorf("week %s: Physics %+v, want %+v", got.Weeks[w].Week, bc, depts["Physics"][w])
		}
	}
	if last := got.Departments[0].Weeks[2]; len(slices.DeleteFunc(slices.Collect(maps.Values(last.Bands)), func(n int) bool { return n == 0 })) < 3 {
		t.Errorf("Physics this week %+v: want students spread over at least three bands", last)
	}
	// The merged group: Chemistry's ten and Maths's three, each week.
	if got.Merged != 3 {
		t.Errorf("merged %d: want Chemistry, Maths and History", got.Merged)
	}
	for w := range got.Weeks {
		want := BandCounts{Bands: maps.Clone(depts["Chemistry"][w].Bands), Size: depts["Chemistry"][w].Size + depts["Maths"][w].Size}
		for b, n := range depts["Maths"][w].Bands {
			want.Bands[b] += n
		}
		if !sameBands(got.Rest[w], want) {
			t.Errorf("week %s: rest %+v, want Chemistry and Maths %+v", got.Weeks[w].Week, got.Rest[w], want)
		}
	}

	// Alerts: Chemistry and Physics shown (no total of alerts is given, so
	// nothing subtracts); Maths and History merged into four students,
	// withheld; no figure about them anywhere.
	if len(got.Alerts.Departments) != 2 || got.Alerts.Departments[1].Department != "Physics" || got.Alerts.Departments[1].Students != 12 {
		t.Errorf("alerts %+v, want Chemistry and Physics of 12", got.Alerts.Departments)
	}
	if got.Alerts.Rest != nil || got.Alerts.Merged != 2 {
		t.Errorf("alerts rest %+v, merged %d: want withheld, 2", got.Alerts.Rest, got.Alerts.Merged)
	}
	// p00 did nothing this year: a no-engagement alert, counted in Physics.
	if n := got.Alerts.Departments[1].Open[engine.NoEngagement]; n != 1 || got.Alerts.Departments[1].Alerted < 1 {
		t.Errorf("Physics alerts %+v, want p00's no-engagement alert", got.Alerts.Departments[1])
	}
	b := get(t, f.api.url, weeklyPath, http.StatusOK)
	for _, name := range []string{`"Maths"`, `"History"`} {
		if strings.Contains(string(b), name) {
			t.Errorf("the answer names %s, a department too small to show: %s", name, b)
		}
	}
}

// TestWeeklyDistributionCache: an answer is reused while nothing it
// depends on changes, and worked out again after a new event, a move of
// department or a new policy.
func TestWeeklyDistributionCache(t *testing.T) {
	f := start(t, nil)
	physics(t, f)
	chemistry(t, f)
	ctx := context.Background()
	first := decode[Weekly](t, get(t, f.api.url, weeklyPath, http.StatusOK))

	// Mark the cached answer: a reply carrying the mark came from the
	// cache.
	marked := func() {
		t.Helper()
		v, err := f.rdb.Get(ctx, store.WeeklyDistributionKey).Result()
		if err != nil {
			t.Fatalf("no cached answer: %v", err)
		}
		fp, _, _ := strings.Cut(v, "\n")
		must(t, f.rdb.Set(ctx, store.WeeklyDistributionKey, fp+"\n"+`{"students":999}`, time.Minute).Err())
	}
	marked()
	if got := decode[Weekly](t, get(t, f.api.url, weeklyPath, http.StatusOK)); got.Students != 999 {
		t.Fatalf("second answer %d students, want the cached one", got.Students)
	}

	// A new event: worked out again.
	f.record(t, activity{"p00", "2026-10-20", v1alpha1.MoodleCourse, 3})
	if got := decode[Weekly](t, get(t, f.api.url, weeklyPath, http.StatusOK)); got.Students != 26 {
		t.Fatalf("after a new event: %d students, want 26 worked out again", got.Students)
	}

	// A student moves from Physics to Maths mid-year: no count changes,
	// yet the answer does. They count in the department the roster gives
	// them now, in every week.
	marked()
	p01 := store.Student{ID: "p01", Name: "Phys 1", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "FT"}
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{p01}))
	moved := decode[Weekly](t, get(t, f.api.url, weeklyPath, http.StatusOK))
	if moved.Students != 26 {
		t.Fatalf("after a move: %d students, want 26 worked out again", moved.Students)
	}
	for w := range moved.Weeks {
		before, after := first.Departments[0].Weeks[w], moved.Departments[0].Weeks[w]
		if before.Size != 12 || after.Size != 11 {
			t.Errorf("week %s: Physics %d then %d students, want 12 then 11", moved.Weeks[w].Week, before.Size, after.Size)
		}
	}
	if moved.Alerts.Departments[1].Students != 11 {
		t.Errorf("alerts after the move: Physics %d students, want 11", moved.Alerts.Departments[1].Students)
	}

	// A new policy: worked out again, under it.
	marked()
	src := policy.Static(parsePolicy(t, sample(t, "minCohortSize: 10", "minCohortSize: 2")))
	d := &Distributor{Redis: f.rdb, Policy: src, Now: func() time.Time { return now }}
	b, err := d.Weekly(ctx)
	must(t, err)
	got := decode[Weekly](t, b)
	// History's one student is a research student, with no indicator:
	// it stays merged, and alone it is withheld.
	if got.Students != 26 || got.MinCohortSize != 2 || len(got.Departments) != 3 || got.Merged != 1 {
		t.Errorf("under a new policy: %d students, minimum %d, %d departments, %d merged; want 26, 2, Chemistry, Maths and Physics, History merged",
			got.Students, got.MinCohortSize, len(got.Departments), got.Merged)
	}
}

// TestWeeklyDistributionClock: on a Saturday the week so far is the
// week in progress, its figures those of the engine for that day; on
// the first morning of term there is one week and no figure yet (nobody
// has an indicator), and before the year begins none at all: answers,
// not errors.
func TestWeeklyDistributionClock(t *testing.T) {
	f := start(t, nil)
	students := append(physics(t, f), chemistry(t, f)...)
	ctx := context.Background()
	at := func(clock time.Time) Weekly {
		t.Helper()
		d := &Distributor{Redis: f.rdb, Policy: f.api.svc.Policy, Now: func() time.Time { return clock }}
		b, err := d.Weekly(ctx)
		must(t, err)
		return decode[Weekly](t, b)
	}

	saturday := at(time.Date(2026, 10, 24, 11, 0, 0, 0, time.UTC))
	if n := len(saturday.Weeks); n != 3 || saturday.Weeks[2] != (WeekOf{Week: "2026-10-19", AsOf: "2026-10-24", InProgress: true}) {
		t.Fatalf("Saturday: weeks %+v, want three, the last in progress to Saturday", saturday.Weeks)
	}
	univ, _ := wantWeeks(t, f, students, f.api.svc.Policy.Current(), day(t, "2026-10-24"), saturday.Weeks)
	if !sameBands(saturday.University[2], univ[2]) {
		t.Errorf("Saturday: university %+v, want %+v", saturday.University[2], univ[2])
	}

	firstMorning := at(time.Date(2026, 10, 5, 8, 0, 0, 0, time.UTC))
	if len(firstMorning.Weeks) != 1 || firstMorning.University[0] != nil || len(firstMorning.Departments) != 0 || firstMorning.Merged != 4 {
		t.Errorf("first morning of term: %+v; want one week, no figure, four departments merged", firstMorning)
	}

	before := at(time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC))
	if len(before.Weeks) != 0 || len(before.University) != 0 {
		t.Errorf("before the year: weeks %+v, want none", before.Weeks)
	}
}

// TestWeeklyDistributionRedisDown: 503, the store cannot be reached.
func TestWeeklyDistributionRedisDown(t *testing.T) {
	f := start(t, nil)
	get(t, f.api.url, weeklyPath, http.StatusOK)
	f.redis.Stop()
	b := get(t, f.api.url, weeklyPath, http.StatusServiceUnavailable)
	if p := decode[server.ProblemDetails](t, b); !strings.Contains(p.Detail, "cannot be reached") {
		t.Errorf("problem %+v, want: the store cannot be reached", p)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
