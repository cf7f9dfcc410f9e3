package portal

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// pagesOf are the pages each person opens, by user: their own pages,
// another activity's tab, a student's page seen by staff, and a refusal.
var pagesOf = map[string][]string{
	"":   {"/login"},
	"s1": {"/me", "/me?activity=tap_in", "/me?activity=library_loan"},
	"r1": {"/me"},
	"t1": {"/students", "/students/s1", "/students/x1", "/students/s3"},
	"o1": {"/students", "/students/s3"},
	"lt": {"/admin", "/students/s1"},
}

// TestNoPageOverflowsAPhone: at 390 px, the width of a small phone, no
// page is wider than the screen; a wide table or chart scrolls inside its
// own box.
func TestNoPageOverflowsAPhone(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	// A challenge with a long reason, which once made the student's page
	// 17 px too wide.
	challengeWithALongReason(t, f)
	for user, pages := range pagesOf {
		t.Run("as "+user, func(t *testing.T) {
			ctx := browser(t)
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
			if user != "" {
				must(t, chromedp.Do(ctx, signInAs(f.url, user)))
			}
			for _, page := range pages {
				must(t, chromedp.Do(ctx, chromedp.Navigate(f.url+page), chromedp.WaitReady(chromedp.CSS("main"))))
				wide, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
				must(t, err)
				if wide > 390 {
					t.Errorf("%s as %q is %.0f px wide at 390 px", page, user, wide)
				}
			}
		})
	}
}

// challengeWithALongReason has s1 challenge a day with a long, unbroken
// reason.
func challengeWithALongReason(t *testing.T, f *fixture) {
	s1 := f.signIn(t, "s1")
	status, _ := post(t, s1.Client, f.url+"/me/challenges", form("date", "2026-10-19", "activity", "tap_in",
		"reason", "I-was-at-the-lecture-"+strings.Repeat("and-the-reader-did-not-beep-", 4)))
	if status != 303 {
		t.Fatalf("challenge: %d", status)
	}
}

// TestStudentPageWeight: the student's page with its stylesheet stays
// under 100 KB, heatmap and all, on every tab.
func TestStudentPageWeight(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	s1 := f.signIn(t, "s1")
	_, css := fetch(t, s1.Client, f.url+"/static/leap.css")
	for _, tab := range []string{"", "?activity=moodle_login"} {
		_, page := fetch(t, s1.Client, f.url+"/me"+tab)
		if n := len(page) + len(css); n >= 100_000 || !strings.Contains(page, `class="hm"`) {
			t.Errorf("/me%s with its stylesheet: %d bytes, want a calendar under 100 KB", tab, n)
		}
	}
}
