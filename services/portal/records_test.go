package portal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/store"
)

var objectiveForm = regexp.MustCompile(`action="/students/s1/objectives/([0-9a-f]+)/state"`)

func TestNotesObjectivesAndReferralsReachTheStudent(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	t1, s1, r1 := f.signIn(t, "t1"), f.signIn(t, "s1"), f.signIn(t, "r1")
	writes := []struct{ path, fields []string }{
		{[]string{"/students/s1/notes"}, []string{"text", "Talked about <b>time</b> management.\nMeet again in two weeks."}},
		{[]string{"/students/s1/objectives"}, []string{"text", "Hand in the first essay plan", "due", "2026-11-02"}},
		{[]string{"/students/s1/referrals"}, []string{"service", "skills and careers", "text", "Ask about the essay workshop."}},
		{[]string{"/students/r1/notes"}, []string{"text", "Supervision moved to Thursdays."}},
	}
	for _, w := range writes {
		if status, body := post(t, t1.Client, f.url+w.path[0], form(w.fields...)); status != http.StatusSeeOther {
			t.Fatalf("POST %s: %d %s", w.path[0], status, body)
		}
	}
	// The tutor's page has the forms and the objective's button.
	_, staffPage := fetch(t, t1.Client, f.url+"/students/s1")
	m := objectiveForm.FindStringSubmatch(staffPage)
	if m == nil || !strings.Contains(staffPage, `id="note-form"`) || !strings.Contains(staffPage, `<option value="money advice">`) {
		t.Fatalf("the tutor's page lacks the forms: %.300s", staffPage)
	}
	if status, _ := post(t, t1.Client, f.url+"/students/s1/objectives/"+m[1]+"/state", form("state", "done")); status != http.StatusSeeOther {
		t.Fatalf("mark done: %d", status)
	}

	_, page := fetch(t, s1.Client, f.url+"/me")
	for _, want := range []string{
		"Talked about &lt;b&gt;time&lt;/b&gt; management.", // escaped, never markup
		"Hand in the first essay plan", "Due Mon 2 Nov", `state-done">done`, "marked done by Dr Tutor",
		"Referred to <strong>skills and careers</strong>", "Ask about the essay workshop.", "Dr Tutor · Tue 20 Oct",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the student's page lacks %q", want)
		}
	}
	for _, unwanted := range []string{`id="note-form"`, "Mark done", "Reopen", "/objectives/"} {
		if strings.Contains(page, unwanted) {
			t.Errorf("the student's page offers %q", unwanted)
		}
	}
	// A research student: no indicator, and the note is there.
	_, page = fetch(t, r1.Client, f.url+"/me")
	if !strings.Contains(page, "No indicator") || !strings.Contains(page, "Supervision moved to Thursdays.") {
		t.Errorf("the research student's page: %.500s", page)
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<script") {
		t.Error("inline style or script")
	}
}

var challengeRow = regexp.MustCompile(`<tr id="challenge-([0-9a-f]+)">`)

func TestChallengeRoundTrip(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	s1, r1, t1 := f.signIn(t, "s1"), f.signIn(t, "r1"), f.signIn(t, "t1")
	_, page := fetch(t, s1.Client, f.url+"/me?activity=tap_in")
	for _, want := range []string{
		`<input type="hidden" name="activity" value="indicator">`, `<label for="why-tap_in">`,
		`<option value="2026-10-19">Mon 19 Oct</option>`, "No data point has been challenged.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the student's page lacks %q", want)
		}
	}
	if status, body := post(t, s1.Client, f.url+"/me/challenges", form("date", "2026-10-19", "activity", "tap_in", "reason", "I was at the 10 o'clock lecture.")); status != http.StatusSeeOther {
		t.Fatalf("challenge: %d %s", status, body)
	}
	_, page = fetch(t, s1.Client, f.url+"/me")
	m := challengeRow.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `state-open">open`) || !strings.Contains(page, "I was at the 10 o&#39;clock lecture.") {
		t.Fatalf("the challenge is not listed as open: %.300s", page)
	}

	queue, err := store.OpenChallenges(context.Background(), f.rdb)
	if err != nil || len(queue) != 1 || queue[0].ID != m[1] || queue[0].Student != "s1" {
		t.Fatalf("queue %+v %v", queue, err)
	}
	must(t, store.DecideChallenge(context.Background(), f.rdb, "s1", m[1], store.ChallengeAccepted, "Reader 4 was offline that morning; the attendance system restores your tap."))
	_, page = fetch(t, s1.Client, f.url+"/me")
	if !strings.Contains(page, `state-accepted">accepted`) || !strings.Contains(page, "Reader 4 was offline that morning; the attendance system restores your tap.") {
		t.Errorf("the decision is not on the student's page")
	}

	// Staff see the challenge, but have no challenge forms.
	_, staffPage := fetch(t, t1.Client, f.url+"/students/s1")
	if !strings.Contains(staffPage, "challenge-"+m[1]) || strings.Contains(staffPage, `action="/me/challenges"`) {
		t.Error("the tutor's view of challenges")
	}
	// A research student challenges a day too, though there is no indicator to challenge.
	_, page = fetch(t, r1.Client, f.url+"/me?activity=moodle_course")
	if strings.Contains(page, `value="indicator"`) || !strings.Contains(page, `action="/me/challenges"`) {
		t.Error("the research student's challenge forms")
	}
	if status, _ := post(t, r1.Client, f.url+"/me/challenges", form("date", "2026-10-16", "activity", "moodle_course", "reason", "Moodle was down.")); status != http.StatusSeeOther {
		t.Errorf("research student's challenge: %d", status)
	}
}

func TestExportHoldsEverythingAboutTheStudent(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	s1, t1 := f.signIn(t, "s1"), f.signIn(t, "t1")
	fetch(t, t1.Client, f.url+"/students/s1") // a staff view, audited
	fetch(t, t1.Client, f.url+"/students/s2") // about someone else: not in s1's download
	post(t, t1.Client, f.url+"/students/s1/notes", form("text", "=HYPERLINK(\"http://evil\")"))
	post(t, s1.Client, f.url+"/me/challenges", form("date", "2026-10-19", "activity", "indicator", "reason", "Too low"))

	resp, err := s1.Get(f.url + "/me/export.json")
	must(t, err)
	defer resp.Body.Close()
	h := resp.Header
	if h.Get("Content-Disposition") != `attachment; filename=leap-data-s1.json` || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}
	var x Export
	must(t, json.NewDecoder(resp.Body).Decode(&x))
	if x.Profile.ID != "s1" || x.Profile.Tutor != "t1" || len(x.Records) != 1 || len(x.Challenges) != 1 || x.Challenges[0].State != "open" {
		t.Errorf("export %+v", x)
	}
	if len(x.Days) != 1 || x.Days[0].Date != "2026-10-19" || x.Days[0].Counts["tap_in"] != 1 || x.Days[0].Counts["library_loan"] != 1 {
		t.Errorf("days %+v", x.Days)
	}
	var whats []string
	for _, a := range x.Audit {
		whats = append(whats, a.Who+" "+a.What)
	}
	if !slices.Contains(whats, "t1 view student") || !slices.ContainsFunc(whats, func(w string) bool { return strings.HasPrefix(w, "t1 note ") }) ||
		slices.ContainsFunc(whats, func(w string) bool { return strings.Contains(w, "s2") }) {
		t.Errorf("audit in the download: %q", whats)
	}

	resp, err = s1.Get(f.url + "/me/export.csv")
	must(t, err)
	defer resp.Body.Close()
	if resp.Header.Get("Content-Disposition") != `attachment; filename=leap-data-s1.csv` || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("CSV headers %v", resp.Header)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	must(t, err)
	has := func(want ...string) bool {
		return slices.ContainsFunc(rows, func(r []string) bool {
			return r[0] == want[0] && (want[1] == "*" || r[1] == want[1]) && r[2] == want[2] && r[3] == want[3]
		})
	}
	for _, want := range [][]string{
		{"section", "key", "field", "value"}, {"profile", "", "name", "Ada Student"}, {"activity", "2026-10-19", "tap_in", "1"},
		{"record", "*", "text", `'=HYPERLINK("http://evil")`}, // never a formula in a spreadsheet
		{"challenge", "*", "activity", "indicator"}, {"audit", "*", "what", "view student"},
	} {
		if !has(want...) {
			t.Errorf("the CSV lacks %q", want)
		}
	}
}

func TestCohortIsShownOnlyForLargeEnoughGroups(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	t1 := f.signIn(t, "t1")
	// BSc Maths year 1 has three students: below minCohortSize (10).
	_, page := fetch(t, t1.Client, f.url+"/students/s1")
	if !strings.Contains(page, `id="cohort-none"`) || strings.Contains(page, `id="cohort-table"`) {
		t.Errorf("a cohort of three is shown: %s", between(page, `id="cohort"`, "</section>"))
	}

	ctx := context.Background()
	var big []store.Student
	var events []store.Event
	day, _ := calendar.ParseDay("2026-10-19")
	for i := range 10 {
		id := "b" + string(rune('0'+i))
		big = append(big, store.Student{ID: id, Name: "Big " + id, Department: "Maths", Course: "BSc Big", Year: 2, Level: "ug", Mode: "FT"})
		for k := range i {
			events = append(events, store.Event{ID: id + string(rune('a'+k)), Student: id, Activity: 5, Day: day})
		}
	}
	must(t, store.PutStudents(ctx, f.rdb, big))
	_, err := store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, events)
	must(t, err)
	_, page = fetch(t, t1.Client, f.url+"/students/b9")
	cohort := between(page, `id="cohort"`, "</section>")
	if !strings.Contains(cohort, `id="cohort-table"`) || strings.Contains(cohort, "cohort-none") || !strings.Contains(cohort, "How the 10 students of BSc Big, year 2") || !strings.Contains(cohort, "Very low <strong>(this student's)</strong>") {
		t.Errorf("a cohort of ten is not shown: %s", html.UnescapeString(cohort))
	}
}

// between is the part of s from the first from to the next to after it.
func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	part, _, _ := strings.Cut(rest, to)
	return part
}
