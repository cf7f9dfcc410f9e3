package portal

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestUniversityPageInTheBrowser: the LEAP team goes from /admin to the
// university page, sees the charts and, opening it, a table of the same
// figures; at 390 px neither that page nor a search is wider than the
// screen; the search form finds a student and opens their page; a tutor
// asking for the page gets the 404 page.
func TestUniversityPageInTheBrowser(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	addPhysics(t, f)
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "university")
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), signInAs(f.url, "lt"),
		chromedp.Navigate(f.url+"/admin"),
		chromedp.Click(chromedp.ID("university-link")),
		chromedp.WaitVisible(chromedp.CSS("#university svg.distribution"))))

	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.distribution").length`))
	if err != nil || charts != 3 {
		t.Errorf("%d charts (%v), want the university's, Physics's and the merged departments'", charts, err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#university svg.distribution rect").length`))
	if err != nil || bars < 3 {
		t.Errorf("%d bars in the university's chart (%v), want one or more a week", bars, err)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#university details summary")),
		chromedp.WaitVisible(chromedp.CSS("#university table.distribution-table"))))
	caption, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#university table.distribution-table caption")))
	if err != nil || !strings.Contains(caption, "The whole university") {
		t.Errorf("the table's caption is %q (%v)", caption, err)
	}
	alerts, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("alerts")))
	if err != nil || !strings.Contains(alerts, "Physics") {
		t.Errorf("the alerts table says %q (%v)", alerts, err)
	}
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
	if err != nil || wide > 390 {
		t.Errorf("the university page is %.0f px wide at 390 px (%v)", wide, err)
	}

	must(t, chromedp.Do(ctx, chromedp.Navigate(f.url+"/students"),
		chromedp.SendKeys(chromedp.ID("filter-q"), "Phys Student 3"),
		chromedp.Submit(chromedp.ID("filter-q")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/students/p03"]`))))
	address, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(address, "q=Phys+Student+3") {
		t.Errorf("the search's address is %q (%v), want the search in it", address, err)
	}
	wide, err = chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
	if err != nil || wide > 390 {
		t.Errorf("the search is %.0f px wide at 390 px (%v)", wide, err)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/students/p03"]`)), chromedp.WaitVisible(chromedp.ID("band-h"))))

	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form.logout button")), chromedp.WaitVisible(chromedp.ID("username")),
		signInAs(f.url, "t1"), chromedp.Navigate(f.url+"/admin/university"), chromedp.WaitVisible(chromedp.ID("problem-title"))))
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("problem-title")))
	if err != nil || title != "Not Found" {
		t.Errorf("the tutor reads %q (%v), want Not Found", title, err)
	}
	charts, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.distribution").length`))
	if err != nil || charts != 0 {
		t.Errorf("the tutor sees %d charts (%v)", charts, err)
	}
}
