package portal

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts Debian's Chromium headless, as the product's test rules ask: a real
// browser, no download, no network beyond loopback. The test fails (never
// skips) when /usr/bin/chromium is missing: .ci/run installs it.
func browser(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(startBrowser(t), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startBrowser is browser without its deadline, for a test that runs many
// pages in one browser and gives each its own.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("chromium is not installed (apt-get install chromium; .ci/run does): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// screenshotOnFailure keeps a picture of the page when the test fails.
func screenshotOnFailure(t *testing.T, ctx context.Context, name string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		if err != nil {
			return
		}
		dir := filepath.Join(os.TempDir(), "leap-browser-tests")
		_ = os.MkdirAll(dir, 0o755)
		out := filepath.Join(dir, name+".png")
		if os.WriteFile(out, png, 0o600) == nil {
			t.Logf("screenshot: %s", out)
		}
	})
}

func TestStudentSignsInAndSeesBandChartAndAttendanceOff(t *testing.T) {
	f := start(t, "attendance:\n    enabled: false\n    reason: \"No physical teaching this term.\"")
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "student-dashboard")

	err := chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), "s1"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("band")),
	)
	if err != nil {
		t.Fatal(err)
	}
	band, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("band")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains([]string{"High", "Good", "Partial", "Low", "Very low"}, strings.TrimSpace(band)) {
		t.Errorf("band %q", band)
	}
	svg, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("svg.trend")))
	if err != nil || !strings.Contains(svg, "polyline") {
		t.Errorf("no trend line drawn: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="?activity=tap_in#activity"]`)), chromedp.WaitVisible(chromedp.ID("attendance-off"))); err != nil {
		t.Fatal(err)
	}
	off, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("attendance-off")))
	if err != nil || !strings.Contains(off, "No physical teaching this term.") {
		t.Errorf("attendance tab says %q (%v)", off, err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/me?activity=tap_in#activity") {
		t.Errorf("location %q", loc)
	}
}

// TestTutorWritesANoteTheStudentReadsItChallengesAndDownloads: the round
// trip of a student's record through a real browser, both people in one
// browser, one after the other, signing out in between.
func TestTutorWritesANoteTheStudentReadsItChallengesAndDownloads(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "student-record")
	signIn := func(user string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(f.url+"/login"),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Submit(chromedp.ID("password")),
			chromedp.WaitVisible(chromedp.CSS("form.logout")), // on every page once signed in
		)
	}
	const note = "Good start: keep going to the Thursday seminars."

	// The tutor opens a tutee from the list and writes a note.
	err := chromedp.Do(ctx,
		signIn("t1"),
		chromedp.WaitVisible(chromedp.ID("students")),
		chromedp.Click(chromedp.CSS(`a[href="/students/s1"]`)),
		chromedp.WaitVisible(chromedp.ID("note-text")),
		chromedp.SendKeys(chromedp.ID("note-text"), note),
		chromedp.Submit(chromedp.ID("note-text")),
		chromedp.WaitVisible(chromedp.ID("saved")),
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if err != nil {
		t.Fatal(err)
	}

	// The student sees it.
	if err := chromedp.Do(ctx, signIn("s1"), chromedp.WaitVisible(chromedp.ID("record-list"))); err != nil {
		t.Fatal(err)
	}
	records, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("record-list")))
	if err != nil || !strings.Contains(records, note) || !strings.Contains(records, "Dr Tutor") {
		t.Errorf("the student's records say %q (%v)", records, err)
	}

	// The student challenges a day's attendance and sees the challenge open.
	const why = "why-tap_in"
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="?activity=tap_in#activity"]`)),
		chromedp.WaitVisible(chromedp.ID("tab-tap_in")),
		chromedp.Click(chromedp.CSS(`details:has(#`+why+`) > summary`)),
		chromedp.WaitVisible(chromedp.ID(why)),
		chromedp.SetValue(chromedp.ID("date-tap_in"), "2026-10-19"),
		chromedp.SendKeys(chromedp.ID(why), "I was at the lecture; the reader did not beep."),
		chromedp.Submit(chromedp.ID(why)),
		chromedp.WaitVisible(chromedp.ID("challenge-list")),
	)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("challenge-list")))
	if err != nil || !strings.Contains(listed, "Attendance") || !strings.Contains(listed, "open") || !strings.Contains(listed, "did not beep") {
		t.Errorf("the challenge is listed as %q (%v)", listed, err)
	}

	// The download link is there, and fetches the data with the session.
	type download struct {
		Status      int    `json:"status"`
		Disposition string `json:"disposition"`
		Body        string `json:"body"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[download](`fetch(document.getElementById("export-json").href).then(async r => ({
		status: r.status, disposition: r.headers.get("Content-Disposition"), body: await r.text()}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != 200 || !strings.HasPrefix(got.Disposition, "attachment") || !strings.Contains(got.Body, note) || !strings.Contains(got.Body, "did not beep") {
		t.Errorf("download: %d %q %.300s", got.Status, got.Disposition, got.Body)
	}
}
