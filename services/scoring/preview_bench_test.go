package scoring

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

const (
	previewStudents = 20000
	previewDays     = 98 // fourteen weeks: 70 teaching days
)

// previewPolicy is the typical sample with one term of fourteen weeks and
// no break, on its last day: 70 teaching days so far.
func previewPolicy(b *testing.B) (*policy.Loaded, time.Time) {
	l := parsePolicy(b, sample(b))
	doc := l.Doc
	doc.Terms = []v1alpha1.DateRange{{Name: "autumn", Start: "2026-09-28", End: "2027-01-03"}}
	doc.Breaks = []v1alpha1.DateRange{}
	cal, err := calendar.New(doc.Timezone, doc.Terms, doc.Breaks)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := doc.Hash()
	if err != nil {
		b.Fatal(err)
	}
	// Friday evening of the fourteenth week.
	return &policy.Loaded{Doc: doc, Hash: hash, Calendar: cal}, time.Date(2027, 1, 1, 18, 0, 0, 0, time.UTC)
}

// BenchmarkPolicyPreview previews "attendance off, renormalize false" for
// 20,000 students × 70 teaching days read from a real redis-server (with
// AOF, as the operator runs it), beside a baseline measured in the same
// run: the same engine comparing the same counts already in memory. The
// figures: ns/op of the preview, baseline-ns/op, their ratio, and the
// preview's peak heap
// above the benchmark's own (garbage not yet collected included) beside
// the size of the counts it reads.
func BenchmarkPolicyPreview(b *testing.B) {
	l, now := previewPolicy(b)
	src := policy.Static(l)
	rdb := redistest.Start(b).Client(b)
	ctx := context.Background()

	// Roster and counts: 20 departments, 5 courses each, 3 years.
	students := make([]store.Student, previewStudents)
	for i := range students {
		dept := fmt.Sprintf("dept%02d", i%20)
		level, mode := "ug", "FT"
		if i%10 == 0 {
			mode = "PT"
		}
		if i%50 == 0 {
			level = "pgr"
		}
		students[i] = store.Student{ID: fmt.Sprintf("s%05d", i), Name: "n", Department: dept,
			Course: fmt.Sprintf("%s-c%d", dept, i/20%5), Year: 1 + i%3, Level: level, Mode: mode}
	}
	memory, countsBytes := seedCounts(b, rdb, l, rand.New(rand.NewPCG(14, 14)), students)

	p := &Previewer{Redis: rdb, Policy: src, Now: func() time.Time { return now }}
	d, errs := draft.Parse([]byte(`{"attendance":{"enabled":false,"reason":"online","renormalize":false},"wholeYear":true}`))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	warm, errs, err := p.Preview(ctx, d, DefaultChangedLimit)
	if err != nil || len(errs) > 0 {
		b.Fatal(err, errs)
	}
	if warm.Students != previewStudents || warm.Moves.Down == 0 {
		b.Fatalf("preview of %d students moved %d down", warm.Students, warm.Moves.Down)
	}

	// The preview, with its peak live heap sampled as it runs.
	stopSampling := sampleHeapPeak()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, errs, err := p.Preview(ctx, d, DefaultChangedLimit); err != nil || len(errs) > 0 {
			b.Fatal(err, errs)
		}
	}
	b.StopTimer()
	peakMB := stopSampling()
	previewNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)

	// The baseline: the same comparison over the same counts in memory.
	before, err := engine.New(l.Doc)
	if err != nil {
		b.Fatal(err)
	}
	after, err := engine.New(warm.Policy)
	if err != nil {
		b.Fatal(err)
	}
	today := l.Calendar.Today(now)
	baseline := func() *engine.Tally {
		tally := engine.NewTally(before.MinCohortSize())
		comparisons := make([]engine.Comparison, len(students))
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(students); i += workers {
					s := engine.Student{ID: students[i].ID, Level: v1alpha1.StudyLevel(students[i].Level), PartTime: students[i].Mode == "PT"}
					comparisons[i] = engine.Compare(before, after, s, memory[i], today)
				}
			})
		}
		wg.Wait()
		for i, c := range comparisons {
			tally.Add(students[i].Department, cohortKey(students[i].Course, students[i].Year), c)
		}
		return tally
	}
	n := max(b.N, 3)
	start := time.Now()
	var tally *engine.Tally
	for range n {
		tally = baseline()
	}
	baselineNs := float64(time.Since(start).Nanoseconds()) / float64(n)
	if tally.Moves[-1]+tally.Moves[-2]+tally.Moves[-3]+tally.Moves[-4] != warm.Moves.Down {
		b.Fatalf("baseline moves %v, preview %d down", tally.Moves, warm.Moves.Down)
	}

	b.ReportMetric(baselineNs, "baseline-ns/op")
	b.ReportMetric(previewNs/baselineNs, "ratio")
	b.ReportMetric(peakMB, "peak-heap-MB")
	b.ReportMetric(float64(countsBytes)/(1<<20), "counts-in-memory-MB")
}

// seedCounts stores counts for each of students on four days in five of
// the first previewDays of l's calendar (weekends included), drawn from r,
// and the roster; it returns the same counts in memory and their size.
func seedCounts(b *testing.B, rdb *redis.Client, l *policy.Loaded, r *rand.Rand, students []store.Student) ([]map[calendar.Day]engine.Counts, int) {
	b.Helper()
	ctx := context.Background()
	memory := make([]map[calendar.Day]engine.Counts, len(students))
	first := l.Calendar.FirstDay()
	pipe := rdb.Pipeline()
	for i := range students {
		memory[i] = map[calendar.Day]engine.Counts{}
		months := map[string]map[string]any{}
		for d := range previewDays {
			if r.IntN(5) == 0 {
				continue
			}
			day := first.AddDays(d)
			var c engine.Counts
			for a := range c {
				if r.IntN(3) == 0 {
					c[a] = int32(r.IntN(6))
				}
			}
			memory[i][day] = c
			key := store.CountsKey(students[i].ID, day)
			if months[key] == nil {
				months[key] = map[string]any{}
			}
			months[key][strconv.Itoa(day.Day)] = pack(c)
		}
		for key, fields := range months {
			pipe.HSet(ctx, key, fields)
		}
		if pipe.Len() > 2000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	if err := store.PutStudents(ctx, rdb, students); err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, m := range memory {
		size += len(m) * len(engine.Counts{}) * 4
	}
	return memory, size
}

// sampleHeapPeak samples the heap every 5 ms from now (after a GC) until
// the returned function is called, which gives the peak above the heap at
// the start in MiB: what the work measured held, garbage not yet
// collected included.
func sampleHeapPeak() func() float64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak.Store(max(peak.Load(), ms.HeapAlloc))
			}
		}
	})
	return func() float64 {
		close(stop)
		sampler.Wait()
		return float64(peak.Load()-min(peak.Load(), base.HeapAlloc)) / (1 << 20)
	}
}

// pack is the stored form of a day's counts (store.ParseCounts reads it).
func pack(c engine.Counts) string {
	n := len(c)
	for n > 0 && c[n-1] == 0 {
		n--
	}
	parts := make([]string, n)
	for i := range n {
		parts[i] = strconv.Itoa(int(c[i]))
	}
	return strings.Join(parts, ",")
}
