package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestObjectiveMarkedDoneTwiceAtOnceIsOneChange: two marks of the same
// objective done at once (a student's two tabs, or the student and their
// tutor) leave one state change, the winner's, and bump the records
// version once; marking it as it already is writes nothing. An objective
// set done from the start is not marked done again.
func TestObjectiveMarkedDoneTwiceAtOnceIsOneChange(t *testing.T) {
	c := redistest.Start(t).Client(t)
	ctx := context.Background()
	at := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)
	obj, err := AddRecord(ctx, c, "s1", Record{Author: "t1", Kind: KindObjective, Text: "Draft essay", Due: "2026-11-01", At: at})
	if err != nil {
		t.Fatal(err)
	}
	version := func() int64 {
		v, err := c.Get(ctx, RecordsVersionKey("s1")).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = SetObjectiveState(ctx, c, "s1", obj.ID, ObjectiveDone, "s1", "Ada", at.Add(time.Duration(i)*time.Second))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("marks %d and %d both changed the objective", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, ErrUnchanged):
			t.Errorf("mark %d: %v, want ErrUnchanged", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no mark changed the objective")
	}
	if n := version() - before; n != 1 {
		t.Errorf("the records version moved %d times, want once", n)
	}
	recs, err := ListRecords(ctx, c, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[0]; r.State != ObjectiveDone || r.StateBy != "s1" || !r.StateAt.Equal(at.Add(time.Duration(won)*time.Second)) {
		t.Errorf("objective %+v, want done by s1 at the winner's time", r)
	}
	// Open again, then done again: each a change.
	if err := SetObjectiveState(ctx, c, "s1", obj.ID, ObjectiveOpen, "t1", "Dr Tutor", at); err != nil {
		t.Fatal(err)
	}
	if err := SetObjectiveState(ctx, c, "s1", obj.ID, ObjectiveDone, "s1", "Ada", at); err != nil {
		t.Fatal(err)
	}
	// Set done from the start: marking it done changes nothing.
	done, err := AddRecord(ctx, c, "s1", Record{Author: "t1", Kind: KindObjective, Text: "Done already", Due: "2026-11-01", State: ObjectiveDone, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if err := SetObjectiveState(ctx, c, "s1", done.ID, ObjectiveDone, "s1", "Ada", at); !errors.Is(err, ErrUnchanged) {
		t.Errorf("an objective set done, marked done: %v, want ErrUnchanged", err)
	}
}
