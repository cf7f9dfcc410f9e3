package ingestion

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/store"
)

func studentRow(id, email string) string {
	return fmt.Sprintf(`{"id":%q,"name":"N %s","email":%q,"department":"Maths","course":"C","year":1,"level":"UG","mode":"FT"}`, id, id, email)
}

func staffRow(id, email string) string {
	return fmt.Sprintf(`{"id":%q,"name":"Dr %s","email":%q,"department":"Maths","role":"tutor"}`, id, id, email)
}

func rejectedIDs(a RosterAnswer) []string {
	var ids []string
	for _, r := range a.Rejected {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestStudentEmailsNameOnePerson: a student row giving an address another
// person holds (a student who does not give it up in the same upload, or
// any member of staff) is refused, so xAPI statements and single sign-on
// by email never reach the wrong person; and a staff row cannot take a
// student's address either.
func TestStudentEmailsNameOnePerson(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	ctx := context.Background()
	var a RosterAnswer
	f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+studentRow("s1", "a@uni.example")+","+studentRow("s2", "b@uni.example")+"]", http.StatusOK, &a)
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, "["+staffRow("t1", "tutor@uni.example")+"]", http.StatusOK, &a)
	if a.Accepted != 1 {
		t.Fatalf("%+v", a)
	}

	// s4 asks for s1's address (in other case), s6 for one s5 takes in the
	// same upload, s7 for a member of staff's.
	f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+strings.Join([]string{
		studentRow("s4", "A@Uni.example"), studentRow("s5", "c@uni.example"), studentRow("s6", "C@uni.example"), studentRow("s7", "tutor@uni.example"),
	}, ",")+"]", http.StatusOK, &a)
	if got := rejectedIDs(a); a.Accepted != 1 || strings.Join(got, ",") != "s4,s6,s7" {
		t.Fatalf("accepted %d, rejected %v, want s5 alone accepted: %+v", a.Accepted, got, a)
	}
	if !strings.Contains(a.Rejected[0].Error, "student s1") || !strings.Contains(a.Rejected[2].Error, "staff t1") {
		t.Errorf("the answer does not name the holder: %+v", a.Rejected)
	}
	for email, want := range map[string]string{"a@uni.example": "s1", "c@uni.example": "s5", "tutor@uni.example": ""} {
		if id, err := store.StudentByEmail(ctx, f.rdb, email); err != nil || id != want {
			t.Errorf("student of %s: %q, %v; want %q", email, id, err, want)
		}
	}
	for _, id := range []string{"s4", "s6", "s7"} {
		if n := f.rdb.Exists(ctx, store.ProfileKey(id)).Val(); n != 0 {
			t.Errorf("refused row %s was stored", id)
		}
	}

	// Staff cannot take a student's address.
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, "["+staffRow("t2", "B@uni.example")+"]", http.StatusOK, &a)
	if a.Accepted != 0 || len(a.Rejected) != 1 || !strings.Contains(a.Rejected[0].Error, "student s2") {
		t.Fatalf("staff row with a student's address: %+v", a)
	}
	if id, _ := store.StaffByEmail(ctx, f.rdb, "b@uni.example"); id != "" {
		t.Errorf("b@ indexed as staff %q", id)
	}

	// s1 gives up a@ and s2 takes it, in one upload: both accepted, and
	// the index follows.
	f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+studentRow("s2", "a@uni.example")+","+studentRow("s1", "ada@uni.example")+"]", http.StatusOK, &a)
	if a.Accepted != 2 || len(a.Rejected) != 0 {
		t.Fatalf("a swap of addresses: %+v", a)
	}
	for email, want := range map[string]string{"a@uni.example": "s2", "ada@uni.example": "s1", "b@uni.example": ""} {
		if id, _ := store.StudentByEmail(ctx, f.rdb, email); id != want {
			t.Errorf("after the swap, %s belongs to %q, want %q", email, id, want)
		}
	}
}

// TestConcurrentStudentUploadsKeepEmailsOneToOne: uploads sent at once,
// each giving the same addresses to different students, leave every
// address with one student, whose profile and index agree.
func TestConcurrentStudentUploadsKeepEmailsOneToOne(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	ctx := context.Background()
	const uploads, emails = 8, 40
	var wg sync.WaitGroup
	accepted := make([]int, uploads)
	for u := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := make([]string, emails)
			for i := range rows {
				rows[i] = studentRow(fmt.Sprintf("u%d-%d", u, i), fmt.Sprintf("shared%d@uni.example", i))
			}
			var a RosterAnswer
			f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+strings.Join(rows, ",")+"]", http.StatusOK, &a)
			accepted[u] = a.Accepted
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range accepted {
		total += n
	}
	if total != emails {
		t.Errorf("%d rows accepted for %d addresses", total, emails)
	}
	holders := map[string][]string{} // email -> students whose profile gives it
	for u := range uploads {
		for i := range emails {
			id := fmt.Sprintf("u%d-%d", u, i)
			st, ok, err := store.GetStudent(ctx, f.rdb, id)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				holders[st.Email] = append(holders[st.Email], id)
			}
		}
	}
	for i := range emails {
		email := fmt.Sprintf("shared%d@uni.example", i)
		indexed, err := store.StudentByEmail(ctx, f.rdb, email)
		if err != nil {
			t.Fatal(err)
		}
		if h := holders[email]; len(h) != 1 || h[0] != indexed {
			t.Errorf("%s: profiles %v, index %q", email, h, indexed)
		}
	}
}

// TestEmailConflictsFollowRefusals: a holder gives an address up only if
// its own row is accepted; when that row is refused, the row that counted
// on the address is refused too.
func TestEmailConflictsFollowRefusals(t *testing.T) {
	rows := []mailRow{
		{id: "s2", email: "a@x", holder: "s1"},               // takes s1's address...
		{id: "s1", email: "c@x", holder: "s9"},               // ...but s1's move to c@ is refused: s9 holds it
		{id: "s3", email: "d@x", holder: "s4"},               // takes s4's address, which s4 gives up
		{id: "s4", email: "e@x"},                             // accepted
		{id: "s5", email: "f@x", other: "t1"},                // staff hold it
		{id: "s6", email: ""},                                // no address: nothing to check
		{id: "s7", email: "g@x", holder: "s7"},               // keeps its own
		{id: "s8", email: "g@x", holder: "s7"},               // s7 keeps it
		{id: "s10", email: "h@x"}, {id: "s11", email: "h@x"}, // the first row of an upload takes a free address
	}
	got := emailConflicts(rows, "student", "staff")
	want := []string{"belongs to student s1", "belongs to student s9", "", "", "belongs to staff t1", "", "", "student s7", "", "earlier in this upload"}
	for i := range want {
		if (want[i] == "") != (got[i] == "") || !strings.Contains(got[i], want[i]) {
			t.Errorf("row %d (%s): %q, want %q", i, rows[i].id, got[i], want[i])
		}
	}
}

// indexesAgree checks that every index of the roster (tutees, departments,
// cohorts) holds exactly the students whose profiles say so.
func (f *fixture) indexesAgree(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ids, err := f.rdb.SMembers(ctx, store.StudentsKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // index key -> students
	for _, id := range ids {
		st, ok, err := store.GetStudent(ctx, f.rdb, id)
		if err != nil || !ok {
			t.Fatalf("student %s: %v %v", id, ok, err)
		}
		want[store.DepartmentKey(st.Department)] = append(want[store.DepartmentKey(st.Department)], id)
		want[store.CohortKey(st.Course, st.Year)] = append(want[store.CohortKey(st.Course, st.Year)], id)
		if st.Tutor != "" {
			want[store.TuteesKey(st.Tutor)] = append(want[store.TuteesKey(st.Tutor)], id)
		}
	}
	var keys []string
	for _, pattern := range []string{"leap:tutees:*", "leap:dept:*", "leap:cohort:*"} {
		k, err := f.rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	for k := range want {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		got, err := f.rdb.SMembers(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		w := want[k]
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s holds %v; the profiles say %v", k, got, w)
		}
	}
}

func movableStudent(id, dept string) string {
	return fmt.Sprintf(`{"id":%q,"name":"N %s","department":%q,"course":"C %s","year":1,"level":"UG","mode":"FT"}`, id, id, dept, dept)
}

// TestRosterRowsForOneStudentLastWins: two rows for one student in an
// upload leave the student where the last one puts them, with no index
// holding them elsewhere, and the answer says which row was superseded.
func TestRosterRowsForOneStudentLastWins(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	var a RosterAnswer
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, "["+staffRow("t1", "")+","+staffRow("t2", "")+"]", http.StatusOK, &a)
	f.post(t, "/v1/roster/tutors", "text/csv", rosterToken, "staff,student\nt1,s1\nt2,s1\nt1,s2\n", http.StatusOK, &a)
	if a.Accepted != 2 || len(a.Superseded) != 1 || a.Superseded[0] != (Superseded{Index: 0, ID: "s1", By: 1}) {
		t.Errorf("tutors: %+v", a)
	}
	f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+movableStudent("s9", "Law")+","+movableStudent("s9", "Art")+"]", http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Superseded) != 1 || a.Superseded[0] != (Superseded{Index: 0, ID: "s9", By: 1}) {
		t.Errorf("students: %+v", a)
	}
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, "["+staffRow("t3", "x@uni.example")+","+staffRow("t3", "y@uni.example")+"]", http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Rejected) != 0 || len(a.Superseded) != 1 {
		t.Errorf("staff: %+v", a)
	}
	if id, _ := store.StaffByEmail(context.Background(), f.rdb, "x@uni.example"); id != "" {
		t.Errorf("a superseded row's address is held by %q", id)
	}
	f.indexesAgree(t)
}

// TestConcurrentRosterUploadsKeepIndexesExact: tutor and student uploads
// sent at once, moving the same students between tutors and departments,
// leave every index exactly as the profiles say.
func TestConcurrentRosterUploadsKeepIndexesExact(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	const students, tutors, rounds = 20, 4, 4
	var a RosterAnswer
	var staff []string
	for i := range tutors {
		staff = append(staff, staffRow(fmt.Sprintf("t%d", i), ""))
	}
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, "["+strings.Join(staff, ",")+"]", http.StatusOK, &a)
	var rows []string
	for i := range students {
		rows = append(rows, movableStudent(fmt.Sprintf("p%d", i), "Maths"))
	}
	f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+strings.Join(rows, ",")+"]", http.StatusOK, &a)

	var wg sync.WaitGroup
	for g := range 2 * tutors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if g%2 == 0 {
					var csv strings.Builder
					csv.WriteString("staff,student\n")
					for i := range students {
						fmt.Fprintf(&csv, "t%d,p%d\n", (g+r+i)%tutors, i)
					}
					f.post(t, "/v1/roster/tutors", "text/csv", rosterToken, csv.String(), http.StatusOK, nil)
					continue
				}
				var rows []string
				for i := range students {
					rows = append(rows, movableStudent(fmt.Sprintf("p%d", i), []string{"Maths", "Law", "Art", "History"}[(g+r+i)%4]))
				}
				f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+strings.Join(rows, ",")+"]", http.StatusOK, nil)
			}
		}()
	}
	wg.Wait()
	f.indexesAgree(t)
}

// TestRosterUploadWaitsItsTurn: while another upload holds the roster
// lease, an upload waits; past its wait it answers 503 with Retry-After
// and stores nothing.
func TestRosterUploadWaitsItsTurn(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	f.svc.RosterWait = 200 * time.Millisecond
	ctx := context.Background()
	f.rdb.Set(ctx, store.RosterLeaseKey, "another-replica", time.Minute)
	req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/roster/students", strings.NewReader("["+studentRow("s8", "")+"]"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+rosterToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := f.rdb.Exists(ctx, store.ProfileKey("s8")).Val(); n != 0 {
		t.Error("a refused upload was stored")
	}

	// Released while the next upload waits: it goes ahead.
	f.svc.RosterWait = 5 * time.Second
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.rdb.Del(ctx, store.RosterLeaseKey)
	}()
	var a RosterAnswer
	f.post(t, "/v1/roster/students", "application/json", rosterToken, "["+studentRow("s8", "")+"]", http.StatusOK, &a)
	if a.Accepted != 1 {
		t.Errorf("%+v", a)
	}
}
