package portal

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/store"
)

var listedID = regexp.MustCompile(`<tr class="student" data-id="([^"]+)">`)

// teachingDays are the weekdays of the autumn term up to the fixture's now.
func teachingDays(t *testing.T) []calendar.Day {
	t.Helper()
	var days []calendar.Day
	first, _ := calendar.ParseDay("2026-10-05")
	for d := first; !now.Before(d.Start(time.UTC)); d = d.AddDays(1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			days = append(days, d)
		}
	}
	return days
}

// tutees puts students under a tutor, each with events on the given days.
func (f *fixture) tutees(t *testing.T, tutor string, students []store.Student, activity map[string][]calendar.Day) {
	t.Helper()
	ctx := context.Background()
	must(t, store.PutStudents(ctx, f.rdb, students))
	var ts []store.Tutoring
	var events []store.Event
	for _, st := range students {
		ts = append(ts, store.Tutoring{Staff: tutor, Student: st.ID})
		for _, d := range activity[st.ID] {
			for a := range 8 { // every scored activity, a few times: a busy day
				for k := range 3 {
					events = append(events, store.Event{ID: fmt.Sprintf("%s-%s-%d-%d", st.ID, d, a, k), Student: st.ID, Activity: a, Day: d})
				}
			}
		}
	}
	must(t, store.PutTutors(ctx, f.rdb, ts))
	_, err := store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, events)
	must(t, err)
}

func TestTutorListIsSortedByNeed(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	days := teachingDays(t)
	ug := func(id, name string) store.Student {
		return store.Student{ID: id, Name: name, Department: "Maths", Course: "BSc Maths", Year: 2, Level: "ug", Mode: "FT"}
	}
	phd := ug("p1", "Pat Research")
	phd.Level = "pgr"
	f.tutees(t, "t2", []store.Student{ug("h1", "Hal High"), ug("n1", "Nia Nothing"), phd, ug("n2", "Noa FirstDayOnly"), ug("v2", "Val Friday")},
		map[string][]calendar.Day{
			"h1": days, "p1": days, // busy every teaching day
			"n2": days[:1],   // the first day only: silent for two weeks
			"v2": days[9:10], // last Friday only
		})

	t2 := f.signIn(t, "t2")
	_, page := fetch(t, t2.Client, f.url+"/students")
	var order []string
	for _, m := range listedID.FindAllStringSubmatch(page, -1) {
		order = append(order, m[1])
	}
	// Alerts first (nothing at all, then silent longest), then by band,
	// very low first; the research student, with no indicator, last.
	if want := []string{"n1", "n2", "v2", "h1", "p1"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	for _, want := range []string{`class="alert"`, "none this year", "15 days ago", "4 days ago", "today", `<svg class="spark"`, "No indicator", "(research)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if strings.Contains(page, "style=") {
		t.Error("inline style on the list")
	}

	// Thirty busy tutees, the size of a large tutor group: how long the
	// list takes, with scoring's cache cold and then warm.
	var thirty []store.Student
	busy := map[string][]calendar.Day{}
	for i := range 30 {
		st := ug(fmt.Sprintf("q%02d", i), fmt.Sprintf("Tutee %02d", i))
		thirty = append(thirty, st)
		busy[st.ID] = days[i%5:]
	}
	f.tutees(t, "t3", thirty, busy)
	t3 := f.signIn(t, "t3")
	for _, cache := range []string{"cold", "warm"} {
		began := time.Now()
		status, page := fetch(t, t3.Client, f.url+"/students")
		took := time.Since(began)
		if n := len(listedID.FindAllString(page, -1)); status != 200 || n != 30 {
			t.Fatalf("%d with %d rows", status, n)
		}
		t.Logf("30 tutees, scoring cache %s: %v", cache, took.Round(time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("the list of 30 tutees took %v", took)
		}
	}
}

// TestListsShowOnlyWhatThePageWouldOpen: an index that names a student the
// viewer has no legitimate need to see (a tutor's former tutee, a student
// who moved department, left behind by a roster change) shows no row of
// them: every row is checked as the student's page checks, and every row
// listed opens.
var studentLink = regexp.MustCompile(`href="/students/([^"]+)"`)

func TestListsShowOnlyWhatThePageWouldOpen(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	// Stale entries: s3 (History, no tutor) under tutor t1 (Maths); s2
	// (Maths, no tutor) under t2, who is on no staff roster; s1 (Maths) in
	// History's department set.
	must(t, f.rdb.SAdd(ctx, store.TuteesKey("t1"), "s3").Err())
	must(t, f.rdb.SAdd(ctx, store.TuteesKey("t2"), "s2").Err())
	must(t, f.rdb.SAdd(ctx, store.DepartmentKey("History"), "s1").Err())

	for user, want := range map[string][]string{"t1": {"r1", "s1"}, "t2": nil, "o1": {"s3"}} {
		u := f.signIn(t, user)
		status, page := fetch(t, u.Client, f.url+"/students")
		if status != 200 {
			t.Fatalf("%s: list %d", user, status)
		}
		var listed []string
		for _, m := range listedID.FindAllStringSubmatch(page, -1) {
			listed = append(listed, m[1])
		}
		slices.Sort(listed)
		if !slices.Equal(listed, want) {
			t.Errorf("%s's list: %v, want %v", user, listed, want)
		}
		// Every link on the page opens, the department's list included.
		for _, m := range studentLink.FindAllStringSubmatch(page, -1) {
			if status, _ := fetch(t, u.Client, f.url+"/students/"+m[1]); status != 200 {
				t.Errorf("%s's list links %s, whose page answers %d", user, m[1], status)
			}
		}
		rows := between(page, `id="students"`, "</table>")
		for id, name := range map[string]string{"s1": "Ada Student", "s2": "Ben Student", "s3": "Cai Student"} {
			if !slices.Contains(want, id) && strings.Contains(rows, name) {
				t.Errorf("%s's list names %s", user, name)
			}
		}
	}
}
