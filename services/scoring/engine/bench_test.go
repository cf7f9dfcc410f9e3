package engine

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// benchPolicy is fourteen weeks of term without a break: 98 calendar days,
// 70 of them teaching days.
func benchPolicy() policy.Document {
	doc := basePolicy()
	doc.Terms = []v1alpha1.DateRange{{Name: "autumn", Start: "2026-09-28", End: "2027-01-03"}}
	doc.Breaks = nil
	return doc
}

const benchStudents = 20000

type cohortData struct {
	e        *Engine
	from, to calendar.Day
	students []Student
	counts   []map[calendar.Day]Counts
}

// benchCohort is built once and shared by the benchmarks: 20,000 students,
// each with counts on most of the 98 days, weekends included.
var benchCohort = sync.OnceValue(func() cohortData {
	e, err := New(benchPolicy())
	if err != nil {
		panic(err)
	}
	from, _ := calendar.ParseDay("2026-09-28")
	cd := cohortData{e: e, from: from, to: from.AddDays(97)}
	r := rand.New(rand.NewPCG(7, 7))
	days := make([]calendar.Day, 98)
	for i := range days {
		days[i] = from.AddDays(i)
	}
	for i := range benchStudents {
		level := v1alpha1.Undergraduate
		if i%20 == 0 {
			level = v1alpha1.PostgraduateTaught
		}
		cd.students = append(cd.students, Student{ID: "s", Level: level, PartTime: i%10 == 0})
		m := make(map[calendar.Day]Counts, len(days))
		for _, d := range days {
			if r.IntN(5) != 0 {
				m[d] = randomCounts(r)
			}
		}
		cd.counts = append(cd.counts, m)
	}
	return cd
})

func BenchmarkNew(b *testing.B) {
	doc := basePolicy()
	for b.Loop() {
		if _, err := New(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	e := engine(b, benchPolicy())
	from := day(b, "2026-09-28")
	to := from.AddDays(97)
	r := rand.New(rand.NewPCG(7, 7))
	m := map[calendar.Day]Counts{}
	for d := from; cmpDay(d, to) <= 0; d = d.AddDays(1) {
		m[d] = randomCounts(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Evaluate(ug, m, from, to, to)
	}
}

// recompute runs f for every student of the cohort, split across as many
// goroutines as there are processors, all sharing one Engine.
func recompute(cd cohortData, f func(i int)) {
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(cd.students) + workers - 1) / workers
	for start := 0; start < len(cd.students); start += chunk {
		wg.Go(func() {
			for i := start; i < min(start+chunk, len(cd.students)); i++ {
				f(i)
			}
		})
	}
	wg.Wait()
}

func BenchmarkRecompute20kStudents(b *testing.B) {
	cd := benchCohort()
	indicators := make([]*Indicator, len(cd.students))
	for b.Loop() {
		recompute(cd, func(i int) {
			indicators[i], _ = cd.e.Indicator(cd.students[i], cd.counts[i], cd.to)
		})
	}
	b.ReportMetric(float64(b.N*len(cd.students))/b.Elapsed().Seconds(), "students/s")
	if _, err := cd.e.Cohort(indicators); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAlerts20kStudents is the other half of a nightly run.
func BenchmarkAlerts20kStudents(b *testing.B) {
	cd := benchCohort()
	alerts := make([][]Alert, len(cd.students))
	for b.Loop() {
		recompute(cd, func(i int) {
			alerts[i] = cd.e.Alerts(cd.students[i], cd.counts[i], cd.to.AddDays(-2)) // a Friday
		})
	}
	b.ReportMetric(float64(b.N*len(cd.students))/b.Elapsed().Seconds(), "students/s")
}

// BenchmarkAlertHistory20kStudents works out every student's alerts of the
// year, as the weekly counts by department do.
func BenchmarkAlertHistory20kStudents(b *testing.B) {
	cd := benchCohort()
	histories := make([][]Episode, len(cd.students))
	for b.Loop() {
		recompute(cd, func(i int) {
			histories[i] = cd.e.AlertHistory(cd.students[i], cd.counts[i], cd.to.AddDays(-2))
		})
	}
	b.ReportMetric(float64(b.N*len(cd.students))/b.Elapsed().Seconds(), "students/s")
}
