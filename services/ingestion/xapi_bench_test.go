package ingestion

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const xapiBenchBatch = 500

// xapiBenchStatement reads the format of a Moodle module view as
// logstore_xapi sends it (about 1 KB), shared with the xapi package's
// benchmark of the reader alone.
func xapiBenchStatement(b *testing.B) string {
	f, err := os.ReadFile(filepath.Join("xapi", "testdata", "bench_statement.fmt"))
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(string(f))
}

// BenchmarkXAPI measures statements per second end to end: Moodle-shaped
// statements in batches of 500 over loopback HTTP into a real redis-server,
// four clients at once. Beside it, the baseline: the same events posted as
// native JSON to /v1/events in batches of 500, measured in the same run;
// the two alternate twice so that neither has the warmer machine.
func BenchmarkXAPI(b *testing.B) {
	for _, spread := range []int{10, 1} {
		b.Run(fmt.Sprintf("statements-per-student-day=%d", spread), func(b *testing.B) { benchXAPI(b, spread) })
	}
}

func benchXAPI(b *testing.B, spread int) {
	f := start(b, loadPolicy(b, ""))
	loadBenchRoster(b, f)
	statementFormat := xapiBenchStatement(b)
	var seq atomic.Int64
	makeBatch := func() (xapiBody, nativeBody string) {
		n := int(seq.Add(1))
		var x, e strings.Builder
		x.WriteString("[")
		e.WriteString("[")
		for i := range xapiBenchBatch {
			if i > 0 {
				x.WriteString(",")
				e.WriteString(",")
			}
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", n, i)
			student := fmt.Sprintf("st%05d", (n*xapiBenchBatch+i)/spread%benchStudents)
			minute, second := i/60%60, i%60
			fmt.Fprintf(&x, statementFormat, id, student, student, 300+i%50, minute, second)
			e.WriteString(event("n"+id, student, "moodle_course", fmt.Sprintf("2026-10-20T09:%02d:%02dZ", minute, second)))
		}
		x.WriteString("]")
		e.WriteString("]")
		return x.String(), e.String()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	send := func(path, body string, header http.Header) {
		req, _ := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
		req.Header = header
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("%s: status %d", path, resp.StatusCode)
		}
	}
	xapiHeader := http.Header{"Content-Type": {"application/json"}, XAPIVersionHeader: {"1.0.3"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("moodle:"+token))}}
	nativeHeader := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}

	run := func(xapi bool) float64 {
		batches := max(b.N, 1) * 20
		bodies := make([]string, batches)
		for i := range bodies {
			xb, nb := makeBatch()
			bodies[i] = nb
			if xapi {
				bodies[i] = xb
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		work := make(chan string)
		for range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range work {
					if xapi {
						send("/xapi/statements", body, xapiHeader.Clone())
					} else {
						send("/v1/events", body, nativeHeader.Clone())
					}
				}
			}()
		}
		for _, body := range bodies {
			work <- body
		}
		close(work)
		wg.Wait()
		return float64(batches*xapiBenchBatch) / time.Since(start).Seconds()
	}

	b.ResetTimer()
	native, xapi := run(false), run(true)
	native, xapi = (native+run(false))/2, (xapi+run(true))/2
	b.ReportMetric(xapi, "statements/s")
	b.ReportMetric(native, "baseline-events/s")
	b.ReportMetric(xapi/native, "ratio")
}
