package scoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// previewOutageBound is how soon a preview must answer when Redis is down
// or hung: seconds, as every other answer (the clients' timeouts are 2 s
// here, 3 s by default).
const previewOutageBound = 6 * time.Second

// TestPreviewWithRedisDownOrHung: with Redis hung (its process stopped,
// connections open) and then down, a preview answers 503 problem+json
// saying the store cannot be reached, within seconds, and once Redis is
// back its data and the policy are as they were. The client is built as
// the service builds its own.
func TestPreviewWithRedisDownOrHung(t *testing.T) {
	f := start(t, nil)
	rdb, err := store.Open(store.Options{URL: f.redis.URL(), DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	a := serve(t, rdb, f.api.svc.Policy)
	hash := a.svc.Policy.Current().Hash
	postPreview(t, a.url, `{"attendance":{"enabled":false,"reason":"online"}}`)

	check := func(state string) {
		t.Helper()
		began := time.Now()
		resp, err := http.Post(a.url+"/v1/policy/preview", "application/json", strings.NewReader(`{"attendance":{"enabled":false,"reason":"online"}}`))
		took := time.Since(began)
		if err != nil {
			t.Fatalf("Redis %s: %v after %v", state, err, took)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("Redis %s: %d after %v", state, resp.StatusCode, took)
		if resp.StatusCode != http.StatusServiceUnavailable || took > previewOutageBound {
			t.Errorf("Redis %s: %d after %v, want 503 within %v: %s", state, resp.StatusCode, took, previewOutageBound, b)
		}
		if p := decode[server.ProblemDetails](t, b); !strings.Contains(p.Detail, "cannot be reached") {
			t.Errorf("Redis %s: problem %+v does not say the store cannot be reached", state, p)
		}
	}
	f.redis.Pause(t)
	check("hung")
	f.redis.Resume(t)
	f.redis.Stop()
	check("down")

	f.redis.Restart(t)
	if a.svc.Policy.Current().Hash != hash {
		t.Error("the policy in force changed")
	}
	postPreview(t, a.url, `{"attendance":{"enabled":false,"reason":"online"}}`)
}

// TestPreviewWhileStudentsMoveDepartment: the roster changes while a
// preview reads it chunk by chunk (students reassigned from one
// department to another, back and forth): every student is counted
// once, in one department, and the groups add up to the university.
func TestPreviewWhileStudentsMoveDepartment(t *testing.T) {
	src := policy.Static(parsePolicy(t, sample(t, "minCohortSize: 10", "minCohortSize: 2")))
	f := start(t, src)
	ctx := context.Background()
	const n = 400
	var students []store.Student
	for i := range n {
		students = append(students, store.Student{ID: fmt.Sprintf("m%03d", i), Name: "M", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "FT"})
	}
	if err := store.PutStudents(ctx, f.rdb, students); err != nil {
		t.Fatal(err)
	}
	acts := make([]activity, n)
	for i := range n {
		acts[i] = activity{students[i].ID, "2026-10-19", v1alpha1.TapIn, 1 + i%5}
	}
	f.record(t, acts...)
	total := n + len(roster)
	pv := &Previewer{Redis: f.rdb, Policy: src, Now: func() time.Time { return now }, ChunkSize: 16}
	after := src.Current().Doc
	after.Attendance.Enabled = new(false)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	moves := 0
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			moved := students[i%n]
			moved.Department = []string{"Physics", "Maths"}[i/n%2]
			if err := store.PutStudents(ctx, f.rdb, []store.Student{moved}); err != nil {
				t.Error(err)
				return
			}
			moves++
		}
	})
	for range 3 {
		out, err := pv.PreviewDocument(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, g := range out.Departments.Groups {
			sum += g.SizeBefore
			if g.SizeBefore != g.SizeAfter {
				t.Errorf("%s: %d students before, %d after: one read of each student serves both", g.Department, g.SizeBefore, g.SizeAfter)
			}
		}
		if out.Departments.Rest != nil {
			sum += out.Departments.Rest.SizeBefore
		}
		// The research student has no indicator and is in no group.
		if out.Students != total || sum != total-1 {
			t.Errorf("%d students, groups adding up to %d; want %d and %d", out.Students, sum, total, total-1)
		}
	}
	close(stop)
	wg.Wait()
	if moves == 0 {
		t.Fatal("no student moved during the previews")
	}
	t.Logf("%d moves during three previews", moves)
}

// TestPreviewOnAWeekend: on a Saturday the preview answers for that day;
// a change from today leaves every day up to Friday to the old policy,
// so no student's band moves today, while the same change for the whole
// year moves them.
func TestPreviewOnAWeekend(t *testing.T) {
	f := start(t, nil)
	saturday := time.Date(2026, 10, 17, 11, 0, 0, 0, time.UTC)
	a := serve(t, f.api.svc.Redis, f.api.svc.Policy)
	a.svc.Now = func() time.Time { return saturday }
	pv := &Previewer{Redis: f.api.svc.Redis, Policy: f.api.svc.Policy, Now: a.svc.Now}
	ctx := context.Background()
	preview := func(body string) *Preview {
		t.Helper()
		out, errs, err := pv.Preview(ctx, parseDraft(t, body), 100)
		if err != nil || len(errs) > 0 {
			t.Fatalf("%s: %v %v", body, err, errs)
		}
		return out
	}
	fromToday := preview(`{"attendance":{"enabled":false,"reason":"online"}}`)
	year := preview(`{"attendance":{"enabled":false,"reason":"online"},"wholeYear":true}`)
	if fromToday.Today != "2026-10-17" || len(fromToday.Policy.PolicyHistory) != 1 || fromToday.Policy.PolicyHistory[0].Until != "2026-10-16" {
		t.Fatalf("today %s, history %+v: want Saturday, the old policy until Friday", fromToday.Today, fromToday.Policy.PolicyHistory)
	}
	if fromToday.Moves.Up+fromToday.Moves.Down != 0 || fromToday.Students != year.Students {
		t.Errorf("from a Saturday %+v: a change whose first teaching day is Monday moves nobody today", fromToday.Moves)
	}
	if year.Moves.Down == 0 {
		t.Errorf("for the whole year %+v: the students whose taps counted move down", year.Moves)
	}
}

// TestPreviewOnTheDayThePolicyChanged: the policy changed this morning
// (its history ends yesterday); a second change the same day keeps that
// history as it is, so the days before today keep the policy they were
// scored under, and nothing before today moves.
func TestPreviewOnTheDayThePolicyChanged(t *testing.T) {
	changed := sample(t, "attendance:\n    enabled: true", "attendance:\n    enabled: false\n    reason: strike")
	changed = strings.Replace(changed, "  privacy:", "  policyHistory:\n  - {until: \"2026-10-19\", attendance: {enabled: true}}\n  privacy:", 1)
	src := policy.Static(parsePolicy(t, changed))
	f := start(t, src)
	pv := &Previewer{Redis: f.rdb, Policy: src, Now: func() time.Time { return now }}
	out, errs, err := pv.Preview(context.Background(), parseDraft(t, `{"attendance":{"enabled":true}}`), 100)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	h := out.Policy.PolicyHistory
	if len(h) != 1 || h[0].Until != "2026-10-19" || !h[0].Attendance.IsEnabled() || !out.Policy.Attendance.IsEnabled() {
		t.Fatalf("history %+v, attendance %+v: want this morning's history kept and attendance on from today", h, out.Policy.Attendance)
	}
	if out.Today != "2026-10-20" {
		t.Errorf("today %s", out.Today)
	}
}

func parseDraft(t *testing.T, body string) *draft.Draft {
	t.Helper()
	d, errs := draft.Parse([]byte(body))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", body, errs)
	}
	return d
}

// TestPreviewGivesUpMidWay: a preview whose request ends while chunks are
// still being read returns the error at once, its readers stopped.
func TestPreviewGivesUpMidWay(t *testing.T) {
	f := start(t, nil)
	var students []store.Student
	for i := range 300 {
		students = append(students, store.Student{ID: fmt.Sprintf("g%03d", i), Name: "G", Department: "Maths", Course: "BSc Mathematics", Year: 1, Level: "ug", Mode: "FT"})
	}
	if err := store.PutStudents(context.Background(), f.rdb, students); err != nil {
		t.Fatal(err)
	}
	pv := &Previewer{Redis: f.rdb, Policy: f.api.svc.Policy, Now: func() time.Time { return now }, ChunkSize: 1}
	d := parseDraft(t, `{"attendance":{"enabled":false,"reason":"online"}}`)
	for _, wait := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		began := time.Now()
		_, _, err := pv.Preview(ctx, d, 10)
		cancel()
		if err == nil {
			t.Logf("finished within %v", wait)
			continue
		}
		if took := time.Since(began); took > wait+time.Second || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ended after %v: %v after %v", wait, err, took)
		}
	}
}
