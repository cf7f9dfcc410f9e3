package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
)

// BenchmarkCountsMemory loads a term of counts, 20,000 students over 70
// teaching days (14 weeks of weekdays), through the record script into a
// real redis-server and reports Redis's memory per student-day of counts,
// after the event-id sets have expired as they do after the late-arrival
// window. The baseline is the same counts held one key per student-day
// (the obvious layout), measured in the same run.
func BenchmarkCountsMemory(b *testing.B) {
	const students, weeks = 20000, 14
	for range b.N {
		r := redistest.Start(b)
		c := r.Client(b)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		first, _ := calendar.ParseDay("2026-10-05") // a Monday
		var days []calendar.Day
		for d := first; len(days) < 5*weeks; d = d.AddDays(1) {
			if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
				days = append(days, d)
			}
		}
		used := func() int64 {
			info := c.Info(ctx, "memory").Val()
			for _, line := range strings.Split(info, "\r\n") {
				if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n
				}
			}
			b.Fatal("no used_memory in INFO")
			return 0
		}
		for i := range students {
			c.HSet(ctx, ProfileKey("s"+strconv.Itoa(i)), "id", "s"+strconv.Itoa(i))
		}
		before := used()
		rec := Recorder{Client: c, Retention: time.Hour, Now: time.Now}
		var events []Event
		for s := range students {
			for _, d := range days {
				// A typical day: five activities, six events.
				for k := range 6 {
					events = append(events, Event{ID: strconv.Itoa(k), Student: "s" + strconv.Itoa(s), Activity: []int{0, 2, 5, 6, 7}[rng.IntN(5)], Day: d})
				}
			}
			if len(events) > 50000 || s == students-1 {
				if _, err := rec.Record(ctx, events); err != nil {
					b.Fatal(err)
				}
				events = events[:0]
			}
		}
		// The id sets expire after the late-arrival window; drop them now.
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, "leap:*:i:*", 10000).Result()
			if err != nil {
				b.Fatal(err)
			}
			if len(keys) > 0 {
				c.Unlink(ctx, keys...)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond) // lazy frees
		packed := used() - before

		// Baseline: one hash per student-day, one field per activity.
		base := used()
		pipe := c.Pipeline()
		for s := range students {
			for _, d := range days {
				pipe.HSet(ctx, "base:{s:"+strconv.Itoa(s)+"}:"+d.String(), "tap_in", 3, "faser_view", 1, "moodle_course", 5, "moodle_login", 2, "moodle_mobile", 1)
			}
			if s%500 == 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		perKey := used() - base

		n := float64(students * len(days))
		b.ReportMetric(float64(packed)/n, "bytes/student-day")
		b.ReportMetric(float64(perKey)/n, "baseline-bytes/student-day")
		b.ReportMetric(float64(packed)/float64(perKey), "ratio")
	}
}
