package portal

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// signInSteps signs user in through the login form.
func signInSteps(base, user string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/login"),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
	}
}

// TestLEAPTeamPreviewsAndAppliesInTheBrowser: the LEAP team drafts
// "attendance off, renormalize false" from /admin, sees students moving
// down and the department's distribution, applies it, and the student's
// page then shows the band the preview said and why attendance is off.
func TestLEAPTeamPreviewsAndAppliesInTheBrowser(t *testing.T) {
	f := startPreview(t)
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "leap-team-preview")
	err := chromedp.Do(ctx, append(signInSteps(f.url, "leap"),
		chromedp.WaitVisible(chromedp.ID("preview-link")),
		chromedp.Click(chromedp.ID("preview-link")),
		chromedp.WaitVisible(chromedp.ID("preview-form")),
		chromedp.Click(chromedp.ID("attendance")),
		chromedp.SendKeys(chromedp.ID("reason"), "All teaching is online this term."),
		chromedp.Click(chromedp.ID("scope-year")),
		chromedp.Click(chromedp.ID("preview-button")),
		chromedp.WaitVisible(chromedp.ID("preview-result")))...)
	if err != nil {
		t.Fatal(err)
	}
	down, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("moves-down")))
	if err != nil || down == "0" || down == "" {
		t.Fatalf("students moving down: %q (%v)", down, err)
	}
	dist, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("dist-departments")))
	if err != nil || !strings.Contains(dist, "Maths") {
		t.Fatalf("the department's distribution: %q (%v)", dist, err)
	}
	changed, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("changed")))
	if err != nil || !strings.Contains(changed, "Ada (s1)") {
		t.Fatalf("s1 is not among the students who change band: %q (%v)", changed, err)
	}
	// The row reads "Ada (s1) Maths BSc Maths, year 1 Before After Moved".
	var after string
	for _, line := range strings.Split(changed, "\n") {
		if strings.Contains(line, "Ada (s1)") {
			fields := strings.Split(line, "\t")
			if len(fields) >= 6 {
				after = strings.TrimSpace(fields[4])
			}
		}
	}
	if after == "" {
		t.Fatalf("cannot read s1's band after from %q", changed)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("apply-button")), chromedp.WaitVisible(chromedp.ID("saved"))); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); f.policy.Current().Doc.Attendance.IsEnabled(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the services never saw the change")
		}
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("form.logout button")), chromedp.WaitVisible(chromedp.ID("username"))}
	if err := chromedp.Do(ctx, append(append(steps, signInSteps(f.url, "s1")...), chromedp.WaitVisible(chromedp.ID("band")))...); err != nil {
		t.Fatal(err)
	}
	band, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("band")))
	if err != nil || !strings.Contains(band, after) {
		t.Errorf("the student's band is %q, the preview said %q (%v)", band, after, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="?activity=tap_in#activity"]`)), chromedp.WaitVisible(chromedp.ID("attendance-off"))); err != nil {
		t.Fatal(err)
	}
	off, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("attendance-off")))
	if err != nil || !strings.Contains(off, "All teaching is online this term.") {
		t.Errorf("the student's attendance tab says %q (%v)", off, err)
	}
}

// TestInvalidBandOrderInTheBrowser: bands out of order come back with the
// error beside the bands, no preview and no apply button, and the policy
// stays as it was.
func TestInvalidBandOrderInTheBrowser(t *testing.T) {
	f := startPreview(t)
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "leap-team-preview-invalid")
	hash := f.policy.Current().Hash
	err := chromedp.Do(ctx, append(signInSteps(f.url, "leap"),
		chromedp.WaitVisible(chromedp.ID("preview-link")),
		chromedp.Navigate(f.url+"/admin/preview"),
		chromedp.WaitVisible(chromedp.ID("preview-form")),
		chromedp.SetValue(chromedp.ID("high"), "10"),
		chromedp.SetValue(chromedp.ID("good"), "50"),
		chromedp.Click(chromedp.ID("preview-button")),
		chromedp.WaitVisible(chromedp.ID("err-bands")),
		chromedp.WaitNotPresent(chromedp.ID("apply-button")))...)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("err-bands")))
	if err != nil || !strings.Contains(msg, "strictly descending") {
		t.Errorf("the error beside the bands says %q (%v)", msg, err)
	}
	if f.policy.Current().Hash != hash {
		t.Error("an invalid draft changed the policy")
	}
}

// TestTutorCannotReachThePreviewInTheBrowser: a tutor gets the same 404
// page as for any page they may not see.
func TestTutorCannotReachThePreviewInTheBrowser(t *testing.T) {
	f := startPreview(t)
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "tutor-preview")
	err := chromedp.Do(ctx, append(signInSteps(f.url, "t1"),
		chromedp.WaitVisible(chromedp.CSS("form.logout button")),
		chromedp.Navigate(f.url+"/admin/preview"),
		chromedp.WaitVisible(chromedp.CSS("main")),
		chromedp.WaitNotPresent(chromedp.ID("preview-form")))...)
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(strings.ToLower(title), "not found") {
		t.Errorf("the tutor sees %q (%v)", title, err)
	}
}
