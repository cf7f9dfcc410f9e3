package portal

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// BenchmarkStudentDashboard measures the student's page over loopback with
// warm caches: latency percentiles at a steady 200 requests/s, and the
// most requests/s four clients get, beside a bare echo handler measured the
// same way in the same run. It also reports the page's weight with its
// stylesheet.
//
// Redis runs as the operator deploys it: AOF with appendfsync everysec
// (operator/internal/builder/workloads.go). The tests' Redis syncs every
// write to disk (always), and every page view writes: it refreshes the
// session's idle expiry. Under that setting the figure measures the test
// machine's fsync more than the portal, so it is reported beside the other
// as pages/s-appendfsync-always rather than hidden.
func BenchmarkStudentDashboard(b *testing.B) {
	f := startAdmin(b)
	appendfsync := func(mode string) {
		if err := f.rdb.ConfigSet(context.Background(), "appendfsync", mode).Err(); err != nil {
			b.Fatal(err)
		}
	}
	appendfsync("everysec")
	c, _, _ := f.login(b, "s1", password)
	page := f.url + "/me"
	bare := echo.New()
	bare.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	bareTS := httptest.NewServer(bare)
	defer bareTS.Close()

	get := func(url string) int {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", url, resp.StatusCode)
		}
		return int(n)
	}
	size := get(page) + get(f.url+"/static/leap.css")

	// Steady 200 requests/s for three seconds.
	var lat []time.Duration
	tick := time.NewTicker(5 * time.Millisecond)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 600 {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			get(page)
			mu.Lock()
			lat = append(lat, time.Since(start))
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	slices.Sort(lat)

	// throughput is the requests/s four clients get from url in d.
	throughput := func(url string, d time.Duration) float64 {
		var n atomic.Int64
		start := time.Now()
		deadline := start.Add(d)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					get(url)
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	for range b.N {
		// Two seconds of each, in alternating half seconds, so that anything
		// else busy on the machine weighs on the page and the baseline alike.
		var dash, base float64
		for range 4 {
			dash += throughput(page, 500*time.Millisecond) / 4
			base += throughput(bareTS.URL+"/", 500*time.Millisecond) / 4
		}
		b.ReportMetric(dash, "pages/s")
		b.ReportMetric(base, "baseline-bare-echo-req/s")
		b.ReportMetric(dash/base, "ratio")
		appendfsync("always")
		b.ReportMetric(throughput(page, 2*time.Second), "pages/s-appendfsync-always")
		appendfsync("everysec")
	}
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms-at-200rps")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms-at-200rps")
	b.ReportMetric(float64(size)/1024, "page-KiB")
}
