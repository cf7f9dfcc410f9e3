package portal

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestLEAPTeamFlipsAttendanceInTheBrowser: the LEAP team switches
// attendance off on its page; the student's attendance tab then says so,
// with the reason.
func TestLEAPTeamFlipsAttendanceInTheBrowser(t *testing.T) {
	f := startAdmin(t)
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "leap-team-attendance")
	signIn := func(user string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(f.url + "/login"),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Submit(chromedp.ID("password")),
		}
	}
	err := chromedp.Do(ctx, append(signIn("leap"),
		chromedp.WaitVisible(chromedp.ID("attendance-off-button")),
		chromedp.SendKeys(chromedp.ID("reason"), "All teaching is online this term."),
		chromedp.Click(chromedp.ID("attendance-off-button")),
		chromedp.WaitVisible(chromedp.ID("saved")))...)
	if err != nil {
		t.Fatal(err)
	}
	// Every service takes the new file within its re-read interval.
	for deadline := time.Now().Add(5 * time.Second); f.policy.Current().Doc.Attendance.IsEnabled(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the services never saw attendance switched off")
		}
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("form.logout button")), chromedp.WaitVisible(chromedp.ID("username"))}
	steps = append(steps, signIn("s1")...)
	err = chromedp.Do(ctx, append(steps,
		chromedp.WaitVisible(chromedp.ID("band")),
		chromedp.Click(chromedp.CSS(`a[href="?activity=tap_in#activity"]`)),
		chromedp.WaitVisible(chromedp.ID("attendance-off")))...)
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("attendance-off")))
	if err != nil || !strings.Contains(text, "All teaching is online this term.") {
		t.Errorf("the student's attendance tab says %q (%v)", text, err)
	}
}
