package portal

import (
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/services/store"
)

// TestCrossOriginFormsAreRefused: a form a browser sends from another
// origin, told by Sec-Fetch-Site or, from a browser without it, by Origin,
// is refused before anything is read or written; the same form from the
// portal's own pages, or from a client that is no browser, is taken.
func TestCrossOriginFormsAreRefused(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	t1 := f.signIn(t, "t1")
	u, err := url.Parse(f.url)
	must(t, err)
	note := func(headers map[string]string) int {
		req, err := http.NewRequest(http.MethodPost, f.url+"/students/s1/notes", strings.NewReader(url.Values{"text": {"A note."}}.Encode()))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect(t1.Client).Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"another site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, http.StatusForbidden},
		// A sibling port or subdomain is the same site, so a SameSite=Lax
		// cookie goes with its forms: the origin must decide.
		{"another origin of the same site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://" + u.Hostname() + ":1"}, http.StatusForbidden},
		{"another origin, from a browser without Sec-Fetch-Site", map[string]string{"Origin": "http://" + u.Hostname() + ":1"}, http.StatusForbidden},
		{"the portal's own page", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.url}, http.StatusSeeOther},
		{"the portal's own page, from a browser without Sec-Fetch-Site", map[string]string{"Origin": f.url}, http.StatusSeeOther},
		{"a client that is no browser", nil, http.StatusSeeOther},
	} {
		if got := note(tc.headers); got != tc.want {
			t.Errorf("a note from %s: %d, want %d", tc.name, got, tc.want)
		}
	}
	records, err := store.ListRecords(context.Background(), f.rdb, "s1")
	must(t, err)
	if len(records) != 3 {
		t.Errorf("%d notes written, want the 3 taken", len(records))
	}
	entries, err := f.rdb.XRange(context.Background(), AuditStream, "-", "+").Result()
	must(t, err)
	for _, e := range entries {
		if what, _ := e.Values["what"].(string); !strings.HasPrefix(what, "list ") && !strings.HasPrefix(what, "note ") {
			t.Errorf("audited %q: a refused form costs no audit entry", what)
		}
	}
}

// forgedForms is a page of another origin with forms aimed at the portal:
// a note on a student's record, and a sign-in (login CSRF).
var forgedForms = template.Must(template.New("").Parse(`<!doctype html><html><head><title>Win a prize</title></head><body>
<form id="note" method="post" action="{{.}}/students/s1/notes"><input name="text" value="Forged note"><button id="send-note">Send</button></form>
<form id="login" method="post" action="{{.}}/login"><input name="username" value="t1"><input name="password" value="forged"><button id="send-login">Send</button></form>
</body></html>`))

// TestBrowserRefusesCrossOriginForms: in Chromium, a tutor signed in to the
// portal opens a page of another origin on the same host (the same site,
// so the SameSite=Lax session cookie goes with its forms) and sends its
// forged forms: the portal refuses both, with its error page, and writes
// nothing; the tutor's own note form still works.
func TestBrowserRefusesCrossOriginForms(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = forgedForms.Execute(w, f.url)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	evil.Listener = l
	evil.Start()
	t.Cleanup(evil.Close)
	if evil.URL == f.url || !strings.HasPrefix(evil.URL, "http://127.0.0.1:") || !strings.HasPrefix(f.url, "http://127.0.0.1:") {
		t.Fatalf("want two origins on one host: %s and %s", evil.URL, f.url)
	}

	ctx := browser(t)
	screenshotOnFailure(t, ctx, "cross-origin-forms")
	err = chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), "t1"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("students")),
	)
	must(t, err)
	for _, form := range []string{"note", "login"} {
		err := chromedp.Do(ctx,
			chromedp.Navigate(evil.URL+"/"),
			chromedp.Click(chromedp.ID("send-"+form)),
			chromedp.WaitVisible(chromedp.ID("problem-title")),
		)
		if err != nil {
			t.Fatalf("the forged %s form: %v", form, err)
		}
		title, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("problem-title")))
		must(t, err)
		detail, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("problem-detail")))
		must(t, err)
		if title != "Forbidden" || !strings.Contains(detail, "sent from another site") {
			t.Errorf("the forged %s form was answered %q: %q", form, title, detail)
		}
	}
	records, err := store.ListRecords(context.Background(), f.rdb, "s1")
	must(t, err)
	if len(records) != 0 {
		t.Fatalf("a forged form wrote %+v", records)
	}
	// Still signed in as the tutor, whose own form is taken.
	const note = "Written on the portal's own page."
	err = chromedp.Do(ctx,
		chromedp.Navigate(f.url+"/students/s1"),
		chromedp.SendKeys(chromedp.ID("note-text"), note),
		chromedp.Submit(chromedp.ID("note-text")),
		chromedp.WaitVisible(chromedp.ID("saved")),
	)
	must(t, err)
	records, err = store.ListRecords(context.Background(), f.rdb, "s1")
	must(t, err)
	if len(records) != 1 || records[0].Text != note || records[0].Author != "t1" {
		t.Errorf("the tutor's own note: %s", fmt.Sprint(records))
	}
}
