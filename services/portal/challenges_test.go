package portal

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/leap-dev/leap/services/store"
)

// TestChallengesAreCappedAndRateLimited: a burst of challenges from one
// student, all at once, stores no more than the cap of open challenges;
// once decided, the student still cannot post more than the hourly rate.
func TestChallengesAreCappedAndRateLimited(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	s1 := f.signIn(t, "s1")
	const n = 40
	codes := make([]int, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			codes[i], _ = post(t, s1.Client, f.url+"/me/challenges", form("date", "2026-10-19", "activity", "tap_in", "reason", fmt.Sprintf("I was there (%d).", i)))
		}()
	}
	close(ready)
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	chs, err := store.ListChallenges(ctx, f.rdb, "s1")
	must(t, err)
	if len(chs) != maxOpenChallenges || count[http.StatusSeeOther] != maxOpenChallenges {
		t.Errorf("%d challenges at once: %d stored, answers %v; want %d stored", n, len(chs), count, maxOpenChallenges)
	}
	if count[http.StatusSeeOther]+count[http.StatusConflict]+count[http.StatusTooManyRequests] != n {
		t.Errorf("answers %v: want 303, 409 (cap) or 429 (rate) only", count)
	}
	// The LEAP team decides them all: the cap frees, the hour's rate does not.
	for _, ch := range chs {
		must(t, store.DecideChallenge(ctx, f.rdb, "s1", ch.ID, store.ChallengeRejected, "The reader logged nothing."))
	}
	resp, err := noRedirect(s1.Client).PostForm(f.url+"/me/challenges", form("date", "2026-10-19", "activity", "tap_in", "reason", "Once more."))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a challenge past the hour's %d: %d, Retry-After %q; want 429 with Retry-After", challengeRate, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another student's allowance is their own.
	s2 := f.signIn(t, "s2")
	if code, body := post(t, s2.Client, f.url+"/me/challenges", form("date", "2026-10-19", "activity", "tap_in", "reason", "Mine.")); code != http.StatusSeeOther {
		t.Errorf("another student's challenge: %d %.200s", code, body)
	}
}

var decisionForm = regexp.MustCompile(`action="/admin/challenges/`)

// TestAdminChallengeListIsPaginated: the LEAP team's page shows a page of
// open challenges at a time, oldest first, with a way to the next.
func TestAdminChallengeListIsPaginated(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	total := 0
	for _, s := range []string{"s1", "s2", "s3"} {
		for i := range 20 {
			_, err := store.AddChallenge(ctx, f.rdb, s, store.Challenge{Date: "2026-10-19", Activity: "tap_in", Reason: fmt.Sprintf("Reason %d", i), At: now})
			must(t, err)
			total++
		}
	}
	lt := f.signIn(t, "lt")
	seen := 0
	for page := 1; ; page++ {
		code, body := fetch(t, lt.Client, fmt.Sprintf("%s/admin?cpage=%d", f.url, page))
		if code != http.StatusOK {
			t.Fatalf("page %d: %d", page, code)
		}
		forms := len(decisionForm.FindAllString(body, -1))
		if forms > challengePage {
			t.Fatalf("page %d shows %d challenges, more than a page of %d", page, forms, challengePage)
		}
		seen += forms
		if !strings.Contains(body, fmt.Sprintf("cpage=%d", page+1)) {
			break
		}
		if page > total {
			t.Fatal("the pages never end")
		}
	}
	if seen != total {
		t.Errorf("the pages show %d challenges in all, want %d", seen, total)
	}
}
