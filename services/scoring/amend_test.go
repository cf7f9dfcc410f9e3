package scoring

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

// amendMoodle upholds a challenge of each of ug1's Moodle days of 12..16
// October, course pages and logins, discarding the day's counts, and
// keeps the test's ledger in step.
func amendMoodle(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	for _, act := range []v1alpha1.Activity{v1alpha1.MoodleCourse, v1alpha1.MoodleLogin} {
		i, _ := v1alpha1.ActivityIndex(string(act))
		for _, date := range []string{"2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16"} {
			ch, err := store.AddChallenge(ctx, f.rdb, "ug1", store.Challenge{Date: date, Activity: string(act), Reason: "a shared PC"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Decide(ctx, f.rdb, "ug1", ch.ID, store.Decision{State: store.ChallengeCorrected, Reason: "Shared PC.", Correction: &store.Amendment{Discard: true}}); err != nil {
				t.Fatal(err)
			}
			d, _ := calendar.ParseDay(date)
			cs := f.ledger["ug1"][d]
			cs[i] = 0
			f.ledger["ug1"][d] = cs
		}
	}
}

// TestEngagementUsesAmendedCounts: scoring's answer, cached before, is
// worked out from the amended counts once the LEAP team upholds.
func TestEngagementUsesAmendedCounts(t *testing.T) {
	f := start(t, policy.Static(parsePolicy(t, sample(t))))
	before := decode[Engagement](t, get(t, f.api.url, "/v1/students/ug1/engagement", http.StatusOK))
	amendMoodle(t, f)
	after := decode[Engagement](t, get(t, f.api.url, "/v1/students/ug1/engagement", http.StatusOK))
	if before.Indicator == nil || after.Indicator == nil || after.Indicator.Score >= before.Indicator.Score {
		t.Fatalf("indicator before %+v, after %+v: want a lower score once the Moodle days are discarded", before.Indicator, after.Indicator)
	}
	for _, d := range after.Days {
		if d.Date == "2026-10-12" && d.Counts["moodle_course"] != 0 {
			t.Errorf("12 October still shows %d Moodle course pages", d.Counts["moodle_course"])
		}
	}
}

// TestPreviewUsesAmendedCounts: the policy preview reads counts as scoring
// does, amendments included: its distribution is the engine's over the
// amended ledger, not over the source's counts.
func TestPreviewUsesAmendedCounts(t *testing.T) {
	src := policy.Static(parsePolicy(t, sample(t, "minCohortSize: 10", "minCohortSize: 2")))
	f := start(t, src)
	unamended := expected(t, f, roster, src.Current())
	amendMoodle(t, f)
	amended := expected(t, f, roster, src.Current())
	want := map[engine.Band]int{}
	for _, ind := range amended {
		if ind != nil {
			want[ind.Band]++
		}
	}
	if unamended["ug1"].Band == amended["ug1"].Band {
		t.Fatalf("the amendment does not move ug1's band (%+v, %+v): the test would prove nothing", unamended["ug1"], amended["ug1"])
	}
	p := &Previewer{Redis: f.rdb, Policy: src, Now: func() time.Time { return now }}
	got, err := p.PreviewDocument(context.Background(), src.Current().Doc)
	if err != nil {
		t.Fatal(err)
	}
	if got.University == nil {
		t.Fatal("no university distribution")
	}
	have := maps.Clone(got.University.Before)
	maps.DeleteFunc(have, func(_ engine.Band, n int) bool { return n == 0 })
	if !maps.Equal(have, want) {
		t.Errorf("the preview's distribution %v, want %v (the amended counts')", got.University.Before, want)
	}
}
