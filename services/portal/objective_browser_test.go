package portal

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// auditCount counts the audit entries whose what starts with prefix.
func auditCount(t *testing.T, f *fixture, who, prefix string) int {
	t.Helper()
	entries, err := f.rdb.XRange(context.Background(), AuditStream, "-", "+").Result()
	must(t, err)
	n := 0
	for _, e := range entries {
		if what, _ := e.Values["what"].(string); e.Values["who"] == who && strings.HasPrefix(what, prefix) {
			n++
		}
	}
	return n
}

// TestStudentMarksTheirObjectiveDone: the student presses "Mark done" on
// their own objective, without script, and their tutor sees it done, by
// whom and when; it is audited. Only the student and their personal tutor
// may: other students, other staff and the LEAP team get 404.
func TestStudentMarksTheirObjectiveDone(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	t1 := f.signIn(t, "t1")
	if status, _ := post(t, t1.Client, f.url+"/students/s1/objectives", form("text", "Book a study skills session", "due", "2026-11-02")); status != http.StatusSeeOther {
		t.Fatalf("set objective: %d", status)
	}
	_, page := fetch(t, t1.Client, f.url+"/students/s1")
	m := objectiveForm.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no objective form on the tutor's page")
	}
	path := "/students/s1/objectives/" + m[1] + "/state"
	for _, user := range []string{"s2", "o1", "lt", "t2"} {
		if status, _ := post(t, f.signIn(t, user).Client, f.url+path, form("state", "done")); status != http.StatusNotFound {
			t.Errorf("%s marking s1's objective done: %d, want 404", user, status)
		}
	}

	ctx := browser(t)
	screenshotOnFailure(t, ctx, "objective-done")
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1"), chromedp.WaitVisible(chromedp.ID("record-"+m[1]))))
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector("#record-`+m[1]+` form button").click()`),
		chromedp.WaitVisible(chromedp.ID("saved"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("record-"+m[1])))
	must(t, err)
	if !strings.Contains(text, "done") || !strings.Contains(text, "marked done by Ada Student") || strings.Contains(text, "Mark done") || strings.Contains(text, "Reopen") {
		t.Errorf("the student's objective after marking it: %q", text)
	}
	_, page = fetch(t, t1.Client, f.url+"/students/s1")
	rec := between(page, `id="record-`+m[1]+`"`, "</li>")
	if !strings.Contains(rec, `state-done">done`) || !strings.Contains(rec, "marked done by Ada Student, Tue 20 Oct") || !strings.Contains(rec, "Reopen") {
		t.Errorf("the tutor's view of it: %s", rec)
	}
	if n := auditCount(t, f, "s1", "objective "+m[1]+" marked done"); n != 1 {
		t.Errorf("%d audit entries of the student marking it done, want 1", n)
	}
	// A student does not reopen it; their tutor does.
	s1 := f.signIn(t, "s1")
	if status, _ := post(t, s1.Client, f.url+path, form("state", "open")); status != http.StatusBadRequest {
		t.Errorf("the student reopening: %d, want 400", status)
	}
	if status, _ := post(t, t1.Client, f.url+path, form("state", "open")); status != http.StatusSeeOther {
		t.Errorf("the tutor reopening: %d", status)
	}

	// Two tabs mark it done at once: one change, one audit entry.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _ := post(t, s1.Client, f.url+path, form("state", "done")); status != http.StatusSeeOther {
				t.Errorf("a tab marking it done: %d", status)
			}
		}()
	}
	wg.Wait()
	if n := auditCount(t, f, "s1", "objective "+m[1]+" marked done"); n != 2 {
		t.Errorf("%d audit entries of the student marking it done, want 2: the first time and one of the two tabs", n)
	}
}
