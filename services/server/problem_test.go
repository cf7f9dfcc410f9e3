package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestProblemTitleIsTheStatusPhrase: a problem of type about:blank is
// titled with its status code's phrase (RFC 9457 4.2.1), whatever the
// handler had to say, which is the detail.
func TestProblemTitleIsTheStatusPhrase(t *testing.T) {
	for _, err := range []error{
		Problem(http.StatusConflict, "someone decided this challenge first"),
		Problemf(http.StatusConflict, "someone decided %s first", "this challenge"),
	} {
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("%v is not an echo.HTTPError", err)
		}
		want := ProblemDetails{Type: "about:blank", Title: "Conflict", Status: 409, Detail: "someone decided this challenge first"}
		if p, _ := he.Message.(ProblemDetails); p != want || he.Code != 409 {
			t.Errorf("%d %+v, want %+v", he.Code, he.Message, want)
		}
	}
}

func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "*/*": false, "application/json": false, "application/problem+json": false,
		"text/html": true, "application/xhtml+xml": true,
		// Chromium's and Firefox's navigations.
		"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7": true,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8":                                                                         true,
		// fetch() and curl.
		"*/*;q=0.8": false,
		// A client that names JSON first, or ranks HTML lower.
		"application/json, text/html;q=0.5": false,
		"text/html;q=0.5, application/json": false,
		"text/*;q=0.9, */*;q=0.1":           true,
		"TEXT/HTML; Q=1, */*;q=0.2":         true,
		"text/html;q=0, */*":                false,
		"text/html;q=2":                     false, // not a weight: not acceptable
		"text/html;q=abc, application/json": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept", accept)
		if got := prefersHTML(r); got != want {
			t.Errorf("Accept %q: HTML %v, want %v", accept, got, want)
		}
	}
}

// FuzzAcceptWeight: any header gives a weight between 0 and 1 that does
// not depend on the order of its ranges, and never panics.
func FuzzAcceptWeight(f *testing.F) {
	for _, s := range []string{"", "*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "text/*;q=0.3, text/html;q=0.7", "a/b;q=;;,", "text/html;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		ranges := strings.Split(accept, ",")
		slices.Reverse(ranges)
		reversed := strings.Join(ranges, ",")
		for _, mt := range []string{"text/html", "application/json"} {
			w := acceptWeight(accept, mt)
			if !(w >= 0 && w <= 1) {
				t.Fatalf("%q: weight %v of %s", accept, w, mt)
			}
			if r := acceptWeight(reversed, mt); r != w {
				t.Fatalf("%q: weight %v of %s, %v with the ranges reversed", accept, w, mt, r)
			}
		}
	})
}

// TestProblemHandlerServesTheServicesPageToBrowsers: with a page of the
// service's own, a browser gets it for any error, with the status, and an
// API client the problem document.
func TestProblemHandlerServesTheServicesPageToBrowsers(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = ProblemHandler(slog.New(slog.DiscardHandler), func(c echo.Context, p ProblemDetails) error {
		return c.HTML(p.Status, "<h1>"+p.Title+"</h1><p>"+p.Detail+"</p>")
	})
	e.GET("/refused", func(echo.Context) error { return Problem(http.StatusNotFound, "there is no such page") })
	for _, tc := range []struct {
		accept, contentType, body string
	}{
		{"text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=UTF-8", "<h1>Not Found</h1><p>there is no such page</p>"},
		{"application/json", ProblemContentType, `"detail":"there is no such page"`},
		{"", ProblemContentType, `"title":"Not Found"`},
	} {
		for _, path := range []string{"/refused", "/nowhere"} {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Accept", tc.accept)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			body, _ := io.ReadAll(w.Body)
			if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != tc.contentType {
				t.Errorf("%s, Accept %q: %d %s, want 404 %s", path, tc.accept, w.Code, w.Header().Get("Content-Type"), tc.contentType)
			}
			if path == "/refused" && !strings.Contains(string(body), tc.body) {
				t.Errorf("%s, Accept %q: %s, want %s in it", path, tc.accept, body, tc.body)
			}
			if tc.contentType == ProblemContentType {
				var p ProblemDetails
				if err := json.Unmarshal(body, &p); err != nil || p.Instance != path {
					t.Errorf("%s: %s (%v)", path, body, err)
				}
			}
		}
	}
}
