package portal

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/store"
)

// keyWatch records every command and key a Redis client's commands name,
// as "command key".
type keyWatch struct {
	mu   sync.Mutex
	keys map[string]int
	on   bool
}

func (w *keyWatch) note(cmds ...redis.Cmder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.on {
		return
	}
	for _, c := range cmds {
		for _, a := range c.Args()[1:] {
			if s, ok := a.(string); ok {
				w.keys[c.Name()+" "+s]++
			}
		}
	}
}

func (w *keyWatch) DialHook(next redis.DialHook) redis.DialHook { return next }
func (w *keyWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { w.note(cmd); return next(ctx, cmd) }
}
func (w *keyWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { w.note(cmds...); return next(ctx, cmds) }
}

func (w *keyWatch) set(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on = on
	if on {
		w.keys = map[string]int{}
	}
}

// TestExportReadsOnlyTheStudentsAuditEntries: a download reads the
// student's own audit index, never the whole log, and still holds every
// entry about them.
func TestExportReadsOnlyTheStudentsAuditEntries(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	pipe := f.rdb.Pipeline()
	for i := range 3000 {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: AuditStream, Values: map[string]any{"who": "t1", "role": RoleTutor, "whom": "s2", "what": fmt.Sprintf("view student %d", i)}})
	}
	_, err := pipe.Exec(ctx)
	must(t, err)
	t1 := f.signIn(t, "t1")
	if code, _ := fetch(t, t1.Client, f.url+"/students/s1"); code != http.StatusOK {
		t.Fatalf("tutor's view: %d", code)
	}
	s1 := f.signIn(t, "s1")
	w := &keyWatch{}
	f.rdb.AddHook(w)
	w.set(true)
	code, body := fetch(t, s1.Client, f.url+"/me/export.json")
	w.set(false)
	if code != http.StatusOK {
		t.Fatalf("export: %d", code)
	}
	if n := w.keys["xrange "+AuditStream] + w.keys["xrevrange "+AuditStream] + w.keys["xread "+AuditStream]; n != 0 {
		t.Errorf("the download read the whole audit log, %d times", n)
	}
	if w.keys["xadd "+AuditStream] != 1 {
		t.Errorf("the download was not audited in the log: %v", w.keys)
	}
	for _, want := range []string{`"what": "view student"`, `"who": "t1"`, `"what": "download my data (json)"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the download lacks %s", want)
		}
	}
	if strings.Contains(body, "view student 1") {
		t.Error("the download holds entries about another student")
	}
}

// TestExportIsRateLimited: a person downloads their data a few times an
// hour; more is refused with 429 and when to try again, without reading
// anything.
func TestExportIsRateLimited(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	s1 := f.signIn(t, "s1")
	for i := range exportLimit {
		path := "/me/export.json"
		if i%2 == 1 {
			path = "/me/export.csv"
		}
		if code, _ := fetch(t, s1.Client, f.url+path); code != http.StatusOK {
			t.Fatalf("download %d: %d", i+1, code)
		}
	}
	resp, err := s1.Get(f.url + "/me/export.csv")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("download %d: %d, Retry-After %q; want 429 with Retry-After", exportLimit+1, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another student's allowance is their own.
	if code, _ := fetch(t, f.signIn(t, "s2").Client, f.url+"/me/export.json"); code != http.StatusOK {
		t.Errorf("another student's download: %d", code)
	}
}

// TestAuditRetention: the log and each student's index keep entries for
// the LeapTerm's retention (a year and a month by default), and drop older
// ones as new entries are written.
func TestAuditRetention(t *testing.T) {
	r := redistest.Start(t)
	rdb := r.Client(t)
	ctx := context.Background()
	clock := time.Now()
	for _, tc := range []struct {
		name string
		days *int32
		keep time.Duration
	}{
		{"default", nil, time.Duration(v1alpha1.DefaultAuditRetentionDays) * 24 * time.Hour},
		{"set in the LeapTerm", ptr(int32(30)), 30 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, rdb.FlushAll(ctx).Err())
			doc := policy.Document{Privacy: v1alpha1.Privacy{AuditRetentionDays: tc.days}}
			p, err := New(Config{Redis: rdb, Policy: policy.Static(&policy.Loaded{Doc: doc}), Now: func() time.Time { return clock }})
			must(t, err)
			// Entries written before: one just past the retention, one within.
			old, kept := clock.Add(-tc.keep-time.Hour), clock.Add(-tc.keep+time.Hour)
			for _, at := range []time.Time{old, kept} {
				for _, stream := range []string{AuditStream, store.AuditKey("s1")} {
					must(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: strconv.FormatInt(at.UnixMilli(), 10) + "-0",
						Values: map[string]any{"who": "t1", "whom": "s1", "what": "view student", "at": at.Format(time.RFC3339)}}).Err())
				}
			}
			must(t, p.audit(ctx, &Session{Person: "t1", Role: RoleTutor}, "s1", "view student"))
			for _, stream := range []string{AuditStream, store.AuditKey("s1")} {
				msgs, err := rdb.XRange(ctx, stream, "-", "+").Result()
				must(t, err)
				if len(msgs) != 2 || msgs[0].ID != strconv.FormatInt(kept.UnixMilli(), 10)+"-0" {
					t.Errorf("%s holds %d entries, first %v; want the one within the retention and the new one", stream, len(msgs), msgs)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
