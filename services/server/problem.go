package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
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
		}
		p.Instance = c.Request().URL.Path
		c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(c.Response()).Encode(p)
	}
}
