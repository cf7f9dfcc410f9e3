package portal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// wcag21AA are the axe-core tags of WCAG 2.1 levels A and AA.
const wcag21AA = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]`

// axeSource is axe-core's script: $AXE_CORE (the Makefile fetches it with
// hack/fetch-axe.sh and exports the path), else the newest
// bin/axe-core-*/axe.min.js above the working directory. The test fails,
// never skips, when it is missing.
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv("AXE_CORE")
	if path == "" {
		dir, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for path == "" {
			matches, _ := filepath.Glob(filepath.Join(dir, "bin", "axe-core-*", "axe.min.js"))
			if len(matches) > 0 {
				path = matches[len(matches)-1]
			} else if parent := filepath.Dir(dir); parent != dir {
				dir = parent
			} else {
				return "", errors.New("axe-core is not fetched: run make axe-core (hack/fetch-axe.sh)")
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("AXE_CORE=%s: %w (run make axe-core)", path, err)
	}
	return string(b), nil
})

// axeViolation is one failed axe-core rule with the elements it failed on.
type axeViolation struct {
	ID      string   `json:"id"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

func (v axeViolation) String() string {
	return fmt.Sprintf("%s (%s) on %s", v.ID, v.Help, strings.Join(v.Targets, ", "))
}

// injectAxe adds axe-core to the page the browser shows. The page itself
// never loads axe: Runtime.evaluate is not subject to the page's CSP.
func injectAxe(ctx context.Context) error {
	src, err := axeSource()
	if err != nil {
		return err
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+";\ntrue")); err != nil {
		return fmt.Errorf("inject axe-core: %w", err)
	}
	return nil
}

// axeCheck runs axe-core's WCAG 2.1 AA rules on the page, injected before,
// within the parts that the CSS selector within names, or on the whole
// document when it is empty.
func axeCheck(ctx context.Context, within string) ([]axeViolation, error) {
	scope := "document"
	if within != "" {
		scope = fmt.Sprintf(`{include: [[%q]]}`, within)
	}
	// resultTypes: only violations are wanted, and axe then collects one
	// node, not every node, of the rules that pass.
	return chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(`+scope+`, {runOnly: {type: "tag", values: `+wcag21AA+`}, resultTypes: ["violations"]})
		.then(r => r.violations.map(v => ({id: v.id, help: v.help, targets: v.nodes.map(n => n.target.join(" "))})))`,
		chromedp.EvalAwaitPromise))
}

// a11yVisit is one page as one person opens it: a URL, or steps that end
// on the page (a form sent, say).
type a11yVisit struct {
	name  string
	url   string
	steps func(base string) chromedp.Action[chromedp.Void]
	// refused: the page is an error page; every other visit must not be.
	refused bool
}

// checkPages signs user in (none: anonymous) and runs axe-core on every
// visit at 1280 and 390 px, with every <details> closed and then opened,
// reporting each violation with its rule, elements and page.
func checkPages(t *testing.T, base, user string, visits []a11yVisit) {
	t.Helper()
	browserCtx := startBrowser(t)
	// Each visit has its own deadline: a role's pages together take longer
	// than one page may, on a busy machine.
	var ctx context.Context
	deadline := func() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(browserCtx, 2*time.Minute)
		t.Cleanup(cancel)
	}
	deadline()
	if user != "" {
		must(t, chromedp.Do(ctx, signInAs(base, user)))
	}
	check := func(v a11yVisit, width int64, state, within string) {
		found, err := axeCheck(ctx, within)
		if err != nil {
			t.Fatalf("%s as %q: %v", v.name, user, err)
		}
		for _, violation := range found {
			t.Errorf("%s as %q at %d px, %s: %s", v.name, user, width, state, violation)
		}
	}
	for _, v := range visits {
		deadline()
		open := chromedp.Navigate(base + v.url)
		if v.steps != nil {
			open = v.steps(base)
		}
		must(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 844), open, chromedp.WaitReady(chromedp.CSS("main"))))
		isError, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("problem-title") !== null`))
		must(t, err)
		if isError != v.refused {
			t.Fatalf("%s as %q: an error page %v, want %v", v.name, user, isError, v.refused)
		}
		must(t, injectAxe(ctx))
		for _, width := range []int64{1280, 390} {
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, 844)))
			check(v, width, "details closed", "")
			// Opened, only the sections' insides are new to check; they
			// are closed again for the next width.
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("details:not([open])")].map(d => (d.open = true, d.dataset.opened = "yes")).length`))
			must(t, err)
			if n > 0 {
				check(v, width, "details open", "details")
				_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("details[data-opened]")].forEach(d => d.open = false) || true`))
				must(t, err)
			}
		}
	}
}

// visit is a visit to a URL; refused, to one the person gets an error
// page for.
func visit(url string) a11yVisit { return a11yVisit{name: url, url: url} }

func refused(url string) a11yVisit {
	return a11yVisit{name: url + " (refused)", url: url, refused: true}
}

// TestEveryPageOfEveryRolePassesAxe: axe-core finds no WCAG 2.1 A or AA
// violation on any page of any role, at a desktop's and a phone's width,
// with sections closed and opened: the sign-in page (and its refusal of an
// exchange student), the student's and research student's pages and tabs,
// the notification settings, the lists and the students' pages as
// tutors, department staff and the LEAP team see them (records, an
// exchange student who cannot sign in, an open challenge), the LEAP team's
// pages and a policy preview's result, and error pages.
func TestEveryPageOfEveryRolePassesAxe(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	challengeWithALongReason(t, f)
	t1 := f.signIn(t, "t1")
	for path, fields := range map[string][]string{
		"notes":      {"text", "Come to the Thursday seminar."},
		"objectives": {"text", "Hand in the first problem sheet.", "due", "2026-11-02"},
		"referrals":  {"text", "Struggling with the workload.", "service", "wellbeing"},
	} {
		if status, body := post(t, t1.Client, f.url+"/students/s1/"+path, form(fields...)); status != 303 {
			t.Fatalf("%s: %d %.300s", path, status, body)
		}
	}
	refusal := a11yVisit{name: "/login refusing an exchange student", steps: func(base string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.Navigate(base+"/login"),
			chromedp.SendKeys(chromedp.ID("username"), "x1"), chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.CSS("main [role=alert], main .error")))
	}}
	roles := []struct {
		user   string
		visits []a11yVisit
	}{
		{"", []a11yVisit{visit("/login"), refusal}},
		{"s1", []a11yVisit{visit("/me"), visit("/me?activity=tap_in"), visit("/me?activity=library_loan"), visit("/me/notifications"), refused("/students/s3"), refused("/admin")}},
		{"r1", []a11yVisit{visit("/me")}},
		{"t1", []a11yVisit{visit("/students"), visit("/students/s1"), visit("/students/x1"), visit("/students/r1"), refused("/me/notifications"), refused("/students/s3"), refused("/nowhere")}},
		{"o1", []a11yVisit{visit("/students"), visit("/students/s3")}},
		{"lt", []a11yVisit{visit("/admin"), visit("/admin/notifications"), visit("/students"), visit("/students/s1"), visit("/students/s3")}},
	}
	for _, r := range roles {
		t.Run("as "+r.user, func(t *testing.T) { checkPages(t, f.url, r.user, r.visits) })
	}

	// The policy preview and its result, on a LEAP term the LEAP team may edit.
	p := startPreview(t)
	preview := a11yVisit{name: "/admin/preview's result", steps: func(base string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.Navigate(base+"/admin/preview"), chromedp.WaitVisible(chromedp.ID("preview-form")),
			chromedp.Click(chromedp.ID("attendance")), chromedp.SendKeys(chromedp.ID("reason"), "All teaching is online this term."),
			chromedp.Click(chromedp.ID("preview-button")), chromedp.WaitVisible(chromedp.ID("preview-result")))
	}}
	t.Run("as the LEAP team, previewing", func(t *testing.T) {
		checkPages(t, p.url, "leap", []a11yVisit{visit("/admin"), visit("/admin/preview"), preview})
	})
}

// TestAxeCheckFindsAViolation: the check above can fail: an image without
// a text alternative on the sign-in page is reported as image-alt.
func TestAxeCheckFindsAViolation(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := browser(t)
	must(t, chromedp.Do(ctx, chromedp.Navigate(f.url+"/login"), chromedp.WaitReady(chromedp.CSS("main"))))
	must(t, injectAxe(ctx))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("main").appendChild(document.createElement("img")) && true`))
	must(t, err)
	found, err := axeCheck(ctx, "")
	must(t, err)
	if len(found) != 1 || found[0].ID != "image-alt" || len(found[0].Targets) != 1 {
		t.Errorf("found %v, want image-alt on one element", found)
	}
}
