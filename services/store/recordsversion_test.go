package store

import (
	"context"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestEveryRecordWriteBumpsTheRecordsVersion: the portal caches a
// student's rendered page under this version, so a write that did not
// bump it would leave a stale page in front of the student.
func TestEveryRecordWriteBumpsTheRecordsVersion(t *testing.T) {
	c := redistest.Start(t).Client(t)
	ctx := context.Background()
	at := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)
	version := func() int64 {
		t.Helper()
		v, err := c.Get(ctx, RecordsVersionKey("s1")).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	bumped := func(what string) {
		t.Helper()
		if v := version(); v <= last {
			t.Errorf("%s: records version %d, was %d", what, v, last)
		} else {
			last = v
		}
	}

	_, err := AddRecord(ctx, c, "s1", Record{Author: "t1", Kind: KindNote, Text: "Met today", At: at})
	must(err)
	bumped("note")
	obj, err := AddRecord(ctx, c, "s1", Record{Author: "t1", Kind: KindObjective, Text: "Essay", Due: "2026-11-01", At: at})
	must(err)
	bumped("objective")
	must(SetObjectiveState(ctx, c, "s1", obj.ID, ObjectiveDone, "t1", "Dr Tutor", at))
	bumped("objective state")
	ch, err := AddChallenge(ctx, c, "s1", Challenge{Date: "2026-10-19", Activity: "moodle", Reason: "I was ill", At: at})
	must(err)
	bumped("challenge")
	must(DecideChallenge(ctx, c, "s1", ch.ID, ChallengeAccepted, "Noted"))
	bumped("decision")

	if v, _ := c.Get(ctx, RecordsVersionKey("s2")).Int64(); v != 0 {
		t.Errorf("another student's records version moved: %d", v)
	}
}
