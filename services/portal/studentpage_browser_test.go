package portal

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/services/store"
)

// signInAs signs user in through the sign-in form and waits for a page
// that has the sign-out button.
func signInAs(url, user string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("form.logout")),
	)
}

// TestStudentPageIsAPictureNotAWall: the student's page shows the tutor
// with their email before the band, the notes before the trend, daily
// activity as a calendar whose cells say their day and count, and one
// activity at a time, chosen by links that work without script; it is a
// few screens tall, not thirteen thousand pixels.
func TestStudentPageIsAPictureNotAWall(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "student-picture")
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1"), chromedp.WaitVisible(chromedp.ID("band"))))

	tutor, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("tutor")))
	if err != nil || !strings.Contains(tutor, "Dr Tutor") || !strings.Contains(tutor, "t1@example.ac.uk") {
		t.Errorf("the tutor line says %q (%v), want the name and email", tutor, err)
	}
	type order struct{ Tutor, Band, Records, Trend, Activity, Height float64 }
	top := func(id string) string { return `document.getElementById("` + id + `").getBoundingClientRect().top` }
	o, err := chromedp.Run(ctx, chromedp.Evaluate[order](`({Tutor: `+top("tutor")+`, Band: `+top("band-h")+`, Records: `+top("records")+
		`, Trend: `+top("trend-h")+`, Activity: `+top("activity")+`, Height: document.documentElement.scrollHeight})`))
	must(t, err)
	if !(o.Tutor < o.Band && o.Band < o.Records && o.Records < o.Trend && o.Trend < o.Activity) {
		t.Errorf("sections out of order: %+v, want tutor, band, notes, trend, activity", o)
	}
	if o.Height > 5000 {
		t.Errorf("the page is %.0f px tall, want a few screens", o.Height)
	}

	// The combined calendar: Monday 19 October holds three events.
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#activity svg.hm rect[role=img]")].map(r => r.getAttribute("aria-label"))`))
	must(t, err)
	joined := strings.Join(cells, "\n")
	for _, want := range []string{"Mon 19 Oct: 3", "Sat 17 Oct: 0, weekend", "Mon 5 Oct: 0"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no calendar cell %q in %d cells: %.400s", want, len(cells), joined)
		}
	}
	tabs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#activity .tab").length`))
	if err != nil || tabs != 1 {
		t.Errorf("%d activity tables shown (%v), want one", tabs, err)
	}

	// Another activity's tab, by a link: a page of its own.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="?activity=moodle_login#activity"]`)), chromedp.WaitVisible(chromedp.ID("tab-moodle_login"))))
	current, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#activity a[aria-current="page"]`)))
	if err != nil || current != "Moodle logins" {
		t.Errorf("the current tab is %q (%v)", current, err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/me?activity=moodle_login#activity") {
		t.Errorf("location %q", loc)
	}
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#activity svg.hm").getAttribute("aria-label")`))
	if err != nil || !strings.HasPrefix(label, "Moodle logins each day") {
		t.Errorf("the calendar is labelled %q (%v)", label, err)
	}
}

// TestSavedNoticeIsWhereTheStudentLooks: after a challenge the page opens
// at the challenges, and the notice is there, on screen.
func TestSavedNoticeIsWhereTheStudentLooks(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "student-saved")
	const why = "why-moodle_login"
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1"),
		chromedp.Navigate(f.url+"/me?activity=moodle_login"),
		chromedp.Click(chromedp.CSS(`details:has(#`+why+`) > summary`)),
		chromedp.WaitVisible(chromedp.ID(why)),
		chromedp.SendKeys(chromedp.ID(why), "I logged in from the library."),
		chromedp.Submit(chromedp.ID(why)),
		chromedp.WaitVisible(chromedp.ID("saved")),
	))
	type where struct {
		InChallenges bool
		Top, Height  float64
	}
	w, err := chromedp.Run(ctx, chromedp.Evaluate[where](`({InChallenges: !!document.querySelector("#challenges #saved"),
		Top: document.getElementById("saved").getBoundingClientRect().top, Height: window.innerHeight})`))
	must(t, err)
	if !w.InChallenges || w.Top < 0 || w.Top > w.Height {
		t.Errorf("the notice: %+v, want it in the challenges, on screen", w)
	}
}

// TestResearchStudentSeesActivityAndWhyNoIndicator: no empty chart, one
// sentence in the university's words, and the activity calendar.
func TestResearchStudentSeesActivityAndWhyNoIndicator(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "research-student")
	must(t, chromedp.Do(ctx, signInAs(f.url, "r1"), chromedp.WaitVisible(chromedp.ID("no-indicator"))))
	why, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("no-indicator")))
	if err != nil || !strings.HasPrefix(why, "LEAP does not show an engagement indicator for postgraduate research students, as the way you engage with your studies is different from taught students.") {
		t.Errorf("the research student is told %q (%v)", why, err)
	}
	type seen struct{ Trend, Calendar int }
	s, err := chromedp.Run(ctx, chromedp.Evaluate[seen](`({Trend: document.querySelectorAll("svg.trend").length, Calendar: document.querySelectorAll("#activity svg.hm rect[role=img]").length})`))
	if err != nil || s.Trend != 0 || s.Calendar == 0 {
		t.Errorf("the research student sees %+v (%v), want no trend and the calendar", s, err)
	}
}

func TestShortDay(t *testing.T) {
	for in, want := range map[string]string{"2026-11-23": "Mon 23 Nov", "2026-10-04": "Sun 4 Oct", "not a day": "not a day"} {
		if got := shortDay(in); got != want {
			t.Errorf("shortDay(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNoIndicatorWordsIsASentence(t *testing.T) {
	if got := noIndicatorWords(storeStudent("ug"), true, "no engagement indicator is calculated for undergraduate students"); got != "No engagement indicator is calculated for undergraduate students." {
		t.Errorf("got %q", got)
	}
	if got := noIndicatorWords(storeStudent("pgr"), false, "x"); !strings.Contains(got, "the way they engage") {
		t.Errorf("staff are told %q", got)
	}
}

func storeStudent(level string) store.Student { return store.Student{ID: "z1", Level: level} }
