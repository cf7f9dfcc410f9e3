package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

func TestProbesErrorsAndMetrics(t *testing.T) {
	ready := errors.New("redis unreachable: connection refused")
	s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler), Ready: func(context.Context) error { return ready }})
	s.Echo.GET("/panic", func(echo.Context) error { panic("boom") })
	s.Echo.GET("/teapot", func(echo.Context) error { return Problem(http.StatusTeapot, "Short and stout", "here is my handle") })
	ts := httptest.NewServer(s.Echo)
	defer ts.Close()

	if resp, body := get(t, ts.URL+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", resp.StatusCode, body)
	}
	resp, body := get(t, ts.URL+"/readyz")
	if resp.StatusCode != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("readyz while not ready: %d %s", resp.StatusCode, body)
	}
	ready = nil
	if resp, _ := get(t, ts.URL+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz when ready: %d", resp.StatusCode)
	}

	for path, want := range map[string]ProblemDetails{
		"/nowhere": {Status: 404, Title: "Not Found", Instance: "/nowhere"},
		"/panic":   {Status: 500, Title: "Internal Server Error", Instance: "/panic"},
		"/teapot":  {Status: 418, Title: "Short and stout", Detail: "here is my handle", Instance: "/teapot"},
	} {
		resp, body := get(t, ts.URL+path)
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
	_, metrics := get(t, ts.URL+"/metrics")
	for _, want := range []string{`leap_http_requests_total{code="418",method="GET",route="/teapot",service="test"} 1`, "leap_http_request_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
