package portal

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// TestOneTraceFromPortalPageThroughScoringToRedis: a student's page is one
// trace across two services: the portal's request span, its call to
// scoring, scoring's request span (joined by W3C trace context), and
// scoring's Redis commands beneath it.
func TestOneTraceFromPortalPageThroughScoringToRedis(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })

	f := start(t, "attendance:\n    enabled: true") // roster, accounts and history in Redis
	traced, err := store.Open(store.Options{URL: "redis://" + f.rdb.Options().Addr, Tracing: true, TracerProvider: tp})
	must(t, err)
	t.Cleanup(func() { _ = traced.Close() })

	log := slog.New(slog.DiscardHandler)
	pol := policyOf(t)
	sco := server.New(server.Options{Name: "scoring", Logger: log, TracerProvider: tp})
	(&scoring.Service{Redis: traced, Policy: pol, Now: func() time.Time { return now }, CacheTTL: time.Minute}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)
	hash, err := HashPassword(password)
	must(t, err)
	ps := server.New(server.Options{Name: "portal", Logger: log, TracerProvider: tp})
	newPortal(t, ps.Echo, Config{Redis: traced, Policy: pol, ScoringURL: scoringTS.URL, Now: func() time.Time { return now }, TracerProvider: tp,
		Users: map[string]User{"s1": {"s1", hash, "s1", RoleStudent}}})
	ts := httptest.NewServer(ps.Echo)
	t.Cleanup(ts.Close)

	c, status, _ := (&fixture{url: ts.URL, rdb: f.rdb}).login(t, "s1", password)
	if status != 200 {
		t.Fatalf("login %d", status)
	}
	// Signing in showed the page, which the portal now keeps; a new event
	// makes the next view ask scoring again.
	day, _ := calendar.ParseDay("2026-10-20")
	_, err = store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(
		context.Background(), []store.Event{{ID: "trace-e1", Student: "s1", Activity: 0, Day: day}})
	must(t, err)
	// The page shown at sign-in may still be ending its spans (a server
	// span ends after its answer is read): let it finish before starting
	// afresh, or its late spans would be taken for the next page's.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if slices.ContainsFunc(rec.Ended(), func(s sdktrace.ReadOnlySpan) bool {
			return s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "/me")
		}) {
			break
		}
	}
	rec.Reset()
	if status, _ := fetch(t, c, ts.URL+"/me"); status != 200 {
		t.Fatalf("page %d", status)
	}

	// A server span ends once its handler has returned, which may be just
	// after the client has read the answer: wait for both.
	var spans []sdktrace.ReadOnlySpan
	var byID map[trace.SpanID]sdktrace.ReadOnlySpan
	var page, scoringServer sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(2 * time.Second); (page == nil || scoringServer == nil) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		spans = rec.Ended()
		byID = map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			byID[s.SpanContext().SpanID()] = s
			if s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "/me") {
				page = s
			}
			if s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "/engagement") {
				scoringServer = s
			}
		}
	}
	if page == nil || scoringServer == nil {
		t.Fatalf("missing server spans among %d", len(spans))
	}
	if scoringServer.SpanContext().TraceID() != page.SpanContext().TraceID() {
		t.Fatal("scoring's request is not in the page's trace")
	}
	// scoring's server span descends from the portal's page span through
	// the portal's client span.
	client, ok := byID[scoringServer.Parent().SpanID()]
	if !ok || client.SpanKind() != trace.SpanKindClient || client.Parent().SpanID() != page.SpanContext().SpanID() {
		t.Errorf("scoring's request span is not the child of the portal's call to it")
	}
	redisUnderScoring := 0
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == scoringServer.SpanContext().SpanID() {
			redisUnderScoring++
		}
	}
	if redisUnderScoring == 0 {
		t.Error("no Redis span under scoring's request span")
	}
}

func policyOf(t *testing.T) *policy.Source {
	t.Helper()
	l, err := policy.ParseFile("sample", mustRead(t, "../../config/samples/leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	return policy.Static(l)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}
