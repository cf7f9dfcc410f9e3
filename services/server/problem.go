package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/services/store"
)

// ProblemDetails is an RFC 9457 problem document.
type ProblemDetails struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// ProblemContentType is the media type of problem documents.
const ProblemContentType = "application/problem+json"

// Problem is an error that answers with a problem document of type
// about:blank: RFC 9457 (4.2.1) has such a document's title be the status
// code's phrase, so what is particular to this answer goes in detail.
func Problem(status int, detail string) error {
	return &echo.HTTPError{Code: status, Message: ProblemDetails{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}}
}

// Problemf is Problem with a formatted detail.
func Problemf(status int, format string, args ...any) error {
	return Problem(status, fmt.Sprintf(format, args...))
}

// retryAfter is the seconds a client is asked to wait after a 503: long
// enough for a Redis restart or failover.
const retryAfter = "30"

// prefersHTML reports whether a request's Accept header ranks HTML above
// JSON. A browser's navigation does (text/html first, */* at a lower
// weight); an API client sends application/json, problem+json, */* or
// nothing, and gets the problem document.
func prefersHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	html := max(acceptWeight(accept, "text/html"), acceptWeight(accept, "application/xhtml+xml"))
	json := max(acceptWeight(accept, "application/problem+json"), acceptWeight(accept, "application/json"))
	return html > json
}

// acceptWeight is the weight (q, 0 to 1) an Accept header gives a media
// type: that of the most specific range that matches it (type/subtype
// before type/* before */*, RFC 9110 12.5.1), the highest of equally
// specific ones, so the order of the ranges does not matter; 0 when none
// matches. A weight that is not a number between 0 and 1 makes its range
// count as not acceptable.
func acceptWeight(accept, mediaType string) float64 {
	typ, _, _ := strings.Cut(mediaType, "/")
	best, weight := 0, 0.0
	for elem := range strings.SplitSeq(accept, ",") {
		rng, params, _ := strings.Cut(elem, ";")
		rng = strings.ToLower(strings.TrimSpace(rng))
		specific := 0
		switch rng {
		case mediaType:
			specific = 3
		case typ + "/*":
			specific = 2
		case "*/*":
			specific = 1
		}
		if specific == 0 || specific < best {
			continue
		}
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			name, value, _ := strings.Cut(param, "=")
			if strings.EqualFold(strings.TrimSpace(name), "q") {
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil || !(v >= 0 && v <= 1) {
					v = 0
				}
				q = v
			}
		}
		if specific > best {
			best, weight = specific, q
		} else {
			weight = max(weight, q)
		}
	}
	return weight
}

// unavailablePage is the page a browser gets for a 503: plain, with no
// asset that the failing service would have to serve.
var unavailablePage = template.Must(template.New("503").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{{.Title}}</h1><p>{{.Detail}}</p><p><a href="">Try again</a></p></main></body></html>
`))

// ErrorPage writes a problem as a page for a person in a browser.
type ErrorPage func(c echo.Context, p ProblemDetails) error

// problemHandler is ProblemHandler without pages of the service's own.
func problemHandler(log *slog.Logger) echo.HTTPErrorHandler { return ProblemHandler(log, nil) }

// ProblemHandler writes every error as problem+json, or, to a browser
// (an Accept that prefers HTML), as page. Handlers' own problems keep their
// text; echo's errors (404, 405, 413) are translated; anything else is a
// 500 whose detail stays in the log, not in the answer. Without a page of
// the service's own, a browser gets a plain page for a 503 (with no asset
// that the failing service would have to serve) and the problem document
// otherwise.
func ProblemHandler(log *slog.Logger, page ErrorPage) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := ProblemDetails{Type: "about:blank", Status: http.StatusInternalServerError, Title: http.StatusText(http.StatusInternalServerError)}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			switch m := he.Message.(type) {
			case ProblemDetails:
				p = m
			case string:
				p.Status, p.Title = he.Code, http.StatusText(he.Code)
				if m != p.Title {
					p.Detail = m
				}
			default:
				p.Status, p.Title = he.Code, http.StatusText(he.Code)
			}
		} else {
			log.ErrorContext(c.Request().Context(), "request failed", slog.String("error", err.Error()), slog.String("uri", c.Request().RequestURI))
			if store.Unavailable(err) {
				p = ProblemDetails{Type: "about:blank", Status: http.StatusServiceUnavailable, Title: http.StatusText(http.StatusServiceUnavailable),
					Detail: "LEAP's store cannot be reached just now; nothing was changed. Try again in a minute."}
			}
		}
		if p.Status == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
			c.Response().Header().Set("Retry-After", retryAfter)
		}
		p.Instance = c.Request().URL.Path
		if prefersHTML(c.Request()) {
			// A person in a browser reads a page, not a JSON document.
			switch {
			case page != nil:
				perr := page(c, p)
				if perr == nil || c.Response().Committed {
					return
				}
				log.ErrorContext(c.Request().Context(), "error page failed", slog.String("error", perr.Error()), slog.String("uri", c.Request().RequestURI))
			case p.Status == http.StatusServiceUnavailable:
				var buf bytes.Buffer
				_ = unavailablePage.Execute(&buf, p)
				_ = c.HTMLBlob(p.Status, buf.Bytes())
				return
			}
		}
		c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(c.Response()).Encode(p)
	}
}
