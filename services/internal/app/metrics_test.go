package app

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestServerExportsThePoolOfRedis: a service's metrics hold the Redis
// connection pool's figures, from a client that has been used.
func TestServerExportsThePoolOfRedis(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	c := &Common{Name: "test", Log: slog.New(slog.DiscardHandler), Redis: rdb}
	s := c.Server()
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"leap_redis_pool_hit_total", "leap_redis_pool_miss_total 1", "leap_redis_pool_timeout_total 0", "leap_redis_pool_conn_total_current 1", "leap_redis_pool_conn_idle_current 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
