package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestRosterLeaseTakesTurns: callers started at once never run together,
// each runs once, and a caller that cannot wait long enough is told so
// without running.
func TestRosterLeaseTakesTurns(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	var inside, most, ran atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := WithRosterLease(ctx, rdb, slog.New(slog.DiscardHandler), 5*time.Second, func(context.Context) error {
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(30 * time.Millisecond)
				inside.Add(-1)
				ran.Add(1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 || ran.Load() != 6 {
		t.Errorf("%d ran, at most %d at once; want 6, one at a time", ran.Load(), most.Load())
	}
	if n := rdb.Exists(ctx, RosterLeaseKey).Val(); n != 0 {
		t.Error("the lease was not released")
	}

	// Held by another: a short wait gives up.
	rdb.Set(ctx, RosterLeaseKey, "someone-else", time.Minute)
	called := false
	err := WithRosterLease(ctx, rdb, slog.New(slog.DiscardHandler), 100*time.Millisecond, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, ErrRosterBusy) || called {
		t.Errorf("err %v, called %v; want ErrRosterBusy, not called", err, called)
	}
	if v := rdb.Get(ctx, RosterLeaseKey).Val(); v != "someone-else" {
		t.Errorf("another's lease was touched: %q", v)
	}
}
