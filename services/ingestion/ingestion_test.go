package ingestion

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// now is inside the autumn term of the typical sample (2026-10-05..12-11).
var now = time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)

const (
	token       = "test-token-moodle"
	rosterToken = "test-token-roster"
)

type fixture struct {
	url   string
	redis *redistest.Server
	rdb   *redis.Client
	svc   *Service
}

func loadPolicy(t testing.TB, mutate string) *policy.Source {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if mutate != "" {
		doc = strings.Replace(doc, "attendance:\n    enabled: true", mutate, 1)
	}
	l, err := policy.ParseFile("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return policy.Static(l)
}

func start(t testing.TB, pol *policy.Source) *fixture {
	t.Helper()
	return startWith(t, pol, nil)
}

// startWith starts the service after configure (if any) changed it.
func startWith(t testing.TB, pol *policy.Source, configure func(*Service)) *fixture {
	t.Helper()
	r := redistest.Start(t)
	rdb := r.Client(t)
	svc := &Service{
		Redis: rdb, Policy: pol, MaxBodyBytes: 1 << 20, Now: func() time.Time { return now },
		Tokens: map[string]string{token: "moodle", "attendance-token": "attendance", "demo-token": AnySource, rosterToken: RosterSource},
	}
	if configure != nil {
		configure(svc)
	}
	srv := server.New(server.Options{Name: "ingestion", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)
	f := &fixture{url: ts.URL, redis: r, rdb: rdb, svc: svc}
	f.roster(t)
	return f
}

func (f *fixture) roster(t testing.TB) {
	students := `id,name,department,course,year,level,mode,exchange
s1,Ada,Maths,BSc Mathematics,1,UG,FT,false
s2,Ben,Maths,BSc Mathematics,2,ug,PT,false
s3,Cai,History,PhD History,1,PGR,FT,false
`
	var a RosterAnswer
	f.post(t, "/v1/roster/students", "text/csv", rosterToken, students, http.StatusOK, &a)
	if a.Accepted != 3 || len(a.Rejected) != 0 {
		t.Fatalf("roster: %+v", a)
	}
}

func (f *fixture) post(t testing.TB, path, ctype, tok, body string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: status %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	if want >= 400 && resp.Header.Get("Content-Type") != server.ProblemContentType {
		t.Errorf("error answered as %q, want problem+json", resp.Header.Get("Content-Type"))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
	}
}

func (f *fixture) counts(t testing.TB, student string) store.Counts {
	t.Helper()
	d, _ := calendar.ParseDay("2026-10-20")
	m, err := store.StudentCounts(context.Background(), f.rdb, student, d, d)
	if err != nil {
		t.Fatal(err)
	}
	return m[d]
}

func event(id, student, activity, at string) string {
	return fmt.Sprintf(`{"id":%q,"student":%q,"activity":%q,"at":%q,"source":"moodle"}`, id, student, activity, at)
}

const at = "2026-10-20T09:00:00Z"

func TestEveryRecordIsChecked(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	batch := "[" + strings.Join([]string{
		event("e0", "s1", "moodle_login", at),                                                      // accepted
		event("e1", "s1", "moodle_login", at),                                                      // accepted
		event("e0", "s1", "moodle_login", at),                                                      // duplicate
		event("e3", "nobody", "moodle_login", at),                                                  // ignored: not in roster
		event("e4", "s1", "gym_visit", at),                                                         // rejected: activity
		event("", "s1", "moodle_login", at),                                                        // rejected: empty id
		event(strings.Repeat("x", 129), "s1", "faser_view", at),                                    // rejected: long id
		event("e7", "", "faser_view", at),                                                          // rejected: empty student
		event("e8", "s{1}", "faser_view", at),                                                      // rejected: braces
		event("e9", "s1", "faser_view", "yesterday"),                                               // rejected: time
		event("e10", "s1", "faser_view", "2026-10-20T12:06:00Z"),                                   // rejected: future
		event("e11", "s1", "faser_view", "2026-10-12T11:00:00Z"),                                   // rejected: too late (8 days)
		event("e12", "s1", "library_loan", at),                                                     // accepted: display-only is stored
		`{"id":"e13","student":"s1","activity":"moodle_login","at":"` + at + `","source":"faser"}`, // rejected: source
		`42`, // rejected: not an object
		event("e15", "s1", "tap_in", "2026-10-20T12:04:00Z"), // accepted: within 5 minutes ahead
	}, ",") + "]"
	var a Answer
	f.post(t, "/v1/events", "application/json", token, batch, http.StatusOK, &a)
	if a.Accepted != 4 || a.Duplicates != 1 {
		t.Errorf("accepted %d duplicates %d, want 4 and 1: %+v", a.Accepted, a.Duplicates, a)
	}
	if len(a.Ignored) != 1 || a.Ignored[0].Index != 3 || a.Ignored[0].Reason != ReasonUnknownStudent {
		t.Errorf("ignored %+v", a.Ignored)
	}
	wantRejected := map[int]string{4: "unknown activity", 5: "id is empty", 6: "longer than 128", 7: "student is empty", 8: "only letters",
		9: "RFC 3339", 10: "in the future", 11: "late-arrival window of 7 days", 13: "does not match", 14: "not an event object"}
	if len(a.Rejected) != len(wantRejected) {
		t.Errorf("rejected %d, want %d: %+v", len(a.Rejected), len(wantRejected), a.Rejected)
	}
	for _, r := range a.Rejected {
		if !strings.Contains(r.Error, wantRejected[r.Index]) {
			t.Errorf("record %d: error %q, want it to mention %q", r.Index, r.Error, wantRejected[r.Index])
		}
	}
	c := f.counts(t, "s1")
	if c[6] != 2 || c[8] != 1 || c[0] != 1 {
		t.Errorf("stored counts %v", c)
	}
}

func TestAttendanceOffIsIgnoredPerRecord(t *testing.T) {
	f := start(t, loadPolicy(t, "attendance:\n    enabled: false\n    reason: online"))
	var a Answer
	f.post(t, "/v1/events", "application/json", "demo-token", "["+event("t1", "s1", "tap_in", at)+"]", http.StatusOK, &a)
	if a.Accepted != 0 || len(a.Ignored) != 1 || a.Ignored[0].Reason != ReasonAttendanceOff {
		t.Fatalf("%+v", a)
	}
	if f.counts(t, "s1")[0] != 0 {
		t.Error("a tap was stored with attendance off")
	}
}

func TestFormatsAgree(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	ndjson := event("n1", "s1", "moodle_course", at) + "\n\n" + event("n2", "s2", "moodle_course", at) + "\n{broken\n"
	var a Answer
	f.post(t, "/v1/events", "application/x-ndjson", token, ndjson, http.StatusOK, &a)
	if a.Accepted != 2 || len(a.Rejected) != 1 || a.Rejected[0].Index != 2 {
		t.Errorf("ndjson %+v", a)
	}
	csvBody := "source,id,student,activity,at,extra\nmoodle,c1,s1,moodle_course," + at + ",x\nmoodle,c2,s2,moodle_course," + at + "\n"
	f.post(t, "/v1/events", "text/csv", token, csvBody, http.StatusOK, &a)
	if a.Accepted != 2 || len(a.Rejected) != 0 {
		t.Errorf("csv %+v", a)
	}
	if got := f.counts(t, "s1")[5]; got != 2 {
		t.Errorf("moodle_course %d, want 2", got)
	}
}

func TestBadRequestsStoreNothing(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	good := event("b1", "s1", "moodle_login", at)
	f.post(t, "/v1/events", "application/json", "", "["+good+"]", http.StatusUnauthorized, nil)
	f.post(t, "/v1/events", "application/json", "wrong", "["+good+"]", http.StatusUnauthorized, nil)
	f.post(t, "/v1/events", "application/json", token, "["+good+",{", http.StatusBadRequest, nil)
	f.post(t, "/v1/events", "application/json", token, `{"id":"b1"}`, http.StatusBadRequest, nil)
	f.post(t, "/v1/events", "text/csv", token, "name,age\nx,1\n", http.StatusBadRequest, nil)
	f.post(t, "/v1/events", "application/xml", token, "<e/>", http.StatusUnsupportedMediaType, nil)
	big := "[" + strings.Repeat(good+",", 1<<20/len(good)) + good + "]"
	f.post(t, "/v1/events", "application/json", token, big, http.StatusRequestEntityTooLarge, nil)
	if c := f.counts(t, "s1"); c != (store.Counts{}) {
		t.Errorf("a refused request stored %v", c)
	}
}

func batchOf(n int, prefix string) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		student := []string{"s1", "s2", "s3"}[i%3]
		b.WriteString(event(fmt.Sprintf("%s-%d", prefix, i), student, "moodle_course", at))
	}
	b.WriteString("]")
	return b.String()
}

// TestConcurrentDuplicateBatchesCountOnce sends the same batch from several
// clients at once, as two replicas receiving a retried delivery would.
func TestConcurrentDuplicateBatchesCountOnce(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := batchOf(300, "c")
	var wg sync.WaitGroup
	answers := make([]Answer, 6)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.post(t, "/v1/events", "application/json", token, body, http.StatusOK, &answers[i])
		}()
	}
	wg.Wait()
	accepted, dups := 0, 0
	for _, a := range answers {
		accepted += a.Accepted
		dups += a.Duplicates
	}
	if accepted != 300 || dups != 5*300 {
		t.Errorf("accepted %d duplicates %d over 6 deliveries, want 300 and 1500", accepted, dups)
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if got := f.counts(t, s)[5]; got != 100 {
			t.Errorf("%s: %d, want 100", s, got)
		}
	}
}

// TestRedisDownThenBack: 503 while Redis is away; a half-written batch
// (the first half stored before a crash) retried gives the counts of one
// clean delivery.
func TestRedisDownThenBack(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := batchOf(200, "r")
	f.redis.Stop()
	f.post(t, "/v1/events", "application/json", token, body, http.StatusServiceUnavailable, nil)
	f.redis.Restart(t)

	// Half the batch reached Redis before a failure.
	var events []store.Event
	d, _ := calendar.ParseDay("2026-10-20")
	for i := range 100 {
		events = append(events, store.Event{ID: fmt.Sprintf("r-%d", i), Student: []string{"s1", "s2", "s3"}[i%3], Activity: 5, Day: d})
	}
	if _, err := (store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: f.svc.Now}).Record(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	var a Answer
	f.post(t, "/v1/events", "application/json", token, body, http.StatusOK, &a)
	if a.Accepted != 100 || a.Duplicates != 100 {
		t.Errorf("retry: accepted %d duplicates %d, want 100 and 100", a.Accepted, a.Duplicates)
	}
	total := 0
	for _, s := range []string{"s1", "s2", "s3"} {
		total += int(f.counts(t, s)[5])
	}
	if total != 200 {
		t.Errorf("total %d, want 200: the counts of one clean delivery", total)
	}
}

// TestRosterTakesOnlyTheRosterToken: an event source's token cannot change
// the roster, which decides who may see whom: each route answers 403 and
// nothing changes.
func TestRosterTakesOnlyTheRosterToken(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	ctx := context.Background()
	var a RosterAnswer
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, `[{"id":"t1","name":"Dr T","department":"Maths","role":"tutor"}]`, http.StatusOK, &a)
	for path, body := range map[string]string{
		"/v1/roster/staff":    `[{"id":"t1","name":"Dr T","department":"Maths","role":"leap-team"}]`,
		"/v1/roster/students": `[{"id":"s99","name":"New","department":"Maths","course":"C","year":1,"level":"UG","mode":"FT"}]`,
		"/v1/roster/tutors":   `[{"staff":"t1","student":"s2"}]`,
	} {
		for _, tok := range []string{token, "attendance-token"} {
			f.post(t, path, "application/json", tok, body, http.StatusForbidden, nil)
		}
	}
	if st, _, err := store.GetStaff(ctx, f.rdb, "t1"); err != nil || st.Role != "tutor" {
		t.Errorf("an event source's token changed a role: %+v %v", st, err)
	}
	if _, ok, _ := store.GetStudent(ctx, f.rdb, "s99"); ok {
		t.Error("an event source's token added a student")
	}
	if s, _, _ := store.GetStudent(ctx, f.rdb, "s2"); s.Tutor == "t1" {
		t.Error("an event source's token assigned a tutor")
	}
}

// TestStaffEmailsNameOnePerson: an address another member of staff holds
// is refused, unless its holder gives it up in the same upload.
func TestStaffEmailsNameOnePerson(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	ctx := context.Background()
	var a RosterAnswer
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, `[{"id":"t1","name":"A","email":"a@uni.example","department":"Maths","role":"tutor"},
{"id":"t2","name":"B","email":"b@uni.example","department":"Maths","role":"staff"}]`, http.StatusOK, &a)
	if a.Accepted != 2 {
		t.Fatalf("%+v", a)
	}
	// t3 asks for t1's address, and twice in one upload someone asks for a new one.
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, `[{"id":"t3","name":"C","email":"A@uni.example","department":"Law","role":"leap-team"},
{"id":"t4","name":"D","email":"d@uni.example","department":"Law","role":"staff"},
{"id":"t5","name":"E","email":"D@uni.example","department":"Law","role":"staff"}]`, http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Rejected) != 2 || a.Rejected[0].ID != "t3" || a.Rejected[1].ID != "t5" {
		t.Fatalf("%+v", a)
	}
	if id, _ := store.StaffByEmail(ctx, f.rdb, "a@uni.example"); id != "t1" {
		t.Errorf("a@ belongs to %q, want t1", id)
	}
	// t2 gives up b@ and t1 takes it, in one upload: both accepted.
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, `[{"id":"t1","name":"A","email":"b@uni.example","department":"Maths","role":"tutor"},
{"id":"t2","name":"B","email":"bee@uni.example","department":"Maths","role":"staff"}]`, http.StatusOK, &a)
	if a.Accepted != 2 || len(a.Rejected) != 0 {
		t.Fatalf("a swap of addresses: %+v", a)
	}
	for email, want := range map[string]string{"b@uni.example": "t1", "bee@uni.example": "t2", "a@uni.example": ""} {
		if id, _ := store.StaffByEmail(ctx, f.rdb, email); id != want {
			t.Errorf("%s belongs to %q, want %q", email, id, want)
		}
	}
}

func TestRosterChecksEveryRow(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	body := `[{"id":"s9","name":"Dee","department":"Law","course":"LLB","year":2,"level":"UG","mode":"FT","exchange":true},
{"id":"s10","name":"Eve","department":"Law","course":"LLB","year":0,"level":"UG","mode":"FT"},
{"id":"s11","name":"Fay","department":"Law","course":"LLB","year":1,"level":"BA","mode":"FT"},
{"id":"s 12","name":"Gus","department":"Law","course":"LLB","year":1,"level":"UG","mode":"FT"},
{"id":"s13","name":"Hal","department":"Law","course":"LLB","year":1,"level":"UG","mode":"sometimes"}]`
	var a RosterAnswer
	f.post(t, "/v1/roster/students", "application/json", rosterToken, body, http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Rejected) != 4 {
		t.Fatalf("%+v", a)
	}
	s, ok, err := store.GetStudent(context.Background(), f.rdb, "s9")
	if err != nil || !ok || !s.Exchange || s.Level != "ug" || s.Year != 2 {
		t.Errorf("stored %+v %v %v", s, ok, err)
	}
	f.post(t, "/v1/roster/staff", "application/json", rosterToken, `[{"id":"t1","name":"Dr T","department":"Maths","role":"tutor"},{"id":"t2","name":"X","department":"Maths","role":"dean"}]`, http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Rejected) != 1 {
		t.Errorf("staff %+v", a)
	}
	f.post(t, "/v1/roster/tutors", "text/csv", rosterToken, "staff,student\nt1,s1\nt1,ghost\nt9,s2\n", http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Rejected) != 2 || a.Rejected[0].Index != 1 || a.Rejected[1].Index != 2 {
		t.Errorf("tutors %+v", a)
	}
	if s, _, _ := store.GetStudent(context.Background(), f.rdb, "s1"); s.Tutor != "t1" {
		t.Errorf("tutor %q", s.Tutor)
	}
	if n := f.rdb.Exists(context.Background(), store.ProfileKey("ghost")).Val(); n != 0 {
		t.Error("a tutor assignment created a student")
	}
}

func TestPolicyEndpointNamesTheHash(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	resp, err := http.Get(f.url + "/v1/policy")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&got)
	if got["hash"] != f.svc.Policy.Current().Hash {
		t.Errorf("policy %v", got["hash"])
	}
}

func FuzzReaders(f *testing.F) {
	f.Add([]byte(`[` + event("a", "s1", "tap_in", at) + `]`))
	f.Add([]byte(event("a", "s1", "tap_in", at) + "\n" + `{"id":1}`))
	f.Add([]byte("id,student,activity,at\na,s1,tap_in," + at + "\n\"bad"))
	f.Add([]byte(`[{"id":{"x":1}}, 3, "s", null]`))
	f.Add([]byte(event("a", "s1", "tap_in", at) + "\r\n" + strings.Repeat("z", maxLine+1) + "\n \n" + `{"id":"b"`))
	f.Add([]byte("id,student,activity,at\r\n\"a\"\"\",s1\n" + strings.Repeat(",", maxLine) + "\r\r\n\"open"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every line of NDJSON, and of CSV after the header, that is not
		// blank is one record, whatever it holds.
		lines := 0
		for _, raw := range bytes.Split(b, []byte("\n")) {
			if len(raw) > maxLine+1 || len(bytes.TrimRight(raw, "\r\n")) > maxLine || len(bytes.TrimSpace(raw)) > 0 {
				lines++
			}
		}
		for name, read := range map[string]func(io.Reader, func(int, Record, error) error) error{
			"json": readJSONArray, "ndjson": readNDJSON, "csv": readCSV,
		} {
			last := -1
			err := read(bytes.NewReader(b), func(i int, rec Record, err error) error {
				if i <= last {
					t.Fatalf("%s: index %d after %d", name, i, last)
				}
				last = i
				if err == nil && len(rec.ID) > len(b) {
					t.Fatalf("%s: an id longer than the input", name)
				}
				return nil
			})
			switch {
			case name == "ndjson" && (err != nil || last+1 != lines):
				t.Fatalf("ndjson: %d records of %d lines, error %v", last+1, lines, err)
			case name == "csv" && err == nil && last+2 != lines:
				t.Fatalf("csv: %d records of %d lines after the header", last+1, lines-1)
			}
		}
	})
}
