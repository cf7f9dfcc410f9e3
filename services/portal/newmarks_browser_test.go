package portal

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/services/store"
)

var newMark = regexp.MustCompile(`<strong class="new">New</strong>`)

// TestNewSinceTheLastVisit: what was written, and the decisions taken,
// since the student last opened their page are marked New on it, once:
// the next visit marks nothing, and a staff view of the page is not the
// student's visit.
func TestNewSinceTheLastVisit(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	s1, t1 := f.signIn(t, "s1"), f.signIn(t, "t1")
	if status, body := post(t, s1.Client, f.url+"/me/challenges", form("date", "2026-10-19", "activity", "tap_in", "reason", "I was there.")); status != http.StatusSeeOther {
		t.Fatalf("challenge: %d %s", status, body)
	}
	// The first visit: the student's own challenge, nothing marked.
	_, page := fetch(t, s1.Client, f.url+"/me")
	m := challengeRow.FindStringSubmatch(page)
	if m == nil || newMark.MatchString(page) {
		t.Fatalf("first visit: challenge %v, marks %d", m, len(newMark.FindAllString(page, -1)))
	}
	visit, err := f.rdb.Get(ctx, store.LastVisitKey("s1")).Result()
	must(t, err)

	// The tutor writes a note and an objective and looks at the page; the
	// LEAP team decides the challenge.
	for _, w := range [][]string{{"/students/s1/notes", "text", "Good to meet you."}, {"/students/s1/objectives", "text", "Plan the essay", "due", "2026-11-02"}} {
		if status, _ := post(t, t1.Client, f.url+w[0], form(w[1:]...)); status != http.StatusSeeOther {
			t.Fatalf("POST %s: %d", w[0], status)
		}
	}
	if status, staffPage := fetch(t, t1.Client, f.url+"/students/s1"); status != http.StatusOK || newMark.MatchString(staffPage) {
		t.Errorf("the tutor's view: %d, with New marks %v", status, newMark.MatchString(staffPage))
	}
	if after, _ := f.rdb.Get(ctx, store.LastVisitKey("s1")).Result(); after != visit {
		t.Errorf("the tutor's view changed the student's last visit from %q to %q", visit, after)
	}
	must(t, store.DecideChallenge(ctx, f.rdb, "s1", m[1], store.ChallengeRejected, "The reader logged no card that morning."))

	// The student sees the three marked, in the browser.
	b := browser(t)
	screenshotOnFailure(t, b, "new-marks")
	must(t, chromedp.Do(b, signInAs(f.url, "s1"), chromedp.WaitVisible(chromedp.ID("records"))))
	marked, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".new")].filter(e => e.offsetWidth > 0).map(e => e.closest("li, tr").innerText.replace(/\s+/g, " "))`))
	must(t, err)
	joined := strings.Join(marked, "\n")
	if len(marked) != 3 || !strings.Contains(joined, "Good to meet you.") || !strings.Contains(joined, "Plan the essay") || !strings.Contains(joined, "The reader logged no card") {
		t.Errorf("marked New: %q, want the note, the objective and the decision", marked)
	}
	// Seen: the next visit marks nothing.
	must(t, chromedp.Do(b, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("records"))))
	n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll(".new").length`))
	if err != nil || n != 0 {
		t.Errorf("%d New marks on the next visit (%v), want none", n, err)
	}
	// One more note: only it is new.
	if status, _ := post(t, t1.Client, f.url+"/students/s1/notes", form("text", "See you Thursday.")); status != http.StatusSeeOther {
		t.Fatal("second note")
	}
	_, page = fetch(t, s1.Client, f.url+"/me")
	if marks := newMark.FindAllStringIndex(page, -1); len(marks) != 1 || !strings.Contains(page[marks[0][0]:marks[0][0]+400], "See you Thursday.") {
		t.Errorf("%d marks after one more note, want one on it", len(marks))
	}
}
