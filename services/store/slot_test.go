package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestSlotIsTheClustersSlot: Slot agrees with CLUSTER KEYSLOT on a real
// Cluster for every key of a student, whatever the id holds, and KeySlot
// for keys without a tag or with an empty one.
func TestSlotIsTheClustersSlot(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	c := redis.NewClient(&redis.Options{Addr: addrs[0]})
	defer c.Close()
	day, _ := calendar.ParseDay("2026-10-19")
	for _, key := range []string{"leap:students", "leap:{}:x", "{}", "a}b{c", "a{}{b}"} {
		got, err := c.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if int64(KeySlot(key)) != got {
			t.Errorf("KeySlot(%q) = %d, CLUSTER KEYSLOT = %d", key, KeySlot(key), got)
		}
	}
	for _, id := range []string{"s1", "ma10000", "x", "1234567", "ünï", "a{b}c", "}", "{"} {
		for _, key := range []string{ProfileKey(id), CountsKey(id, day), EventIDsKey(id, day), VersionKey(id), AmendmentsKey(id), RecordsKey(id)} {
			got, err := c.ClusterKeySlot(context.Background(), key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if int64(Slot(id)) != got {
				t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT %s = %d", id, Slot(id), key, got)
			}
		}
	}
}

// TestRecordAcrossCalls: a batch of more student-days than one script call
// takes, with duplicates and an unknown student among them, gets each
// event's outcome in order, on redis-server and on the embedded Redis of
// make run.
func TestRecordAcrossCalls(t *testing.T) {
	mr := miniredis.RunT(t)
	for name, c := range map[string]redis.UniversalClient{
		"redis-server": redistest.Start(t).Client(t),
		"miniredis":    redis.NewClient(&redis.Options{Addr: mr.Addr()}),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var students []Student
			for i := range 100 {
				students = append(students, Student{ID: fmt.Sprintf("s%d", i), Department: "D", Course: "C", Year: 1, Level: "ug", Mode: "FT"})
			}
			if err := PutStudents(ctx, c, students); err != nil {
				t.Fatal(err)
			}
			first, _ := calendar.ParseDay("2026-10-01")
			var events []Event
			var want []Outcome
			for i := range 100 {
				for d := range 3 {
					day := calendar.DayOf(first.Start(time.UTC).AddDate(0, 0, d))
					events = append(events, Event{ID: fmt.Sprintf("e%d-%d", i, d), Student: students[i].ID, Activity: d, Day: day})
					want = append(want, Counted)
				}
				if i%10 == 0 {
					events = append(events, Event{ID: fmt.Sprintf("e%d-0", i), Student: students[i].ID, Activity: 0, Day: first})
					want = append(want, Duplicate)
					events = append(events, Event{ID: fmt.Sprintf("g%d", i), Student: "nobody", Activity: 0, Day: first})
					want = append(want, UnknownStudent)
				}
			}
			got, err := Recorder{Client: c, Retention: 30 * 24 * time.Hour}.Record(ctx, events)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("event %d (%+v): %v, want %v", i, events[i], got[i], want[i])
				}
			}
			counts, err := StudentCounts(ctx, c, "s99", first, calendar.DayOf(first.Start(time.UTC).AddDate(0, 0, 2)))
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) != 3 || counts[first][0] != 1 {
				t.Errorf("counts of s99: %v", counts)
			}
		})
	}
}
