package portal

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/store"
)

// TestTutorSeesAlertsAtTheWeekend: a tutor signs in on a Saturday and sees
// the alert of a tutee silent since the start of term, with the day the
// run began and its length; the tutee's page says which day its figure is
// for.
func TestTutorSeesAlertsAtTheWeekend(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	silent := store.Student{ID: "n1", Name: "Nia Nothing", Department: "Maths", Course: "BSc Maths", Year: 2, Level: "ug", Mode: "FT"}
	f.tutees(t, "t2", []store.Student{silent}, map[string][]calendar.Day{})
	london, err := time.LoadLocation("Europe/London")
	must(t, err)
	f.clock.Set(time.Date(2026, 10, 24, 11, 0, 0, 0, london)) // Saturday 24 October

	ctx := browser(t)
	screenshotOnFailure(t, ctx, "tutor-weekend-alerts")
	err = chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), "t2"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("students")),
	)
	must(t, err)
	alert, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-id="n1"] .alert`)))
	if err != nil || !strings.Contains(alert, "since Monday 5 October: 15 teaching days") {
		t.Errorf("the alert on Saturday says %q (%v), want its start day and run", alert, err)
	}
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/students/n1"]`)), chromedp.WaitVisible(chromedp.ID("as-of")))
	must(t, err)
	asOf, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("as-of")))
	if err != nil || !strings.Contains(asOf, "as of Friday 23 October") {
		t.Errorf("the band says %q (%v), want it as of Friday 23 October", asOf, err)
	}
}
