package portal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

// sevenMoodleLogins records seven Moodle logins of s1 on 19 October, as
// a source sends them, and returns s1's challenge of them.
func sevenMoodleLogins(t *testing.T, f *fixture) store.Challenge {
	t.Helper()
	ctx := context.Background()
	day := calendar.Day{Year: 2026, Month: 10, Day: 19}
	i, _ := v1alpha1.ActivityIndex(string(v1alpha1.MoodleLogin))
	var events []store.Event
	for k := range 7 {
		events = append(events, store.Event{ID: fmt.Sprintf("moodle/login-%d", k), Student: "s1", Activity: i, Day: day})
	}
	_, err := store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(ctx, events)
	must(t, err)
	ch, err := store.AddChallenge(ctx, f.rdb, "s1", store.Challenge{Date: day.String(), Activity: "moodle_login", Reason: "A shared library PC: those logins are not mine.", At: now})
	must(t, err)
	return ch
}

func decision(state, reason string, kv ...string) map[string][]string {
	v := form(kv...)
	v.Set("state", state)
	v.Set("reason", reason)
	return v
}

// TestUpholdingCorrectsTheData: the LEAP team upholds a challenge of
// seven Moodle logins with the right count, one. The form showed the
// source's seven; scoring's answer (cached before) changes at once; the
// student reads the correction with the decision; the download has the
// original and the corrected count; the audit log has the amendment.
func TestUpholdingCorrectsTheData(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ch := sevenMoodleLogins(t, f)
	s1, lt := f.signIn(t, "s1"), f.signIn(t, "lt")

	_, before := fetch(t, s1.Client, f.url+"/me?activity=moodle_login") // warms scoring's cache
	if !strings.Contains(before, `aria-label="Mon 19 Oct: 7"`) {
		t.Fatalf("before: the student's calendar lacks the seven logins")
	}
	_, admin := fetch(t, lt.Client, f.url+"/admin")
	if !strings.Contains(admin, `id="correction-`+ch.ID+`"`) || !strings.Contains(admin, "Moodle logins on 2026-10-19, 7 as the source counted them") {
		t.Errorf("the decision form offers no correction with the source's count")
	}
	if code, body := post(t, lt.Client, f.url+"/admin/challenges/s1/"+ch.ID, decision("corrected", "One login was yours; six were another student's on a shared PC.", "correction", "count", "count", "1")); code != http.StatusSeeOther {
		t.Fatalf("decision: %d %.300s", code, body)
	}

	_, after := fetch(t, s1.Client, f.url+"/me?activity=moodle_login")
	if !strings.Contains(after, `aria-label="Mon 19 Oct: 1"`) {
		t.Error("after: the student's calendar does not show the corrected count (a stale scoring cache?)")
	}
	if !strings.Contains(after, `id="correction-`+ch.ID+`">Moodle logins on 2026-10-19 corrected from 7 to 1`) {
		t.Error("the student does not read the correction with the decision")
	}

	resp, err := s1.Get(f.url + "/me/export.json")
	must(t, err)
	var x Export
	must(t, json.NewDecoder(resp.Body).Decode(&x))
	resp.Body.Close()
	if len(x.Amendments) != 1 || x.Amendments[0].Original != 7 || x.Amendments[0].Corrected != 1 || x.Amendments[0].Challenge != ch.ID || x.Amendments[0].Date != "2026-10-19" {
		t.Errorf("the download's amendments: %+v", x.Amendments)
	}
	if len(x.Days) != 1 || x.Days[0].Counts["moodle_login"] != 1 {
		t.Errorf("the download's days: %+v, want the corrected count", x.Days)
	}
	if len(x.Challenges) != 1 || x.Challenges[0].Correction == nil || x.Challenges[0].Correction.Count != 1 {
		t.Errorf("the download's challenge: %+v", x.Challenges)
	}
	resp, err = s1.Get(f.url + "/me/export.csv")
	must(t, err)
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	must(t, err)
	found := map[string]string{}
	for _, r := range rows {
		if r[0] == "amendment" && r[1] == "2026-10-19/moodle_login" {
			found[r[2]] = r[3]
		}
	}
	if found["original"] != "7" || found["corrected"] != "1" || found["challenge"] != ch.ID {
		t.Errorf("the CSV's amendment rows: %v", found)
	}

	if _, page := fetch(t, lt.Client, f.url+"/admin?whom=s1&what=amendment"); !strings.Contains(page, "challenge "+ch.ID+" corrected") || !strings.Contains(page, "amendment: Moodle logins on 2026-10-19 corrected from 7 to 1") {
		t.Error("the amendment is not audited")
	}
}

// TestAmendmentRefusals: a correction the form cannot take is refused
// with what to do instead, and nothing is stored: the challenge stays
// open, no amendment is written and the counts stay as they were.
func TestAmendmentRefusals(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	ch := sevenMoodleLogins(t, f)
	other := func(date, activity string) string {
		c, err := store.AddChallenge(ctx, f.rdb, "s1", store.Challenge{Date: date, Activity: activity, Reason: "wrong", At: now})
		must(t, err)
		return c.ID
	}
	tap := other("2026-10-19", "tap_in")
	indicator := other("2026-10-19", "indicator")
	inBreak := other("2026-11-10", "moodle_login")    // a challenge made under an earlier calendar
	beforeYear := other("2026-10-01", "moodle_login") // before the first term
	lt := f.signIn(t, "lt")

	_, admin := fetch(t, lt.Client, f.url+"/admin")
	if !strings.Contains(admin, `id="attendance-answer-`+tap+`"`) || strings.Contains(admin, `id="correction-`+tap+`"`) {
		t.Error("the form offers a correction of attendance, or does not say where to report it")
	}
	if options := strings.Count(admin, `<option value="corrected">`); options != 3 {
		t.Errorf("%d decision forms offer Corrected, want the 3 of Moodle logins (not attendance, not the indicator)", options)
	}
	for _, tc := range []struct {
		name, id string
		form     map[string][]string
		want     string
	}{
		{"attendance", tap, decision("corrected", "r", "correction", "count", "count", "1"), "attendance system"},
		{"attendance, discard", tap, decision("corrected", "r", "correction", "discard"), "within 7 days"},
		{"attendance, corrected alone", tap, decision("corrected", "r"), "attendance system"},
		{"attendance, a correction with accepted", tap, decision("accepted", "r", "correction", "count", "count", "1"), "attendance system"},
		{"indicator", indicator, decision("corrected", "r", "correction", "count", "count", "1"), "indicator has no count"},
		{"in a break", inBreak, decision("corrected", "r", "correction", "count", "count", "1"), "in the break"},
		{"before the year", beforeYear, decision("corrected", "r", "correction", "count", "count", "1"), "outside this academic year"},
		{"corrected without a correction", ch.ID, decision("corrected", "r"), "needs the correction"},
		{"a count that is not a number", ch.ID, decision("corrected", "r", "correction", "count", "count", "seven"), "whole number"},
		{"a negative count", ch.ID, decision("corrected", "r", "correction", "count", "count", "-1"), "whole number"},
		{"a count past the bound", ch.ID, decision("corrected", "r", "correction", "count", "count", "100000"), "whole number"},
		{"an empty count", ch.ID, decision("corrected", "r", "correction", "count"), "whole number"},
		{"discard with a count", ch.ID, decision("corrected", "r", "correction", "discard", "count", "3"), "not both"},
		{"an unknown correction", ch.ID, decision("corrected", "r", "correction", "halve"), "needs the correction"},
		{"a correction with rejected", ch.ID, decision("rejected", "r", "correction", "count", "count", "1"), "goes with"},
		{"no reason", ch.ID, decision("corrected", " ", "correction", "count", "count", "1"), "give the student a reason"},
	} {
		code, body := post(t, lt.Client, f.url+"/admin/challenges/s1/"+tc.id, tc.form)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %.300s; want 400 saying %q", tc.name, code, body, tc.want)
		}
	}
	if n := f.rdb.HLen(ctx, store.AmendmentsKey("s1")).Val(); n != 0 {
		t.Errorf("%d amendments stored by refused decisions", n)
	}
	open, err := store.OpenChallenges(ctx, f.rdb)
	if err != nil || len(open) != 5 {
		t.Errorf("%d challenges open after the refusals (%v), want all 5", len(open), err)
	}
	// Attendance is answered, not amended.
	if code, _ := post(t, lt.Client, f.url+"/admin/challenges/s1/"+tap, decision("accepted", "Report the missed tap to the attendance system; it reaches LEAP as a late event.")); code != http.StatusSeeOther {
		t.Errorf("accepting an attendance challenge: %d", code)
	}
}

// TestTwoOfTheTeamUpholdAtOnce: two LEAP team members correct the same
// challenge at the same moment with different counts: one decision
// stands, the other is told someone decided first, and the count scoring
// uses is the one the standing decision carries.
func TestTwoOfTheTeamUpholdAtOnce(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ch := sevenMoodleLogins(t, f)
	members := []signedIn{f.signIn(t, "lt"), f.signIn(t, "lt2")}
	codes := make([]int, 2)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, m := range members {
		wg.Go(func() {
			<-ready
			codes[i], _ = post(t, m.Client, f.url+"/admin/challenges/s1/"+ch.ID, decision("corrected", fmt.Sprintf("decided by %d", i), "correction", "count", "count", fmt.Sprint(i+2)))
		})
	}
	close(ready)
	wg.Wait()
	won := -1
	for i, c := range codes {
		if c == http.StatusSeeOther {
			won = i
		} else if c != http.StatusConflict {
			t.Fatalf("answers %v: want one 303 and one 409", codes)
		}
	}
	if won < 0 || codes[0] == codes[1] {
		t.Fatalf("answers %v: want one 303 and one 409", codes)
	}
	ctx := context.Background()
	day := calendar.Day{Year: 2026, Month: 10, Day: 19}
	counts, err := store.StudentCounts(ctx, f.rdb, "s1", day, day)
	must(t, err)
	i, _ := v1alpha1.ActivityIndex("moodle_login")
	chs, err := store.ListChallenges(ctx, f.rdb, "s1")
	must(t, err)
	if counts[day][i] != int32(won+2) || chs[0].DecisionReason != fmt.Sprintf("decided by %d", won) {
		t.Errorf("%d won, yet scoring reads %d logins and the decision says %q", won, counts[day][i], chs[0].DecisionReason)
	}
}

// TestAmendmentAfterTheStudentMovedDepartment: a student who moved
// department between their challenge and its decision has it decided and
// corrected all the same; the correction follows them, not the department.
func TestAmendmentAfterTheStudentMovedDepartment(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	ch := sevenMoodleLogins(t, f)
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{{ID: "s1", Name: "Ada Student", Department: "Physics", Course: "BSc Physics", Year: 1, Level: "ug", Mode: "FT"}}))
	lt := f.signIn(t, "lt")
	if code, body := post(t, lt.Client, f.url+"/admin/challenges/s1/"+ch.ID, decision("corrected", "Shared PC.", "correction", "discard")); code != http.StatusSeeOther {
		t.Fatalf("decision: %d %.300s", code, body)
	}
	_, page := fetch(t, f.signIn(t, "s1").Client, f.url+"/me?activity=moodle_login")
	if !strings.Contains(page, "BSc Physics") || !strings.Contains(page, `aria-label="Mon 19 Oct: 0"`) || !strings.Contains(page, "Moodle logins on 2026-10-19 discarded: 7 counted by the source, 0 used") {
		t.Errorf("the moved student's page does not show the discarded day")
	}
}

// FuzzParseCorrection: whatever the decision form sends, the parser
// answers a correction or a clear refusal, never a panic, and a correction
// only with corrected, within the bounds.
func FuzzParseCorrection(f *testing.F) {
	for _, s := range [][3]string{{"corrected", "count", "1"}, {"corrected", "discard", ""}, {"accepted", "", ""}, {"corrected", "count", "-0"},
		{"corrected", "count", " 12 "}, {"rejected", "count", "1"}, {"corrected", "count", "+5"}, {"corrected", "count", "0x10"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, state, kind, count string) {
		a, err := parseCorrection(state, kind, count)
		if err != nil {
			if a != nil {
				t.Fatal("a correction with an error")
			}
			return
		}
		if (a != nil) != (state == store.ChallengeCorrected) {
			t.Fatalf("state %q: correction %+v", state, a)
		}
		if a != nil && (a.Count < 0 || a.Count > store.MaxAmendedCount || (a.Discard && a.Count != 0)) {
			t.Fatalf("correction out of bounds: %+v", a)
		}
	})
}
