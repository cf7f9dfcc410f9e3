package ingestion

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

// TestResendDoesNotUndoAnAmendment: the LEAP team corrected a day's
// Moodle logins; the source then resends that day, with two late events
// more. Ingestion counts the new events into the source's count, which
// stays readable as sent, and scoring still reads the corrected count.
func TestResendDoesNotUndoAnAmendment(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	ctx := context.Background()
	day := calendar.Day{Year: 2026, Month: 10, Day: 20}
	batch := func(n int) string {
		var evs []string
		for i := range n {
			evs = append(evs, event(fmt.Sprintf("login-%d", i), "s1", "moodle_login", at))
		}
		return "[" + strings.Join(evs, ",") + "]"
	}
	var a Answer
	f.post(t, "/v1/events", "application/json", token, batch(5), http.StatusOK, &a)
	if a.Accepted != 5 {
		t.Fatalf("first send: %+v", a)
	}
	ch, err := store.AddChallenge(ctx, f.rdb, "s1", store.Challenge{Date: day.String(), Activity: "moodle_login", Reason: "shared PC"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Decide(ctx, f.rdb, "s1", ch.ID, store.Decision{State: store.ChallengeCorrected, Reason: "Shared PC.", Correction: &store.Amendment{Count: 1}}); err != nil {
		t.Fatal(err)
	}
	a = Answer{}
	f.post(t, "/v1/events", "application/json", token, batch(7), http.StatusOK, &a)
	if a.Accepted != 2 || a.Duplicates != 5 {
		t.Fatalf("resend: %+v, want 2 accepted and 5 duplicates", a)
	}
	i, _ := v1alpha1.ActivityIndex("moodle_login")
	if got := f.counts(t, "s1")[i]; got != 1 {
		t.Errorf("after the resend scoring reads %d logins, want the amended 1", got)
	}
	source, err := store.SourceCounts(ctx, f.rdb, "s1", day, day)
	if err != nil {
		t.Fatal(err)
	}
	if got := source[day][i]; got != 7 {
		t.Errorf("the source's count reads %d, want the 7 it sent", got)
	}
}
