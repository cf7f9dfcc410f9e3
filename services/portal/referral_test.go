package portal

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/notifier"
)

var serviceOption = regexp.MustCompile(`<option value="([^"]*)">`)

// withTargets is the LeapTerm file's text with spec.notifications naming
// the referral targets given as YAML (none when empty).
func withTargets(targets string) func(string) string {
	return func(doc string) string {
		doc, _, _ = strings.Cut(doc, "\n  notifications:")
		if targets != "" {
			doc += "\n  notifications:\n    referralTargets: " + targets + "\n"
		}
		return doc
	}
}

// setTargets rewrites the fixture's LeapTerm file with other referral
// targets, as the LEAP team would, and waits for the portal to read it.
func (f *adminFixture) setTargets(t *testing.T, targets string, want ...string) {
	t.Helper()
	b, err := os.ReadFile(f.termFile)
	must(t, err)
	// Written aside and renamed in, as a ConfigMap mount changes.
	must(t, os.WriteFile(f.termFile+".new", []byte(withTargets(targets)(string(b))), 0o600))
	must(t, os.Rename(f.termFile+".new", f.termFile))
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(f.policy.Current().Doc.ReferralServices(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the policy file's change was not picked up: %q", f.policy.Current().Doc.ReferralServices())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The referral form offers exactly the LeapTerm's referral targets, and a
// referral to anything else (a forged form, a service the LEAP team has
// since removed) is refused, naming those that are offered. A referral
// written before its service was removed stays on the student's record.
// With no target at all there is no form, and the page says where the
// LEAP team lists them.
func TestReferralServicesAreTheLeapTermsTargets(t *testing.T) {
	f := startAdminWith(t, withTargets(`[{service: chaplaincy, email: chaplain@uni.test}, {service: wellbeing, email: wellbeing@uni.test}]`))
	t1 := f.signIn(t, "leap") // the LEAP team writes on any student's record
	offered := func() []string {
		t.Helper()
		_, page := fetch(t, t1.Client, f.url+"/students/s1")
		var out []string
		for _, m := range serviceOption.FindAllStringSubmatch(between(page, `id="referral-form"`, "</form>"), -1) {
			out = append(out, m[1])
		}
		return out
	}
	if got, want := offered(), []string{"chaplaincy", "wellbeing"}; !slices.Equal(got, want) {
		t.Fatalf("the form offers %q, want the LeapTerm's targets %q", got, want)
	}
	if status, body := post(t, t1.Client, f.url+"/students/s1/referrals", form("service", "chaplaincy")); status != http.StatusSeeOther {
		t.Fatalf("referral to chaplaincy: %d %s", status, body)
	}
	if status, body := post(t, t1.Client, f.url+"/students/s1/referrals", form("service", "library")); status != http.StatusBadRequest ||
		!strings.Contains(body, "chaplaincy, wellbeing") {
		t.Errorf("referral to a service not in policy: %d %s, want 400 naming those offered", status, body)
	}

	// The LEAP team removes chaplaincy.
	f.setTargets(t, `[{service: wellbeing, email: wellbeing@uni.test}]`, "wellbeing")
	if got, want := offered(), []string{"wellbeing"}; !slices.Equal(got, want) {
		t.Errorf("after chaplaincy was removed the form offers %q, want %q", got, want)
	}
	status, body := post(t, t1.Client, f.url+"/students/s1/referrals", form("service", "chaplaincy"))
	if status != http.StatusBadRequest || !strings.Contains(body, "Refer to one of: wellbeing") {
		t.Errorf("referral to a removed service: %d %s, want 400 naming wellbeing", status, body)
	}
	if _, page := fetch(t, t1.Client, f.url+"/students/s1"); !strings.Contains(page, "Referred to <strong>chaplaincy</strong>") {
		t.Error("the referral made before chaplaincy was removed is gone from the record")
	}

	// No targets: no form, and a pointer to where they are set.
	f.setTargets(t, "")
	_, page := fetch(t, t1.Client, f.url+"/students/s1")
	if strings.Contains(page, `id="referral-form"`) || !strings.Contains(page, "spec.notifications.referralTargets") {
		t.Errorf("with no referral targets the page should say where they are set, and offer no form: %s", between(page, `id="objective-form"`, "</section>"))
	}
	status, body = post(t, t1.Client, f.url+"/students/s1/referrals", form("service", "wellbeing"))
	if status != http.StatusBadRequest || !strings.Contains(body, "spec.notifications.referralTargets") {
		t.Errorf("referral with no targets in policy: %d %s, want 400 saying where they are set", status, body)
	}
}

// sentMail is a notifier.Mailer that keeps what it is given.
type sentMail struct{ to []string }

func (m *sentMail) Send(_ context.Context, msg notifier.Message) error {
	m.to = append(m.to, msg.To)
	return nil
}

// Referrals written in the portal reach the notifier, which mails each to
// the address the policy gives its service; one to a service removed
// before the notifier saw it is mailed to nobody. The LEAP team's Email
// page lists both: the mail sent, and the referral not sent with why.
func TestReferralsAsTheNotifierSeesThem(t *testing.T) {
	f := startAdminWith(t, withTargets(`[{service: chaplaincy, email: chaplain@uni.test}, {service: wellbeing, email: wellbeing@uni.test}]`))
	lt := f.signIn(t, "leap")
	settings, err := notifier.ParseSettings([]byte(`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "leap@uni.test"}}`))
	must(t, err)
	clock := now.Add(-time.Minute) // notifications start before the referrals
	mail := &sentMail{}
	n := &notifier.Notifier{Redis: f.rdb, Settings: settings, Policy: f.policy, Mailer: mail, Now: func() time.Time { return clock }}
	ctx := context.Background()
	must(t, n.Step(ctx))

	for _, service := range []string{"wellbeing", "chaplaincy"} {
		if status, body := post(t, lt.Client, f.url+"/students/s1/referrals", form("service", service)); status != http.StatusSeeOther {
			t.Fatalf("referral to %s: %d %s", service, status, body)
		}
	}
	f.setTargets(t, `[{service: wellbeing, email: wellbeing@uni.test}]`, "wellbeing")
	clock = now.Add(time.Hour) // past the wait for a target to reach the notifier's policy
	must(t, n.Step(ctx))
	if !slices.Equal(mail.to, []string{"wellbeing@uni.test"}) {
		t.Errorf("mailed to %q, want wellbeing's address alone", mail.to)
	}

	_, page := fetch(t, lt.Client, f.url+"/admin/notifications")
	log := between(page, `id="send-log"`, "</table>")
	for _, want := range []string{
		"<td>wellbeing@uni.test</td><td>referral</td><td>sent</td>",
		"<td></td><td>referral</td><td>not sent</td><td>0</td><td>chaplaincy is not a referral target",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the Email page's log lacks %q:\n%s", want, log)
		}
	}
}
