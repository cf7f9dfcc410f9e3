package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/notifier"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// FuzzEmailChoicesForm: whatever body a student's choices form carries,
// a box is on only when sent as "on", and nothing else in the form turns
// one on.
func FuzzEmailChoicesForm(f *testing.F) {
	f.Add("notices=on&course=on")
	f.Add("notices=on&notices=off&contact=ON&reason=on%00")
	f.Add("notices=%zz&reason=on")
	f.Add("noticesSince=2020-01-01T00:00:00Z&shareContact=true")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // the handler answers 400 and stores nothing
		}
		got := choicesFromForm(form)
		for name, on := range map[string]bool{"notices": got.Notices, "contact": got.ShareContact, "course": got.ShareCourse, "reason": got.ShareReason} {
			if want := len(form[name]) > 0 && form[name][0] == "on"; on != want {
				t.Errorf("%q: %s is %v, want %v", body, name, on, want)
			}
		}
		if !got.NoticesSince.IsZero() {
			t.Errorf("%q set when notices began: %v", body, got.NoticesSince)
		}
	})
}

// FuzzReferralForm: a referral is taken only to one of the policy's
// referral targets, with a text of at most maxTextRunes; anything else is
// a 400 that says what is wanted.
func FuzzReferralForm(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	l, err := policy.ParseFile("typical", b)
	if err != nil {
		f.Fatal(err)
	}
	offered := l.Doc.ReferralServices()
	p := &Portal{Config: Config{Policy: policy.Static(l)}}
	e := echo.New()
	f.Add("wellbeing", "")
	f.Add("skills and careers", "Ask about the essay workshop.")
	f.Add("Wellbeing", "x")
	f.Add("wellbeing ", "x")
	f.Add("astrology", "")
	f.Add("money advice", strings.Repeat("é", maxTextRunes+1))
	f.Add("library", " \t\n")
	f.Fuzz(func(t *testing.T, service, text string) {
		body := url.Values{"service": {service}, "text": {text}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/students/s1/referrals", strings.NewReader(body))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
		r, err := p.recordFromForm(e.NewContext(req, httptest.NewRecorder()), store.KindReferral)
		want := slices.Contains(offered, service) && utf8.RuneCountInString(strings.TrimSpace(text)) <= maxTextRunes
		if (err == nil) != want {
			t.Fatalf("service %q, text of %d characters: error %v, want accepted %v", service, utf8.RuneCountInString(text), err, want)
		}
		if err != nil {
			var he *echo.HTTPError
			if !errors.As(err, &he) || he.Code != http.StatusBadRequest {
				t.Fatalf("refused with %v, want a 400 problem", err)
			}
			if d, _ := he.Message.(server.ProblemDetails); d.Detail == "" {
				t.Fatalf("refused without saying why: %+v", he.Message)
			}
			return
		}
		if r.Service != service || r.Kind != store.KindReferral {
			t.Errorf("taken as %+v, want a referral to %q", r, service)
		}
	})
}

// A choices form that cannot be read is refused whole: no box is saved
// from half a form.
func TestUnreadableChoicesFormSavesNothing(t *testing.T) {
	f := startAdmin(t)
	c, _, _ := f.login(t, "s1", password)
	req, err := http.NewRequest(http.MethodPost, f.url+"/me/notifications", strings.NewReader("notices=on&reason=%zz"))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect(c).Do(req)
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unreadable form: %d, want 400", resp.StatusCode)
	}
	got, err := notifier.GetPreferences(context.Background(), f.rdb, "s1")
	must(t, err)
	if got.Notices || got.ShareReason {
		t.Errorf("stored %+v from a form that could not be read", got)
	}
}
