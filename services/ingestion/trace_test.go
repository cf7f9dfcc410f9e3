package ingestion

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// TestOneTraceFromCallerThroughIngestionToRedis: a caller's W3C trace
// context reaches the ingestion service, whose request span is the parent
// of the Redis commands it sends, all in one trace.
func TestOneTraceFromCallerThroughIngestionToRedis(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })

	r := redistest.Start(t)
	rdb, err := store.Open(store.Options{URL: r.URL(), Tracing: true, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	svc := &Service{Redis: rdb, Policy: loadPolicy(t, ""), MaxBodyBytes: 1 << 20, Now: func() time.Time { return now },
		Tokens: map[string]string{token: "moodle"}}
	srv := server.New(server.Options{Name: "ingestion", Logger: slog.New(slog.DiscardHandler), TracerProvider: tp})
	svc.Register(srv.Echo, srv.Registry)
	ts := httptest.NewServer(srv.Echo)
	t.Cleanup(ts.Close)
	if err := store.PutStudents(context.Background(), rdb, []store.Student{{ID: "s1", Name: "A", Department: "D", Course: "C", Year: 1, Level: "ug", Mode: "FT"}}); err != nil {
		t.Fatal(err)
	}

	ctx, caller := tp.Tracer("caller").Start(context.Background(), "send batch")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/events", strings.NewReader("["+event("tr1", "s1", "moodle_login", at)+"]"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	caller.End()

	var request trace.SpanContext
	var parent trace.SpanID
	redisSpans := 0
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "/v1/events") {
			request, parent = s.SpanContext(), s.Parent().SpanID()
		}
	}
	if !request.IsValid() {
		t.Fatalf("no server span for the request among %d spans", len(rec.Ended()))
	}
	if request.TraceID() != caller.SpanContext().TraceID() || parent != caller.SpanContext().SpanID() {
		t.Errorf("the request span is not the caller's child: trace %s parent %s, caller %s/%s",
			request.TraceID(), parent, caller.SpanContext().TraceID(), caller.SpanContext().SpanID())
	}
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == request.SpanID() && s.SpanContext().TraceID() == request.TraceID() {
			redisSpans++
		}
	}
	if redisSpans == 0 {
		t.Errorf("no Redis span under the request span; spans: %v", names(rec.Ended()))
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name() + "/" + s.SpanKind().String()
	}
	return out
}
