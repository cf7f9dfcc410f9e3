package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/internal/redistest"
)

var moodleLogin, _ = v1alpha1.ActivityIndex(string(v1alpha1.MoodleLogin))

// amendFixture is a student with seven Moodle logins on a day, counted
// through the Recorder as ingestion counts them, and an open challenge of
// that day's logins.
func amendFixture(t *testing.T) (redis.UniversalClient, Recorder, calendar.Day, Challenge) {
	t.Helper()
	c := redistest.Start(t).Client(t)
	ctx := context.Background()
	day := calendar.Day{Year: 2026, Month: 10, Day: 19}
	if err := PutStudents(ctx, c, []Student{{ID: "s1", Name: "N", Department: "CS", Course: "G400", Year: 1, Level: "ug", Mode: "FT"}}); err != nil {
		t.Fatal(err)
	}
	rec := Recorder{Client: c, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC) }}
	var events []Event
	for i := range 7 {
		events = append(events, Event{ID: fmt.Sprintf("moodle/e%d", i), Student: "s1", Activity: moodleLogin, Day: day})
	}
	if _, err := rec.Record(ctx, events); err != nil {
		t.Fatal(err)
	}
	ch, err := AddChallenge(ctx, c, "s1", Challenge{Date: day.String(), Activity: "moodle_login", Reason: "Shared PC: not my logins."})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec, day, ch
}

func moodleLogins(t *testing.T, read func(context.Context, redis.UniversalClient, string, calendar.Day, calendar.Day) (map[calendar.Day]Counts, error), c redis.UniversalClient, day calendar.Day) int32 {
	t.Helper()
	m, err := read(context.Background(), c, "s1", day, day)
	if err != nil {
		t.Fatal(err)
	}
	return m[day][moodleLogin]
}

// TestAmendmentStandsBesideTheSourcesCounts: a corrected challenge stores
// an amendment that scoring's reader uses, while the source's count stays
// as sent; the data version moves (scoring's cache is keyed by it); a
// resend of the day and a new event of it change the source's count but
// not the amended one.
func TestAmendmentStandsBesideTheSourcesCounts(t *testing.T) {
	c, rec, day, ch := amendFixture(t)
	ctx := context.Background()
	v0, _ := Version(ctx, c, "s1")
	a, err := Decide(ctx, c, "s1", ch.ID, Decision{State: ChallengeCorrected, Reason: "Shared PC in the library.",
		Correction: &Amendment{Count: 1, By: "lt", ByName: "LEAP Team"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Original != 7 || a.Count != 1 || a.Date != day.String() || a.Activity != "moodle_login" || a.Challenge != ch.ID {
		t.Errorf("amendment %+v", a)
	}
	if v1, _ := Version(ctx, c, "s1"); v1 == v0 {
		t.Error("the data version did not move: scoring would serve its cached answer")
	}
	if got := moodleLogins(t, StudentCounts, c, day); got != 1 {
		t.Errorf("scoring reads %d logins, want the amended 1", got)
	}
	if got := moodleLogins(t, SourceCounts, c, day); got != 7 {
		t.Errorf("the source's count reads %d, want the 7 it sent", got)
	}
	// The source resends the day, and one event more.
	var events []Event
	for i := range 8 {
		events = append(events, Event{ID: fmt.Sprintf("moodle/e%d", i), Student: "s1", Activity: moodleLogin, Day: day})
	}
	out, err := rec.Record(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != Duplicate || out[7] != Counted {
		t.Fatalf("outcomes %v", out)
	}
	if got := moodleLogins(t, StudentCounts, c, day); got != 1 {
		t.Errorf("after a resend scoring reads %d logins, want the amended 1", got)
	}
	if got := moodleLogins(t, SourceCounts, c, day); got != 8 {
		t.Errorf("after a resend the source's count reads %d, want 8", got)
	}
	chs, err := ListChallenges(ctx, c, "s1")
	if err != nil || len(chs) != 1 || chs[0].State != ChallengeCorrected || chs[0].Correction == nil || chs[0].Correction.Count != 1 || chs[0].Correction.Original != 7 {
		t.Errorf("the challenge as the student reads it: %+v %v", chs, err)
	}
	all, err := Amendments(ctx, c, "s1")
	if err != nil || len(all) != 1 || all[0].ByName != "LEAP Team" {
		t.Errorf("amendments %+v %v", all, err)
	}
}

// TestDiscardZeroesTheDaysCount: "discard" stands for none of the day's
// counts of the activity, whatever count the form also carried.
func TestDiscardZeroesTheDaysCount(t *testing.T) {
	c, _, day, ch := amendFixture(t)
	if _, err := Decide(context.Background(), c, "s1", ch.ID, Decision{State: ChallengeCorrected, Reason: "r", Correction: &Amendment{Discard: true, Count: 5}}); err != nil {
		t.Fatal(err)
	}
	if got := moodleLogins(t, StudentCounts, c, day); got != 0 {
		t.Errorf("after a discard scoring reads %d logins", got)
	}
}

// TestTwoUpholdAtOnce: two LEAP team members correct the same challenge
// at the same moment with different counts: one decision stands, and the
// amendment stored is the one that decision carries, never the other's.
func TestTwoUpholdAtOnce(t *testing.T) {
	for round := range 10 {
		c, _, day, ch := amendFixture(t)
		ctx := context.Background()
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 {
			wg.Go(func() {
				<-start
				_, errs[i] = Decide(ctx, c, "s1", ch.ID, Decision{State: ChallengeCorrected, Reason: fmt.Sprintf("by %d", i),
					Correction: &Amendment{Count: int32(i + 2), By: fmt.Sprintf("lt%d", i)}})
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				won = i
			case !errors.Is(err, ErrChallengeDecided):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won < 0 || errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: answers %v, want one decision and one ErrChallengeDecided", round, errs)
		}
		chs, _ := ListChallenges(ctx, c, "s1")
		if got := moodleLogins(t, StudentCounts, c, day); got != int32(won+2) || chs[0].DecisionReason != fmt.Sprintf("by %d", won) || chs[0].Correction.Count != int32(won+2) {
			t.Errorf("round %d: %d won, yet scoring reads %d and the decision is %+v", round, won, got, chs[0])
		}
	}
}

// TestRefusedDecisionsStoreNothing: attendance cannot be amended, a
// corrected decision needs its correction and only it carries one, counts
// are bounded; each refusal leaves the challenge open and the counts as
// they were.
func TestRefusedDecisionsStoreNothing(t *testing.T) {
	c, _, day, ch := amendFixture(t)
	ctx := context.Background()
	tap, err := AddChallenge(ctx, c, "s1", Challenge{Date: day.String(), Activity: "tap_in", Reason: "I tapped."})
	if err != nil {
		t.Fatal(err)
	}
	v0, _ := Version(ctx, c, "s1")
	for name, tc := range map[string]struct {
		id   string
		d    Decision
		want error
	}{
		"attendance":          {tap.ID, Decision{State: ChallengeCorrected, Reason: "r", Correction: &Amendment{Count: 2}}, ErrAttendanceNotAmendable},
		"corrected, no count": {ch.ID, Decision{State: ChallengeCorrected, Reason: "r"}, ErrInvalid},
		"accepted with count": {ch.ID, Decision{State: ChallengeAccepted, Reason: "r", Correction: &Amendment{Count: 2}}, ErrInvalid},
		"negative":            {ch.ID, Decision{State: ChallengeCorrected, Reason: "r", Correction: &Amendment{Count: -1}}, ErrInvalid},
		"too many":            {ch.ID, Decision{State: ChallengeCorrected, Reason: "r", Correction: &Amendment{Count: MaxAmendedCount + 1}}, ErrInvalid},
		"no reason":           {ch.ID, Decision{State: ChallengeCorrected, Reason: " ", Correction: &Amendment{Count: 2}}, ErrInvalid},
		"unknown challenge":   {"nope", Decision{State: ChallengeCorrected, Reason: "r", Correction: &Amendment{Count: 2}}, ErrNoSuchChallenge},
	} {
		if _, err := Decide(ctx, c, "s1", tc.id, tc.d); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if n := c.HLen(ctx, AmendmentsKey("s1")).Val(); n != 0 {
		t.Errorf("%d amendments stored by refused decisions", n)
	}
	if v1, _ := Version(ctx, c, "s1"); v1 != v0 {
		t.Error("a refused decision moved the data version")
	}
	open, err := OpenChallenges(ctx, c)
	if err != nil || len(open) != 2 {
		t.Errorf("open challenges after refusals: %d %v, want both", len(open), err)
	}
	// Attendance is answered, not amended: accepted with where to report it.
	if err := DecideChallenge(ctx, c, "s1", tap.ID, ChallengeAccepted, "Report it to the attendance system."); err != nil {
		t.Error(err)
	}
}
