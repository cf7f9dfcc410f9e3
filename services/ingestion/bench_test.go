package ingestion

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

const (
	benchStudents = 20000
	benchBatch    = 1000
	benchClients  = 4
)

// BenchmarkIngest measures events per second end to end: JSON batches of
// 1,000 events over loopback HTTP into a real redis-server, four clients at
// once. Beside it, the baseline: the same events written with the same
// Redis commands straight from Go (store.Recorder, pipelined, no HTTP, no
// JSON), so the ratio says what the service adds on a noisy machine.
func BenchmarkIngest(b *testing.B) {
	// A source's batch holds runs of events of the same student and day
	// (a day's Moodle log of a hundred students); spread is the number of
	// events per student-day in a batch.
	for _, spread := range []int{10, 1} {
		b.Run(fmt.Sprintf("events-per-student-day=%d", spread), func(b *testing.B) { benchIngest(b, spread) })
	}
}

func benchIngest(b *testing.B, spread int) {
	f := start(b, loadPolicy(b, ""))
	loadBenchRoster(b, f)
	var seq atomic.Int64
	day, _ := calendar.ParseDay("2026-10-20")
	activity, _ := v1alpha1.ActivityIndex("moodle_course")
	makeBatch := func() (string, []store.Event) {
		n := seq.Add(1)
		var sb strings.Builder
		events := make([]store.Event, benchBatch)
		sb.WriteString("[")
		for i := range benchBatch {
			if i > 0 {
				sb.WriteString(",")
			}
			id := fmt.Sprintf("b%d-%d", n, i)
			student := fmt.Sprintf("st%05d", (int(n)*benchBatch+i)/spread%benchStudents)
			sb.WriteString(event(id, student, "moodle_course", at))
			events[i] = store.Event{ID: "d" + id, Student: student, Activity: activity, Day: day}
		}
		sb.WriteString("]")
		return sb.String(), events
	}

	run := func(send func(body string, events []store.Event)) float64 {
		batches := max(b.N, 1) * 8
		start := time.Now()
		var wg sync.WaitGroup
		work := make(chan int)
		for range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					send(makeBatch())
				}
			}()
		}
		for i := range batches {
			work <- i
		}
		close(work)
		wg.Wait()
		return float64(batches*benchBatch) / time.Since(start).Seconds()
	}

	rec := store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: f.svc.Now}
	b.ResetTimer()
	direct := run(func(_ string, events []store.Event) {
		if _, err := rec.Record(context.Background(), events); err != nil {
			b.Error(err)
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	viaHTTP := run(func(body string, _ []store.Event) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
	})
	b.ReportMetric(viaHTTP, "events/s")
	b.ReportMetric(direct, "baseline-events/s")
	b.ReportMetric(viaHTTP/direct, "ratio")
}

// loadBenchRoster loads the benchmarks' students, and sets Redis up as the
// operator deploys it (AOF, appendfsync everysec) rather than with the
// tests' fsync on every write, which would measure the disk.
func loadBenchRoster(b *testing.B, f *fixture) {
	b.Helper()
	if err := f.rdb.ConfigSet(context.Background(), "appendfsync", "everysec").Err(); err != nil {
		b.Fatal(err)
	}
	students := make([]store.Student, benchStudents)
	for i := range students {
		students[i] = store.Student{ID: fmt.Sprintf("st%05d", i), Name: "S", Department: "D", Course: "C", Year: 1, Level: "ug", Mode: "FT"}
	}
	if err := store.PutStudents(context.Background(), f.rdb, students); err != nil {
		b.Fatal(err)
	}
}
