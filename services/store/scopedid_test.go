package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestScopedIDsCountPerSourceAndHonourBareOnes: the same id from two
// sources is two events; an id counted bare, before ids were scoped, is
// held for every source, so a batch resent across the change counts once.
func TestScopedIDsCountPerSourceAndHonourBareOnes(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	if err := PutStudents(ctx, rdb, []Student{{ID: "s1", Name: "Ada", Department: "M", Course: "C", Year: 1, Level: "ug", Mode: "FT"}}); err != nil {
		t.Fatal(err)
	}
	day, _ := calendar.ParseDay("2026-10-20")
	rec := Recorder{Client: rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return day.Start(time.UTC) }}
	if _, err := rec.Record(ctx, []Event{{ID: "old", Student: "s1", Activity: 1, Day: day}}); err != nil {
		t.Fatal(err)
	}
	got, err := rec.Record(ctx, []Event{
		{ID: ScopedID("moodle", "old"), Student: "s1", Activity: 1, Day: day},
		{ID: ScopedID("moodle", "e1"), Student: "s1", Activity: 1, Day: day},
		{ID: ScopedID("library", "e1"), Student: "s1", Activity: 1, Day: day},
		{ID: ScopedID("moodle", "e1"), Student: "s1", Activity: 1, Day: day},
		{ID: ScopedID("moodle", "a/b"), Student: "s1", Activity: 1, Day: day},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Outcome{Duplicate, Counted, Counted, Duplicate, Counted}; !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
}
