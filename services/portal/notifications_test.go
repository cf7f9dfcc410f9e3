package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/leap-dev/leap/services/notifier"
)

// The LEAP team's "send digests now" queues a request for the notifier,
// audited; nobody else reaches the button.
func TestLEAPTeamAsksForDigestsNow(t *testing.T) {
	f := startAdmin(t)
	ctx := context.Background()
	c, _, _ := f.login(t, "leap", password)
	if _, page := fetch(t, c, f.url+"/admin"); !strings.Contains(page, `href="/admin/notifications"`) {
		t.Error("the LEAP team's page does not lead to the email page")
	}
	status, page := fetch(t, c, f.url+"/admin/notifications")
	if status != http.StatusOK || !strings.Contains(page, `id="send-digests-now"`) || !strings.Contains(page, "Nothing sent yet") {
		t.Fatalf("email page %d: %.400s", status, page)
	}
	req, err := http.NewRequest(http.MethodPost, f.url+"/admin/notifications/digests", strings.NewReader(""))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := c.Do(req)
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("from another site: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(f.url+"/admin/notifications/digests", url.Values{})
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.String(), "/admin/notifications?asked=1") {
		t.Fatalf("send now: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	reqs, err := f.rdb.LRange(ctx, notifier.TriggerKey, 0, -1).Result()
	must(t, err)
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0], "leap|") {
		t.Errorf("digest requests %q, want one by leap", reqs)
	}
	if _, page := fetch(t, c, f.url+"/admin?what=digests"); !strings.Contains(page, "asked for the tutors&#39; digests now") {
		t.Error("the request is not in the audit log")
	}
	for _, user := range []string{"s1", "t1"} {
		o, _, _ := f.login(t, user, password)
		if status, _ := fetch(t, o, f.url+"/admin/notifications"); status != http.StatusNotFound {
			t.Errorf("%s reached the email page: %d", user, status)
		}
	}
}

// A student chooses notices and what a referral may share; staff have no
// such page.
func TestStudentChoosesEmail(t *testing.T) {
	f := startAdmin(t)
	ctx := context.Background()
	c, _, _ := f.login(t, "s1", password)
	if _, page := fetch(t, c, f.url+"/me"); !strings.Contains(page, `href="/me/notifications"`) {
		t.Error("the student's page does not lead to their email choices")
	}
	status, page := fetch(t, c, f.url+"/me/notifications")
	if status != http.StatusOK || strings.Contains(page, "checked") {
		t.Fatalf("choices page %d, want every box off at first: %.400s", status, page)
	}
	resp, err := c.PostForm(f.url+"/me/notifications", url.Values{"notices": {"on"}, "course": {"on"}})
	must(t, err)
	_ = resp.Body.Close()
	got, err := notifier.GetPreferences(ctx, f.rdb, "s1")
	must(t, err)
	if !got.Notices || !got.ShareCourse || got.ShareContact || got.ShareReason || got.NoticesSince.IsZero() {
		t.Errorf("stored %+v, want notices and course only, with the time notices began", got)
	}
	if _, page := fetch(t, c, f.url+"/me/notifications"); strings.Count(page, " checked") != 2 {
		t.Errorf("the page does not show the two choices made: %.600s", page)
	}
	tc, _, _ := f.login(t, "t1", password)
	if status, _ := fetch(t, tc, f.url+"/me/notifications"); status != http.StatusNotFound {
		t.Errorf("a tutor reached a student's email choices: %d", status)
	}
}
