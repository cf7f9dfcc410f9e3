package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Timeouts bound what a client can hold: the time to send headers, the
// pace of a body, the work done for a request, and an idle connection.
type Timeouts struct {
	// ReadHeader is the time to send the request's headers.
	ReadHeader time.Duration
	// MaxHeaderBytes bounds the headers; more answers 431.
	MaxHeaderBytes int
	// Request is the deadline of a request's work (its context) and of
	// reading its body: everything a request does ends by then.
	Request time.Duration
	// Write is the time left after Request to write the answer to a client
	// that reads it slowly.
	Write time.Duration
	// BodyGrace and BodyRate pace a body: by BodyGrace plus one second per
	// BodyRate bytes read, the next byte must have come. A body sent at
	// BodyRate or faster takes as long as it needs (up to Request); one
	// trickled is cut off soon after BodyGrace.
	BodyGrace time.Duration
	BodyRate  int
	// Idle is how long a keep-alive connection waits for its next request.
	Idle time.Duration
}

// DefaultTimeouts suit requests with small bodies: pages, forms, API reads.
var DefaultTimeouts = Timeouts{
	ReadHeader: 5 * time.Second, MaxHeaderBytes: 32 << 10,
	Request: 15 * time.Second, Write: 10 * time.Second,
	BodyGrace: 5 * time.Second, BodyRate: 4 << 10,
	Idle: 30 * time.Second,
}

// BulkTimeouts suit ingestion's batches: bodies of tens of megabytes from
// a source's server, so a body is bounded by its pace (64 KiB/s at
// least), not by a short total, and the work by a few minutes.
var BulkTimeouts = Timeouts{
	ReadHeader: 5 * time.Second, MaxHeaderBytes: 32 << 10,
	Request: 3 * time.Minute, Write: 10 * time.Second,
	BodyGrace: 10 * time.Second, BodyRate: 64 << 10,
	Idle: 30 * time.Second,
}

// withDefaults fills the fields left zero from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts
	if t.ReadHeader > 0 {
		d.ReadHeader = t.ReadHeader
	}
	if t.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = t.MaxHeaderBytes
	}
	if t.Request > 0 {
		d.Request = t.Request
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.BodyGrace > 0 {
		d.BodyGrace = t.BodyGrace
	}
	if t.BodyRate > 0 {
		d.BodyRate = t.BodyRate
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return d
}

// httpServer is an http.Server with the connection-level bounds. Its
// ReadTimeout and WriteTimeout stay zero: deadlines routes a request
// through, so that a body is bounded by its pace rather than a total.
func (t Timeouts) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, IdleTimeout: t.Idle, MaxHeaderBytes: t.MaxHeaderBytes}
}

// deadlines is the middleware that bounds every request: its context ends
// at Request, its body is read at BodyRate or cut off, and its answer must
// be written by Request plus Write. A connection that does not support
// deadlines (a test recorder) gets the context's deadline only.
func (t Timeouts) deadlines(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		end := start.Add(t.Request)
		ctx, cancel := context.WithDeadline(c.Request().Context(), end)
		defer cancel()
		req := c.Request().WithContext(ctx)
		rc := http.NewResponseController(c.Response().Writer)
		if err := rc.SetWriteDeadline(end.Add(t.Write)); err == nil && req.Body != nil && req.Body != http.NoBody {
			pr := &pacedReader{body: req.Body, rc: rc, start: start, end: end, t: t}
			if err := pr.push(); err == nil {
				req.Body = pr
			}
		}
		c.SetRequest(req)
		return next(c)
	}
}

// errBodyTooSlow is a body's read cut off by its pace.
var errBodyTooSlow = errors.New("request body arrived too slowly")

// pacedReader moves the connection's read deadline on as a body arrives:
// start + BodyGrace + read/BodyRate, never past the request's end.
type pacedReader struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	end   time.Time
	read  int64
	t     Timeouts
}

func (p *pacedReader) push() error {
	d := p.start.Add(p.t.BodyGrace + time.Duration(float64(p.read)/float64(p.t.BodyRate)*float64(time.Second)))
	if d.After(p.end) {
		d = p.end
	}
	return p.rc.SetReadDeadline(d)
}

func (p *pacedReader) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	p.read += int64(n)
	if n > 0 {
		_ = p.push()
	}
	if err != nil && isTimeout(err) {
		return n, errBodyTooSlow
	}
	return n, err
}

func (p *pacedReader) Close() error { return p.body.Close() }

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
