package scoring

import (
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkCachedEngagement measures the latency of a cached engagement
// request over loopback HTTP, as percentiles, beside the same service's
// /healthz (no work at all) measured in the same run.
func BenchmarkCachedEngagement(b *testing.B) {
	f := start(b, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	measure := func(url string, n int) []time.Duration {
		lat := make([]time.Duration, n)
		for i := range lat {
			start := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: %d", url, resp.StatusCode)
			}
			lat[i] = time.Since(start)
		}
		slices.Sort(lat)
		return lat
	}
	url := f.api.url + ug1Range
	measure(url, 10) // fill the cache, warm the connection
	n := max(b.N, 2000)
	b.ResetTimer()
	cached := measure(url, n)
	base := measure(f.api.url+"/healthz", n)
	p := func(l []time.Duration, q float64) float64 {
		return float64(l[int(q*float64(len(l)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(cached, 0.5), "p50-ms")
	b.ReportMetric(p(cached, 0.99), "p99-ms")
	b.ReportMetric(p(base, 0.99), "baseline-healthz-p99-ms")
	b.ReportMetric(p(cached, 0.99)/p(base, 0.99), "ratio")
	if hits := f.api.cache(b).hits; hits < float64(n) {
		b.Fatalf("only %v cache hits in %d requests", hits, n)
	}
}
