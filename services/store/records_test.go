package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/internal/redistest"
)

func TestRecordsAreAppendedAndOnlyAnObjectivesStateChanges(t *testing.T) {
	c := redistest.Start(t).Client(t)
	ctx := context.Background()
	at := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)
	note, err := AddRecord(ctx, c, "s1", Record{Author: "t1", AuthorName: "Dr Tutor", Kind: KindNote, Text: "Met today", At: at})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := AddRecord(ctx, c, "s1", Record{Author: "t1", Kind: KindObjective, Text: "Draft essay", Due: "2026-11-01", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddRecord(ctx, c, "s1", Record{Author: "t1", Kind: KindReferral, Service: "library", At: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := AddRecord(ctx, c, "s1", Record{Kind: "gossip"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
	if obj.State != ObjectiveOpen || note.ID == "" || note.ID == obj.ID {
		t.Errorf("ids %q %q, objective state %q", note.ID, obj.ID, obj.State)
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(SetObjectiveState(ctx, c, "s1", obj.ID, ObjectiveDone, "t1", "Dr Tutor", at.Add(time.Hour)))
	if err := SetObjectiveState(ctx, c, "s1", note.ID, ObjectiveDone, "t1", "", at); !errors.Is(err, ErrNoSuchRecord) {
		t.Errorf("a note's state changed: %v", err)
	}
	if err := SetObjectiveState(ctx, c, "s2", obj.ID, ObjectiveDone, "t1", "", at); !errors.Is(err, ErrNoSuchRecord) {
		t.Errorf("another student's objective changed: %v", err)
	}
	if err := SetObjectiveState(ctx, c, "s1", obj.ID, "abandoned", "t1", "", at); !errors.Is(err, ErrInvalid) {
		t.Errorf("state abandoned: %v", err)
	}

	rs, err := ListRecords(ctx, c, "s1")
	must(err)
	if len(rs) != 3 || rs[0].Kind != KindNote || rs[1].Kind != KindObjective || rs[2].Service != "library" {
		t.Fatalf("records %+v", rs)
	}
	if rs[1].State != ObjectiveDone || rs[1].StateByName != "Dr Tutor" || !rs[1].StateAt.Equal(at.Add(time.Hour)) || rs[1].Text != "Draft essay" {
		t.Errorf("objective after the change: %+v", rs[1])
	}
	if n := c.LLen(ctx, RecordsKey("s1")).Val(); n != 3 {
		t.Errorf("the list has %d entries: a state change must not add or rewrite one", n)
	}
}

func TestChallengeRoundTripThroughTheQueue(t *testing.T) {
	c := redistest.Start(t).Client(t)
	ctx := context.Background()
	at := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)
	first, err := AddChallenge(ctx, c, "s1", Challenge{Date: "2026-10-19", Activity: "tap_in", Reason: "I was in the lecture", At: at})
	if err != nil {
		t.Fatal(err)
	}
	second, err := AddChallenge(ctx, c, "s2", Challenge{Date: "2026-10-19", Activity: "indicator", Reason: "I was ill", At: at.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddChallenge(ctx, c, "s1", Challenge{Date: "2026-10-19", Activity: "tap_in", Reason: "  "}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a challenge without a reason: %v", err)
	}
	// A queue entry whose challenge was never written is passed over.
	c.SAdd(ctx, OpenChallengesKey, "s3/ghost")

	queue, err := OpenChallenges(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(queue) != 2 || queue[0].ID != first.ID || queue[0].Student != "s1" || queue[1].ID != second.ID {
		t.Fatalf("queue %+v", queue)
	}

	if err := DecideChallenge(ctx, c, "s1", first.ID, "maybe", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("decision maybe: %v", err)
	}
	if err := DecideChallenge(ctx, c, "s1", first.ID, ChallengeRejected, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("decision without a reason: %v", err)
	}
	if err := DecideChallenge(ctx, c, "s2", first.ID, ChallengeRejected, "x"); !errors.Is(err, ErrNoSuchChallenge) {
		t.Errorf("s1's challenge decided under s2: %v", err)
	}
	// Two of the team decide at once: exactly one decision stands.
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i, state := range []string{ChallengeAccepted, ChallengeRejected} {
		wg.Go(func() {
			results[i] = DecideChallenge(ctx, c, "s1", first.ID, state, "Reader 4 was offline; counts restored")
		})
	}
	wg.Wait()
	if (results[0] == nil) == (results[1] == nil) || !errors.Is(errors.Join(results...), ErrChallengeDecided) {
		t.Fatalf("concurrent decisions: %v", results)
	}

	mine, err := ListChallenges(ctx, c, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].State == ChallengeOpen || mine[0].DecisionReason != "Reader 4 was offline; counts restored" || mine[0].DecidedAt.IsZero() {
		t.Errorf("s1's challenges after the decision: %+v", mine)
	}
	queue, err = OpenChallenges(ctx, c)
	if err != nil || len(queue) != 1 || queue[0].ID != second.ID {
		t.Errorf("queue after the decision: %+v %v", queue, err)
	}
	if c.SIsMember(ctx, OpenChallengesKey, "s1/"+first.ID).Val() {
		t.Error("the decided challenge is still in the index")
	}
}
