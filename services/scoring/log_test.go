package scoring

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/server"
)

// TestCacheWriteFailureIsLogged: an answer that cannot be cached is still
// given, and the failure goes to the service's logger as JSON with
// snake_case keys, not to echo's logger.
func TestCacheWriteFailureIsLogged(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()
	// A user that may read but not run scripts: the cache write fails.
	if err := f.rdb.Do(ctx, "ACL", "SETUSER", "noscripts", "on", ">pw", "~*", "+@all", "-eval", "-evalsha", "-script").Err(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.Addr, Username: "noscripts", Password: "pw"})
	t.Cleanup(func() { _ = rdb.Close() })
	var logs bytes.Buffer
	svc := &Service{Redis: rdb, Policy: policy.Static(parsePolicy(t, sample(t))), Now: func() time.Time { return now }, CacheTTL: time.Minute,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	srv := server.New(server.Options{Name: "scoring", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/v1/students/ug1/engagement")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("engagement without a cache: %d", resp.StatusCode)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if line["msg"] != "scoring cache write failed" || line["level"] != "WARN" || line["student"] != "ug1" || line["error"] == nil {
		t.Errorf("log line %v", line)
	}
}
