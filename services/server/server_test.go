package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// answer is what a GET returned.
type answer struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, url string) (answer, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header}, string(b)
}

// serving is a Server serving on two loopback listeners.
type serving struct {
	api, metrics string // base URLs
	stop         context.CancelFunc
	done         chan error // what Serve returned
}

func serve(t *testing.T, s *Server, grace time.Duration) *serving {
	t.Helper()
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	sv := &serving{api: "http://" + api.Addr().String(), metrics: "http://" + metrics.Addr().String(), stop: stop, done: make(chan error, 1)}
	go func() { sv.done <- s.Serve(ctx, api, metrics, grace) }()
	t.Cleanup(func() {
		stop()
		if err := <-sv.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sv
}

func (sv *serving) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-sv.done:
		sv.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestProbesErrorsAndMetrics(t *testing.T) {
	ready := errors.New("redis unreachable: connection refused")
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler), Ready: func(context.Context) error { return ready }})
	s.Echo.GET("/panic", func(echo.Context) error { panic("boom") })
	s.Echo.GET("/teapot", func(echo.Context) error { return Problem(http.StatusTeapot, "here is my handle") })
	sv := serve(t, s, time.Second)

	if resp, body := get(t, sv.api+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", resp.StatusCode, body)
	}
	resp, body := get(t, sv.api+"/readyz")
	if resp.StatusCode != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("readyz while not ready: %d %s", resp.StatusCode, body)
	}
	ready = nil
	if resp, _ := get(t, sv.api+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz when ready: %d", resp.StatusCode)
	}

	for path, want := range map[string]ProblemDetails{
		"/nowhere": {Status: 404, Title: "Not Found", Instance: "/nowhere"},
		"/panic":   {Status: 500, Title: "Internal Server Error", Instance: "/panic"},
		"/teapot":  {Status: 418, Title: "I'm a teapot", Detail: "here is my handle", Instance: "/teapot"},
	} {
		resp, body := get(t, sv.api+path)
		if resp.Header.Get("Content-Type") != ProblemContentType {
			t.Errorf("%s: content type %q", path, resp.Header.Get("Content-Type"))
		}
		var p ProblemDetails
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %s: %v", path, body, err)
		}
		want.Type = "about:blank"
		if p != want || resp.StatusCode != want.Status {
			t.Errorf("%s: got %d %+v, want %+v", path, resp.StatusCode, p, want)
		}
		if strings.Contains(body, "boom") {
			t.Errorf("%s: a panic's text reached the client", path)
		}
	}
	resp, metrics := get(t, sv.metrics+"/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("metrics listener: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`leap_http_requests_total{code="418",method="GET",route="/teapot"} 1`, "leap_http_request_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `route="/metrics"`) {
		t.Error("scrapes are counted as API requests")
	}
	// A ServiceMonitor attaches the target's service label: one of the
	// process's own would be renamed exported_service.
	if strings.Contains(metrics, `service="`) {
		t.Error("a metric carries a service label of its own")
	}
}

// The API's port serves the API and the probes, never the metrics; the
// metrics port serves /metrics and nothing else. A NetworkPolicy that lets a
// scraper reach the metrics port therefore lets it call nothing.
func TestMetricsAndAPIAreOnSeparatePorts(t *testing.T) {
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler)})
	s.Echo.GET("/v1/secret", func(c echo.Context) error { return c.String(http.StatusOK, "secret\n") })
	sv := serve(t, s, time.Second)

	if resp, body := get(t, sv.api+"/metrics"); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "leap_http_requests_total") {
		t.Errorf("the API's port answers /metrics: %d %.80s", resp.StatusCode, body)
	}
	for _, path := range []string{"/v1/secret", "/healthz", "/readyz", "/", "/metrics/", "/debug/pprof/"} {
		if resp, body := get(t, sv.metrics+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics port answers %s: %d %.80s", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Post(sv.metrics+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
	if resp, body := get(t, sv.api+"/v1/secret"); resp.StatusCode != 200 || body != "secret\n" {
		t.Errorf("the API: %d %q", resp.StatusCode, body)
	}
	// A caller may still mount the metrics on the API (make run does).
	s.Echo.GET(MetricsPath, echo.WrapHandler(s.MetricsHandler()))
	if _, body := get(t, sv.api+"/metrics"); !strings.Contains(body, `leap_http_requests_total{code="200",method="GET",route="/v1/secret"} 1`) {
		t.Errorf("mounted metrics: %.200s", body)
	}
}

// On shutdown both listeners stop taking connections at once, and a request
// in flight on the API is answered before Serve returns.
func TestGracefulShutdownOfBothListeners(t *testing.T) {
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler)})
	started, release := make(chan struct{}), make(chan struct{})
	s.Echo.GET("/slow", func(c echo.Context) error {
		close(started)
		<-release
		return c.String(http.StatusOK, "done\n")
	})
	sv := serve(t, s, 10*time.Second)
	if resp, _ := get(t, sv.metrics+"/metrics"); resp.StatusCode != 200 {
		t.Fatalf("metrics before shutdown: %d", resp.StatusCode)
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(sv.api + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-started
	sv.stop()
	// Both listeners close while the slow request is still running.
	for _, base := range []string{sv.api, sv.metrics} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s still takes connections after shutdown began", base)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	select {
	case err := <-sv.done:
		t.Fatalf("Serve returned before the request in flight was answered: %v", err)
	default:
	}
	close(release)
	if got := <-slow; got != "done\n" {
		t.Errorf("the request in flight got %q", got)
	}
	if err := sv.wait(t); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// When one listener fails, the other is shut down and Serve says why.
func TestOneListenerFailingStopsBoth(t *testing.T) {
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler)})
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics.Close() // Accept fails at once
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), api, metrics, time.Second) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "serve "+metrics.Addr().String()) {
			t.Errorf("Serve: %v, want the metrics listener's failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept running with its metrics listener gone")
	}
	if c, err := net.Dial("tcp", api.Addr().String()); err == nil {
		c.Close()
		t.Error("the API still takes connections")
	}
}

// ListenAndServe opens both ports, and closes the first when the second
// cannot be had.
func TestListenAndServe(t *testing.T) {
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler)})
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := free.Addr().String()
	free.Close()

	err = s.ListenAndServe(context.Background(), apiAddr, taken.Addr().String(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "for metrics") {
		t.Fatalf("metrics port taken: %v", err)
	}
	l, err := net.Listen("tcp", apiAddr)
	if err != nil {
		t.Fatalf("the API's port was left open: %v", err)
	}
	l.Close()

	// Both ports, then a shutdown.
	metricsAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, apiAddr, metricsAddr, time.Second) }()
	waitFor(t, "http://"+apiAddr+"/healthz")
	waitFor(t, "http://"+metricsAddr+"/metrics")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
	// No metrics address: the API alone.
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- s.ListenAndServe(ctx, apiAddr, "", time.Second) }()
	waitFor(t, "http://"+apiAddr+"/healthz")
	if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("a metrics listener without a metrics address")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe without metrics: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s did not answer 200", url)
}

// TestRequestLogHoldsNoQuery: the request log names the path only; a query
// can carry a sign-in code or the id of a person.
func TestRequestLogHoldsNoQuery(t *testing.T) {
	var log bytes.Buffer
	s := New(Options{Name: "test", Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	s.Echo.GET("/auth/callback", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	ts := httptest.NewServer(s.Echo)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/auth/callback?code=secret-code&state=secret-state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := log.String(); !strings.Contains(got, `"path":"/auth/callback"`) || strings.Contains(got, "secret") {
		t.Errorf("request log:\n%s", got)
	}
}
