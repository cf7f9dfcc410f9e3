package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
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

// Problem is an error that answers with a problem document.
func Problem(status int, title, detail string) error {
	return &echo.HTTPError{Code: status, Message: ProblemDetails{Type: "about:blank", Title: title, Status: status, Detail: detail}}
}

// Problemf is Problem with a formatted detail.
func Problemf(status int, title, format string, args ...any) error {
	return Problem(status, title, fmt.Sprintf(format, args...))
}

// retryAfter is the seconds a client is asked to wait after a 503: long
// enough for a Redis restart or failover.
const retryAfter = "30"

// wantsHTML: a browser's navigation asks for text/html first.
func wantsHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.HasPrefix(accept, "text/html") || strings.HasPrefix(accept, "application/xhtml+xml")
}

// unavailablePage is the page a browser gets for a 503: plain, with no
// asset that the failing service would have to serve.
var unavailablePage = template.Must(template.New("503").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{{.Title}}</h1><p>{{.Detail}}</p><p><a href="">Try again</a></p></main></body></html>
`))

// problemHandler writes every error as problem+json. Handlers' own problems
// keep their text; echo's errors (404, 405, 413) are translated; anything
// else is a 500 whose detail stays in the log, not in the answer.
func problemHandler(log *slog.Logger) echo.HTTPErrorHandler {
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
				p = ProblemDetails{Type: "about:blank", Status: http.StatusServiceUnavailable, Title: "Service unavailable",
					Detail: "LEAP's store cannot be reached just now; nothing was changed. Try again in a minute."}
			}
		}
		if p.Status == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
			c.Response().Header().Set("Retry-After", retryAfter)
		}
		p.Instance = c.Request().URL.Path
		if p.Status == http.StatusServiceUnavailable && wantsHTML(c.Request()) {
			// A person in a browser reads a page, not a JSON document.
			var buf bytes.Buffer
			_ = unavailablePage.Execute(&buf, p)
			_ = c.HTMLBlob(p.Status, buf.Bytes())
			return
		}
		c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(c.Response()).Encode(p)
	}
}
