package scoring

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

// BenchmarkWeeklyDistribution works out the weekly distribution of
// 20,000 students × 70 teaching days (fourteen weeks) read from a real
// redis-server, with nothing cached, beside a baseline measured in the
// same run: the same engine giving the same weekly indicators and alerts
// from the same counts already in memory. The figures: ns/op of the
// distribution, baseline-ns/op, their ratio, the answer from the cache
// (cached-ns/op: reading the data versions that prove it current), and
// the peak heap above the benchmark's own beside the size of the counts.
func BenchmarkWeeklyDistribution(b *testing.B) {
	l, now := previewPolicy(b)
	rdb := redistest.Start(b).Client(b)
	ctx := context.Background()

	students := make([]store.Student, previewStudents)
	for i := range students {
		dept := fmt.Sprintf("dept%02d", i%20)
		mode := "FT"
		if i%10 == 0 {
			mode = "PT"
		}
		students[i] = store.Student{ID: fmt.Sprintf("s%05d", i), Name: "n", Department: dept, Course: dept + "-c", Year: 1, Level: "ug", Mode: mode}
	}
	memory, countsBytes := seedCounts(b, rdb, l, rand.New(rand.NewPCG(2, 14)), students)

	d := &Distributor{Redis: rdb, Policy: policy.Static(l), Now: func() time.Time { return now }}
	body, err := d.Weekly(ctx)
	if err != nil {
		b.Fatal(err)
	}
	warm := decode[Weekly](b, body)
	if warm.Students != previewStudents || len(warm.Weeks) != 14 || len(warm.Departments) != 20 {
		b.Fatalf("%d students, %d weeks, %d departments", warm.Students, len(warm.Weeks), len(warm.Departments))
	}

	stopSampling := sampleHeapPeak()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if err := rdb.Del(ctx, store.WeeklyDistributionKey).Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := d.Weekly(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	peakMB := stopSampling()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)

	start := time.Now()
	for range 3 {
		if _, err := d.Weekly(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cachedNs := float64(time.Since(start).Nanoseconds()) / 3

	// The baseline: the engine over the counts in memory, the same work
	// per student, tallied the same way.
	eng, err := engine.New(l.Doc)
	if err != nil {
		b.Fatal(err)
	}
	today := l.Calendar.Today(now)
	asOf := make([]calendar.Day, len(warm.Weeks))
	for i, w := range warm.Weeks {
		asOf[i], _ = calendar.ParseDay(w.AsOf)
	}
	baseline := func() []*engine.Tally {
		tallies := make([]*engine.Tally, len(asOf))
		for i := range tallies {
			tallies[i] = engine.NewTally(eng.MinCohortSize())
		}
		results := make([][]*engine.Indicator, len(students))
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(students); i += workers {
					s := engine.Student{ID: students[i].ID, Level: v1alpha1.StudyLevel(students[i].Level), PartTime: students[i].Mode == "PT"}
					for _, day := range asOf {
						var ind *engine.Indicator
						if day == today {
							ind, _ = eng.IndicatorToday(s, memory[i], today)
						} else {
							ind, _ = eng.Indicator(s, memory[i], day)
						}
						results[i] = append(results[i], ind)
					}
					_ = eng.AlertsToday(s, memory[i], today)
				}
			})
		}
		wg.Wait()
		for i, inds := range results {
			for w, ind := range inds {
				tallies[w].Add(students[i].Department, "", engine.Comparison{Before: ind, After: ind})
			}
		}
		return tallies
	}
	n := max(b.N, 3)
	start = time.Now()
	var tallies []*engine.Tally
	for range n {
		tallies = baseline()
	}
	baselineNs := float64(time.Since(start).Nanoseconds()) / float64(n)
	last := len(tallies) - 1
	if tallies[last].University.SizeBefore != warm.University[last].Size {
		b.Fatalf("baseline %d students with an indicator this week, distribution %d", tallies[last].University.SizeBefore, warm.University[last].Size)
	}

	b.ReportMetric(baselineNs, "baseline-ns/op")
	b.ReportMetric(ns/baselineNs, "ratio")
	b.ReportMetric(cachedNs, "cached-ns/op")
	b.ReportMetric(peakMB, "peak-heap-MB")
	b.ReportMetric(float64(countsBytes)/(1<<20), "counts-in-memory-MB")
}
