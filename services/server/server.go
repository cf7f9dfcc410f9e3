// Package server is the scaffolding every LEAP service shares: an echo v4
// server with Recover, RequestID, OpenTelemetry, slog JSON request logs,
// RFC 9457 problem+json errors, /healthz, /readyz, Prometheus metrics on a
// listener of their own, and a graceful shutdown of both listeners.
//
// Metrics are kept off the API's port so that a NetworkPolicy, which
// chooses ports and not paths, can let a scraper reach the metrics without
// letting it call the API.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/github.com/labstack/echo/otelecho"
	"go.opentelemetry.io/otel/trace"
)

// Options configure a service's server.
type Options struct {
	// Name of the service, in traces (the scraper labels its metrics).
	Name string
	// Logger writes JSON logs; requests are logged through it.
	Logger *slog.Logger
	// Ready reports whether the service can serve: Redis reachable, policy
	// loaded. /readyz answers 503 with its error.
	Ready func(ctx context.Context) error
	// Registry collects the service's metrics; a new one when nil.
	Registry *prometheus.Registry
	// TracerProvider for otelecho; the global one when nil.
	TracerProvider trace.TracerProvider
	// TrustedProxies are the proxies (an Ingress controller's pods) whose
	// X-Forwarded-For is believed; none by default.
	TrustedProxies []netip.Prefix
	// Timeouts bound each connection and request; zero fields take
	// DefaultTimeouts'.
	Timeouts Timeouts
}

// Server is an echo server with the shared middleware installed, and the
// registry its metrics listener serves.
type Server struct {
	Echo     *echo.Echo
	Registry *prometheus.Registry
	metrics  http.Handler
	log      *slog.Logger
	timeouts Timeouts
}

// MetricsPath is where the metrics listener serves the registry.
const MetricsPath = "/metrics"

// probePaths are skipped by tracing and request logs: they are called every
// few seconds and say nothing about users. /metrics is among them for a
// caller that mounts MetricsHandler on the API (make run).
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// New builds the server of a service.
func New(o Options) *Server {
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client's address (rate limits, logs) is the peer's, or behind
	// a trusted proxy the X-Forwarded-For entry it saw: a header a client
	// sets itself is believed from no one else, so it cannot dodge a
	// per-address limit or spend someone else's.
	e.IPExtractor = ipExtractor(o.TrustedProxies)
	e.HTTPErrorHandler = problemHandler(o.Logger)

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leap_http_requests_total", Help: "HTTP requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "leap_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method"})
	o.Registry.MustRegister(requests, latency)

	skipProbes := func(c echo.Context) bool { return probePaths[c.Path()] }
	timeouts := o.Timeouts.withDefaults()
	e.Use(middleware.Recover())
	e.Use(middleware.RequestID())
	e.Use(timeouts.deadlines)
	tracing := []otelecho.Option{otelecho.WithSkipper(skipProbes)}
	if o.TracerProvider != nil {
		tracing = append(tracing, otelecho.WithTracerProvider(o.TracerProvider))
	}
	e.Use(otelecho.Middleware(o.Name, tracing...))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the answer now, so the status below is the real one
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Inc()
			latency.WithLabelValues(route, c.Request().Method).Observe(time.Since(start).Seconds())
			return nil
		}
	})
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		Skipper:      skipProbes,
		LogStatus:    true,
		LogURIPath:   true, // no query: it can carry sign-in codes and ids of people
		LogMethod:    true,
		LogLatency:   true,
		LogRequestID: true,
		LogError:     true,
		HandleError:  false,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			attrs := []slog.Attr{
				slog.String("method", v.Method), slog.String("path", v.URIPath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("request_id", v.RequestID),
			}
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			if v.Error != nil {
				attrs = append(attrs, slog.String("error", v.Error.Error()))
			}
			o.Logger.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		},
	}))

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if o.Ready != nil {
			if err := o.Ready(ctx); err != nil {
				return Problem(http.StatusServiceUnavailable, "not ready: "+err.Error())
			}
		}
		return c.String(http.StatusOK, "ready\n")
	})
	metrics := promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry})
	return &Server{Echo: e, Registry: o.Registry, metrics: metrics, log: o.Logger, timeouts: timeouts}
}

// MetricsHandler serves the registry in Prometheus's formats. The metrics
// listener of Serve serves it at MetricsPath; the API does not, unless a
// caller mounts it there.
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// metricsMux is the metrics listener's handler: GET /metrics, and 404 for
// anything else.
func (s *Server) metricsMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, s.metrics)
	return mux
}

// Serve serves the API on api, and the metrics on metrics unless it is nil,
// until ctx ends or either listener fails. Then it stops accepting on both
// and drains their in-flight requests for up to grace before closing.
func (s *Server) Serve(ctx context.Context, api, metrics net.Listener, grace time.Duration) error {
	type served struct {
		srv *http.Server
		l   net.Listener
	}
	all := []served{{s.timeouts.httpServer(s.Echo), api}}
	if metrics != nil {
		// A scrape is a GET with no body: plain totals bound it.
		ms := s.timeouts.httpServer(s.metricsMux())
		ms.ReadTimeout, ms.WriteTimeout = s.timeouts.Request, s.timeouts.Request+s.timeouts.Write
		all = append(all, served{ms, metrics})
	}
	done := make(chan error, len(all))
	for _, sv := range all {
		go func() {
			if err := sv.srv.Serve(sv.l); !errors.Is(err, http.ErrServerClosed) {
				done <- fmt.Errorf("serve %s: %w", sv.l.Addr(), err)
				return
			}
			done <- nil
		}()
	}
	var errs []error
	running := len(all)
	select {
	case err := <-done: // one listener failed: stop the other too
		errs = append(errs, err)
		running--
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	shutdown := make(chan error, len(all))
	for _, sv := range all {
		go func() {
			if err := sv.srv.Shutdown(shutdownCtx); err != nil {
				shutdown <- fmt.Errorf("shut down %s: %w", sv.l.Addr(), err)
				return
			}
			shutdown <- nil
		}()
	}
	for range all {
		errs = append(errs, <-shutdown)
	}
	for ; running > 0; running-- {
		errs = append(errs, <-done)
	}
	return errors.Join(errs...)
}

// ListenAndServe listens on apiAddr for the API and on metricsAddr for the
// metrics (none when metricsAddr is empty), and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, apiAddr, metricsAddr string, grace time.Duration) error {
	api, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", apiAddr, err)
	}
	var metrics net.Listener
	if metricsAddr != "" {
		if metrics, err = net.Listen("tcp", metricsAddr); err != nil {
			_ = api.Close()
			return fmt.Errorf("listen on %s for metrics: %w", metricsAddr, err)
		}
	}
	return s.Serve(ctx, api, metrics, grace)
}
