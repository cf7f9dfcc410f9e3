package portal

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/policy"
)

var serviceOption = regexp.MustCompile(`<option value="([^"]*)">`)

// referralPolicy is the typical sample with spec.notifications naming the
// referral targets given as YAML (none when empty), written to a file in
// dir that a policy.Source can watch.
func referralPolicy(t *testing.T, path, targets string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	doc, _, _ := strings.Cut(string(b), "\n  notifications:")
	if targets != "" {
		doc += "\n  notifications:\n    referralTargets: " + targets + "\n"
	}
	// Written aside and renamed in, as a ConfigMap mount changes.
	must(t, os.WriteFile(path+".new", []byte(doc), 0o600))
	must(t, os.Rename(path+".new", path))
}

// The referral form offers exactly the LeapTerm's referral targets, and a
// referral to anything else (a forged form, a service the LEAP team has
// since removed) is refused, naming those that are offered. A referral
// written before its service was removed stays on the student's record.
// With no target at all there is no form, and the page says where the
// LEAP team lists them.
func TestReferralServicesAreTheLeapTermsTargets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leapterm.yaml")
	referralPolicy(t, path, `[{service: chaplaincy, email: chaplain@uni.test}, {service: wellbeing, email: wellbeing@uni.test}]`)
	src, err := policy.Open(path, slog.New(slog.DiscardHandler))
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.Watch(ctx, 10*time.Millisecond)
	f := startWith(t, src)
	t1 := f.signIn(t, "t1")

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
	referralPolicy(t, path, `[{service: wellbeing, email: wellbeing@uni.test}]`)
	waitFor(t, func() bool { return slices.Equal(src.Current().Doc.ReferralServices(), []string{"wellbeing"}) })
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
	referralPolicy(t, path, "")
	waitFor(t, func() bool { return len(src.Current().Doc.ReferralServices()) == 0 })
	_, page := fetch(t, t1.Client, f.url+"/students/s1")
	if strings.Contains(page, `id="referral-form"`) || !strings.Contains(page, "spec.notifications.referralTargets") {
		t.Errorf("with no referral targets the page should say where they are set, and offer no form: %s", between(page, `id="objective-form"`, "</section>"))
	}
	status, body = post(t, t1.Client, f.url+"/students/s1/referrals", form("service", "wellbeing"))
	if status != http.StatusBadRequest || !strings.Contains(body, "spec.notifications.referralTargets") {
		t.Errorf("referral with no targets in policy: %d %s, want 400 saying where they are set", status, body)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("the policy file's change was not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
