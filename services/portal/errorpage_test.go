package portal

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/services/server"
)

// browserAccept is what Chromium sends with a navigation.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"

// TestErrorsArePagesForBrowsersAndProblemsForAPIs: a page a person may not
// see, one that does not exist and a bad form are answered, for a browser,
// with a page in the portal's layout (its stylesheet, the signed-in
// header, the status phrase and what went wrong), and for an API client
// with problem+json; both with the same status.
func TestErrorsArePagesForBrowsersAndProblemsForAPIs(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	t1 := f.signIn(t, "t1")
	// do answers the status, the headers and the body.
	do := func(method, path, accept string) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("state=done")
		}
		req, err := http.NewRequest(method, f.url+path, body)
		must(t, err)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := noRedirect(t1.Client).Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
		title, detail      string
	}{
		{"the LEAP team's page, for a tutor", http.MethodGet, "/admin", 404, "Not Found", "There is no such page"},
		{"a student of another department", http.MethodGet, "/students/s3", 404, "Not Found", "There is no such page"},
		{"a page that does not exist", http.MethodGet, "/nowhere", 404, "Not Found", ""},
		{"a bad form", http.MethodPost, "/students/s1/objectives/nope/state", 404, "Not Found", "There is no such page"},
		{"a bad value", http.MethodPost, "/students/s1/objectives", 400, "Bad Request", "Write what the student should read."},
	} {
		status, header, page := do(tc.method, tc.path, browserAccept)
		if status != tc.status || !strings.HasPrefix(header.Get("Content-Type"), "text/html") {
			t.Errorf("%s, from a browser: %d %s, want %d and a page", tc.name, status, header.Get("Content-Type"), tc.status)
		}
		for _, want := range []string{`<link rel="stylesheet" href="/static/leap.css">`, "Signed in as t1", `<h1 id="problem-title">` + tc.title + `</h1>`, tc.detail} {
			if !strings.Contains(page, want) {
				t.Errorf("%s, from a browser: the page lacks %q:\n%.600s", tc.name, want, page)
			}
		}
		if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s, from a browser: CSP %q", tc.name, csp)
		}

		for _, accept := range []string{"application/json", "*/*", ""} {
			status, header, body := do(tc.method, tc.path, accept)
			var p server.ProblemDetails
			if err := json.Unmarshal([]byte(body), &p); err != nil || header.Get("Content-Type") != server.ProblemContentType {
				t.Errorf("%s, Accept %q: %s %.200s (%v), want problem+json", tc.name, accept, header.Get("Content-Type"), body, err)
				continue
			}
			if status != tc.status || p.Status != tc.status || p.Title != tc.title || !strings.Contains(p.Detail, tc.detail) || p.Type != "about:blank" {
				t.Errorf("%s, Accept %q: %d %+v, want %d %s", tc.name, accept, status, p, tc.status, tc.title)
			}
		}
	}
}

// TestStaffOpeningTheLEAPTeamsPageSeeAPage: in Chromium, a tutor who
// opens /admin reads the portal's "not found" page, still signed in, not
// a JSON document.
func TestStaffOpeningTheLEAPTeamsPageSeeAPage(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "refused-page")
	err := chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), "t1"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("students")),
		chromedp.Navigate(f.url+"/admin"),
		chromedp.WaitVisible(chromedp.ID("problem-title")),
	)
	must(t, err)
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("problem-title")))
	must(t, err)
	detail, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("problem-detail")))
	must(t, err)
	header, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("form.logout")))
	must(t, err)
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	must(t, err)
	if title != "Not Found" || !strings.Contains(detail, "There is no such page") || !strings.Contains(header, "Signed in as t1") || strings.Contains(body, `"type"`) {
		t.Errorf("a tutor opening /admin reads %q, %q, header %q:\n%s", title, detail, header, body)
	}
	// The page's way back leads home.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`main a[href="/"]`)), chromedp.WaitVisible(chromedp.ID("students")))
	must(t, err)
}
