package portal

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// outageBound is how soon every answer must come when Redis is down or
// hung: seconds, not tens of seconds.
const outageBound = 6 * time.Second

// TestRedisOutageAnswers503Quickly: with Redis hung (the process stopped,
// its connections open) and then down, sign-in and a signed-in page
// answer 503 with Retry-After within seconds, as an HTML page for a
// browser and problem+json otherwise. The client is built as the services
// build theirs, with their default timeouts.
func TestRedisOutageAnswers503Quickly(t *testing.T) {
	r := redistest.Start(t)
	rdb, err := store.Open(store.Options{URL: r.URL(), DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	must(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	l, err := policy.ParseFile("test", b)
	must(t, err)
	hash, err := HashPassword(password)
	must(t, err)
	ps := server.New(server.Options{Name: "portal", Logger: slog.New(slog.DiscardHandler)})
	newPortal(t, ps.Echo, Config{Redis: rdb, Policy: policy.Static(l), ScoringURL: "http://127.0.0.1:1", Now: func() time.Time { return now },
		Users: map[string]User{"t1": {"t1", hash, "t1", RoleTutor}}})
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)
	f := &fixture{url: ts.URL}
	t1 := f.signIn(t, "t1")

	check := func(state string) {
		t.Helper()
		for _, tc := range []struct {
			name, method, path, accept string
			html                       bool
		}{
			{"a page, from a browser", http.MethodGet, "/students", "text/html,application/xhtml+xml,*/*;q=0.8", true},
			{"a page, from a script", http.MethodGet, "/students", "", false},
			{"sign-in, from a browser", http.MethodPost, "/login", "text/html,*/*;q=0.8", true},
		} {
			var body io.Reader
			if tc.method == http.MethodPost {
				body = strings.NewReader(url.Values{"username": {"t1"}, "password": {password}}.Encode())
			}
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			start := time.Now()
			resp, err := noRedirect(t1.Client).Do(req)
			took := time.Since(start)
			if err != nil {
				t.Errorf("Redis %s, %s: %v after %v", state, tc.name, err, took)
				continue
			}
			t.Logf("Redis %s, %s: %d after %v", state, tc.name, resp.StatusCode, took)
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			switch {
			case resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "":
				t.Errorf("Redis %s, %s: %d, Retry-After %q after %v; want 503 with Retry-After", state, tc.name, resp.StatusCode, resp.Header.Get("Retry-After"), took)
			case took > outageBound:
				t.Errorf("Redis %s, %s: answered after %v, want within %v", state, tc.name, took, outageBound)
			case tc.html && (!strings.HasPrefix(ct, "text/html") || !strings.Contains(string(page), `<h1 id="problem-title">Service Unavailable</h1>`)):
				t.Errorf("Redis %s, %s: %s, want an HTML page: %.200s", state, tc.name, ct, page)
			case !tc.html && ct != server.ProblemContentType:
				t.Errorf("Redis %s, %s: %s, want problem+json", state, tc.name, ct)
			}
		}
	}
	r.Pause(t)
	check("hung")
	r.Resume(t)
	r.Stop()
	check("down")
}
