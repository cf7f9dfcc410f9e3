package portal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

// TestUpheldChallengeCorrectsTheStudentsDayInTheBrowser: Moodle's export
// missed most of a student's course pages on Monday 19 October. The
// student challenges the day from their page; the LEAP team, having
// checked Moodle's own log, upholds it with the right count, ten; the
// student's page then shows ten pages that day, the day's band in the
// trend's table and the indicator's band both up, and the correction
// with the decision.
func TestUpheldChallengeCorrectsTheStudentsDayInTheBrowser(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	// s1 already has, on the 19th, a tap and one Moodle course page. A
	// week of Moodle logins and some mobile use puts their indicator just
	// under the low band's edge, where the day's nine missing pages count.
	var events []store.Event
	add := func(date string, act v1alpha1.Activity, n int) {
		d, _ := calendar.ParseDay(date)
		i, _ := v1alpha1.ActivityIndex(string(act))
		for k := range n {
			events = append(events, store.Event{ID: fmt.Sprintf("moodle/%s-%s-%d", date, act, k), Student: "s1", Activity: i, Day: d})
		}
	}
	for _, d := range []string{"2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16"} {
		add(d, v1alpha1.MoodleLogin, 3)
	}
	for _, d := range []string{"2026-10-12", "2026-10-13", "2026-10-14"} {
		add(d, v1alpha1.MoodleMobile, 5)
	}
	_, err := store.Recorder{Client: f.rdb, Retention: 9 * 24 * time.Hour, Now: func() time.Time { return now }}.Record(context.Background(), events)
	must(t, err)

	ctx := browser(t)
	screenshotOnFailure(t, ctx, "upheld-challenge")
	signOut := chromedp.Steps(chromedp.Click(chromedp.CSS("form.logout button")), chromedp.WaitVisible(chromedp.ID("username")))
	day19 := func() (count, dayBand, band string) {
		t.Helper()
		must(t, chromedp.Do(ctx, chromedp.Navigate(f.url+"/me?activity=moodle_course"), chromedp.WaitVisible(chromedp.ID("tab-moodle_course"))))
		count, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#activity svg.hm rect[role=img]")].map(r => r.getAttribute("aria-label")).find(l => l.startsWith("Mon 19 Oct")) || ""`))
		must(t, err)
		dayBand, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const c = document.querySelector('#trend-h ~ details time[datetime="2026-10-19"]'); return c ? c.closest("tr").lastElementChild.textContent : "" })()`))
		must(t, err)
		band, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("band")))
		must(t, err)
		return count, dayBand, band
	}

	// The student sees one page on the 19th, and challenges it.
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1")))
	count, dayBand, band := day19()
	if count != "Mon 19 Oct: 1" || band != "Very low" {
		t.Fatalf("before: the 19th reads %q, the band %q; want one page and Very low", count, band)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#tab-moodle_course details.challenge summary")),
		chromedp.SetValue(chromedp.ID("date-moodle_course"), "2026-10-19"),
		chromedp.SendKeys(chromedp.ID("why-moodle_course"), "I read ten course pages that afternoon; Moodle shows one."),
		chromedp.Submit(chromedp.ID("why-moodle_course")),
		chromedp.WaitVisible(chromedp.ID("challenge-list")),
		signOut))

	// The LEAP team upholds it with the right count.
	must(t, chromedp.Do(ctx, signInAs(f.url, "lt"), chromedp.Navigate(f.url+"/admin"), chromedp.WaitVisible(chromedp.CSS("form.challenge-decision fieldset.correction"))))
	legend, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("form.challenge-decision fieldset.correction legend")))
	if err != nil || !strings.Contains(legend, "Moodle course pages on 2026-10-19, 1 as the source counted it") {
		t.Errorf("the correction's legend says %q (%v)", legend, err)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("form.challenge-decision select"), "corrected"),
		chromedp.SendKeys(chromedp.CSS(`form.challenge-decision input[name="reason"]`), "Moodle's own log shows ten pages; its export to LEAP dropped nine."),
		chromedp.Click(chromedp.CSS(`form.challenge-decision input[value="count"]`)),
		chromedp.SendKeys(chromedp.CSS(`form.challenge-decision input[name="count"]`), "10"),
		chromedp.Click(chromedp.CSS("form.challenge-decision button")),
		chromedp.WaitVisible(chromedp.ID("saved")),
		signOut))

	// The student's page shows the corrected day, its band, the new
	// indicator and the correction with the decision.
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1")))
	count, dayBandAfter, bandAfter := day19()
	if count != "Mon 19 Oct: 10" {
		t.Errorf("after: the 19th reads %q, want ten pages", count)
	}
	if dayBandAfter == dayBand || bandAfter != "Low" {
		t.Errorf("after: the 19th's band %q (was %q), the indicator %q (was %q); want both up", dayBandAfter, dayBand, bandAfter, band)
	}
	answer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#challenge-list tbody tr")))
	if err != nil || !strings.Contains(answer, "corrected") || !strings.Contains(answer, "Moodle course pages on 2026-10-19 corrected from 1 to 10") {
		t.Errorf("the student's challenge reads %q (%v)", answer, err)
	}
}
