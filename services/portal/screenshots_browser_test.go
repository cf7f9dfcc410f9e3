package portal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestScreenshots photographs the student's page and the tutor's list in
// headless Chromium at 1280 px, the pictures the README shows. They are
// written to LEAP_SCREENSHOTS (make screenshots sets docs/images), else
// to a temporary folder; a page that does not render fails the test.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("LEAP_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	f := start(t, "attendance:\n    enabled: true")
	for _, shot := range []struct{ user, page, wait, file string }{
		{"s1", "/me", "band", "portal-student.png"},
		{"t1", "/students", "students", "portal-tutor-list.png"},
	} {
		ctx := browser(t)
		var png []byte
		err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), signInAs(f.url, shot.user),
			chromedp.Navigate(f.url+shot.page), chromedp.WaitVisible(chromedp.ID(shot.wait)))
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below, JPEG
		}
		if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("%s as %s: %d bytes (%v)", shot.page, shot.user, len(png), err)
		}
		must(t, os.WriteFile(filepath.Join(dir, shot.file), png, 0o644))
	}
}
