package ingestion

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const xapiBenchBatch = 500

// xapiBenchStatement is a Moodle module view as logstore_xapi sends it
// (about 1 KB).
const xapiBenchStatement = `{"id":"%s","actor":{"name":"Student %s","account":{"homePage":"https://moodle.uni.example","name":"%s"}},` +
	`"verb":{"id":"http://id.tincanapi.com/verb/viewed","display":{"en":"viewed"}},` +
	`"object":{"id":"https://moodle.uni.example/mod/page/view.php?id=%d","definition":{"type":"https://w3id.org/xapi/acrossx/activities/page","name":{"en":"Week 3 reading"}},"objectType":"Activity"},` +
	`"timestamp":"2026-10-20T09:%02d:%02dZ",` +
	`"context":{"platform":"Moodle","language":"en","extensions":{"http://lrs.learninglocker.net/define/extensions/info":{"https://moodle.org/":"4.3.2 (Build: 20231222)","event_name":"\\mod_page\\event\\course_module_viewed","event_function":"\\src\\transformer\\events\\all\\course_module_viewed"}},` +
	`"contextActivities":{"grouping":[{"id":"https://moodle.uni.example","definition":{"type":"http://id.tincanapi.com/activitytype/lms","name":{"en":"Uni Moodle"}},"objectType":"Activity"},` +
	`{"id":"https://moodle.uni.example/course/view.php?id=42","definition":{"type":"http://id.tincanapi.com/activitytype/lms/course","name":{"en":"MA101 Calculus"}},"objectType":"Activity"}],` +
	`"category":[{"id":"http://moodle.org","definition":{"type":"http://id.tincanapi.com/activitytype/source","name":{"en":"Moodle"}},"objectType":"Activity"}]}}}`

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
			fmt.Fprintf(&x, xapiBenchStatement, id, student, student, 300+i%50, minute, second)
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

// BenchmarkStatementReader is the reader alone on a batch of 500
// Moodle-shaped statements: parse, every check, fingerprint.
func BenchmarkStatementReader(b *testing.B) {
	var x strings.Builder
	x.WriteString("[")
	for i := range xapiBenchBatch {
		if i > 0 {
			x.WriteString(",")
		}
		fmt.Fprintf(&x, xapiBenchStatement, fmt.Sprintf("%08x-0000-4000-8000-%012x", 1, i), "st00001", "st00001", 300+i%50, i/60%60, i%60)
	}
	x.WriteString("]")
	body := []byte(x.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readStatements(body, readOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*xapiBenchBatch), "ns/statement")
}
