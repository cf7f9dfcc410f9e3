package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	apijson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/utils/ptr"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/api/validation"
)

func term() *v1alpha1.LeapTerm {
	t := &v1alpha1.LeapTerm{}
	t.Namespace, t.Name = "leap", "y2026"
	t.Spec = v1alpha1.LeapTermSpec{
		Timezone: "Europe/London",
		Terms:    []v1alpha1.DateRange{{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"}},
		Scoring: v1alpha1.Scoring{
			WindowDays: 7, Weights: map[string]int32{"tap_in": 3, "moodle_login": 1},
			DisplayOnly: []v1alpha1.Activity{v1alpha1.ReadingList, v1alpha1.LibraryLoan},
			Bands:       v1alpha1.Bands{High: 70, Good: 50, Partial: 30, Low: 10},
		},
		Privacy: v1alpha1.Privacy{MinCohortSize: 10, NoIndicatorFor: []v1alpha1.StudyLevel{"pgr"}},
	}
	return t
}

// defaulted is lt as the API server stores it: with the CRD's defaults,
// so that its document is complete.
func defaulted(t *testing.T, lt *v1alpha1.LeapTerm) *v1alpha1.LeapTerm {
	t.Helper()
	b, err := json.Marshal(lt.Spec)
	if err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{}
	if err := apijson.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if err := validation.Default(spec); err != nil {
		t.Fatal(err)
	}
	out := lt.DeepCopy()
	out.Spec = v1alpha1.LeapTermSpec{}
	if err := decodeJSON(spec, &out.Spec); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHashChangesWithPolicyOnly(t *testing.T) {
	base, err := FromLeapTerm(term()).Hash()
	if err != nil {
		t.Fatal(err)
	}
	scaled := term()
	scaled.Spec.Ingestion.Replicas = ptr.To[int32](9)
	scaled.Spec.Portal.Image = "other:1"
	if h, _ := FromLeapTerm(scaled).Hash(); h != base {
		t.Error("scaling a component changed the policy hash")
	}
	reordered := term()
	reordered.Spec.Scoring.DisplayOnly = []v1alpha1.Activity{v1alpha1.LibraryLoan, v1alpha1.ReadingList}
	if h, _ := FromLeapTerm(reordered).Hash(); h != base {
		t.Error("listing a set in another order changed the policy hash")
	}
	off := term()
	off.Spec.Attendance.Enabled = ptr.To(false)
	if h, _ := FromLeapTerm(off).Hash(); h == base {
		t.Error("switching attendance off kept the policy hash")
	}
	weight := term()
	weight.Spec.Scoring.Weights["moodle_login"] = 2
	if h, _ := FromLeapTerm(weight).Hash(); h == base {
		t.Error("changing a weight kept the policy hash")
	}
	mapped := term()
	mapped.Spec.XAPI = v1alpha1.DefaultXAPI()
	withMappings, _ := FromLeapTerm(mapped).Hash()
	if withMappings == base {
		t.Error("adding xAPI mappings kept the policy hash")
	}
	reordered = term()
	reordered.Spec.XAPI = v1alpha1.DefaultXAPI()
	slices.Reverse(reordered.Spec.XAPI.Mappings[0].Verbs)
	slices.Reverse(reordered.Spec.XAPI.Mappings[0].ActivityTypes)
	slices.Reverse(reordered.Spec.XAPI.Mobile.Platforms)
	if h, _ := FromLeapTerm(reordered).Hash(); h != withMappings {
		t.Error("listing the verbs or types of a mapping in another order changed the policy hash")
	}
	swapped := term()
	swapped.Spec.XAPI = v1alpha1.DefaultXAPI()
	m := swapped.Spec.XAPI.Mappings
	m[len(m)-1], m[len(m)-2] = m[len(m)-2], m[len(m)-1]
	if h, _ := FromLeapTerm(swapped).Hash(); h == withMappings {
		t.Error("reordering the mappings (the first match wins) kept the policy hash")
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	d := FromLeapTerm(term())
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Marshal()
	if string(again) != string(b) {
		t.Fatalf("round trip changed the document:\n%s\n%s", b, again)
	}
	if got.LeapTerm != "leap/y2026" {
		t.Errorf("leapTerm %q", got.LeapTerm)
	}
}

func TestParseRejectsMalformedDocuments(t *testing.T) {
	cases := map[string]string{
		"empty":         ``,
		"not JSON":      `weights: 3`,
		"unknown field": `{"leapTerm":"a/b","terms":[{"name":"t","start":"2026-01-01","end":"2026-02-01"}],"surprise":1}`,
		"no terms":      `{"leapTerm":"a/b","terms":[]}`,
		"wrong type":    `{"leapTerm":"a/b","terms":"autumn"}`,
		"trailing data": `{"leapTerm":"a/b","terms":[{"name":"t","start":"2026-01-01","end":"2026-02-01"}]} {}`,
	}
	for name, doc := range cases {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %q", name, doc)
		} else if !strings.Contains(err.Error(), "policy document") {
			t.Errorf("%s: error %q does not say what it was reading", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := FromLeapTerm(term()).Marshal()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"terms":[{}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses must encode and parse back to the same document.
		enc, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		enc2, _ := d2.Marshal()
		if string(enc) != string(enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
	})
}

func TestAttendanceOn(t *testing.T) {
	off, on := false, true
	d := Document{Attendance: v1alpha1.Attendance{Enabled: &off}, PolicyHistory: []v1alpha1.PolicyEra{
		{Until: "2026-10-19", Attendance: v1alpha1.Attendance{Enabled: &on}},
		{Until: "2026-11-01", Attendance: v1alpha1.Attendance{Enabled: &off}},
		{Until: "2026-11-20", Attendance: v1alpha1.Attendance{Enabled: &on}},
	}}
	for day, want := range map[string]bool{"2026-10-05": true, "2026-10-19": true, "2026-10-20": false, "2026-11-01": false,
		"2026-11-02": true, "2026-11-20": true, "2026-11-21": false, "2027-06-01": false} {
		if got := d.AttendanceOn(day).IsEnabled(); got != want {
			t.Errorf("%s: attendance %v, want %v", day, got, want)
		}
	}
}

// The services staff may refer a student to are the LeapTerm's referral
// targets, in its order, whether email is on or off: the portal offers
// them and nothing else, and the notifier mails each its referrals. A
// LeapTerm with none keeps the hash it had before; the mail server and
// the schedule stay out of the policy every service reads.
func TestReferralTargetsArePolicy(t *testing.T) {
	plain, err := FromLeapTerm(term()).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "referral") || strings.Contains(string(plain), "notifications") {
		t.Errorf("a policy with no referral targets names them:\n%s", plain)
	}
	targeted := term()
	targeted.Spec.Scoring.PartTimeWindowDays, targeted.Spec.Scoring.NoEngagementAlertDays = 21, 7
	targeted.Spec.Notifications = &v1alpha1.Notifications{
		ReferralTargets: []v1alpha1.ReferralTarget{{Service: "wellbeing", Email: "wellbeing@uni.test"}, {Service: "library", Email: "library@uni.test"}},
		SMTP:            &v1alpha1.SMTP{Host: "smtp.uni.test", From: "leap@uni.test"},
	}
	targeted = defaulted(t, targeted)
	d := FromLeapTerm(targeted)
	if want := []string{"wellbeing", "library"}; !slices.Equal(d.ReferralServices(), want) {
		t.Errorf("referral services %q, want %q", d.ReferralServices(), want)
	}
	if a, ok := d.ReferralAddress("library"); !ok || a != "library@uni.test" {
		t.Errorf("library's address %q %v, want library@uni.test", a, ok)
	}
	if a, ok := d.ReferralAddress("astrology"); ok {
		t.Errorf("a service that is no target has the address %q", a)
	}
	b, _ := d.Marshal()
	if strings.Contains(string(b), "smtp.uni.test") {
		t.Errorf("the policy every service reads carries the mail server:\n%s", b)
	}
	if err := Validate(d); err != nil {
		t.Errorf("valid referral targets refused: %v", err)
	}
	parsed, err := Parse(b)
	if err != nil || !slices.Equal(parsed.ReferralServices(), d.ReferralServices()) {
		t.Errorf("parsed back %q (%v), want %q", parsed.ReferralServices(), err, d.ReferralServices())
	}
	off, _ := d.Hash()
	targeted.Spec.Notifications.Enabled = true
	if on, _ := FromLeapTerm(targeted).Hash(); on != off {
		t.Error("switching email on changed the policy: only the notifier needs to know")
	}
	untargeted := targeted.DeepCopy()
	untargeted.Spec.Notifications.ReferralTargets = nil
	if h, _ := FromLeapTerm(untargeted).Hash(); h == off {
		t.Error("adding referral targets left the policy hash alone: the portal would not see them")
	}

	// A document written by hand gets the API's rules.
	for _, bad := range [][]v1alpha1.ReferralTarget{
		{{Service: "wellbeing", Email: "a@uni.test"}, {Service: "wellbeing", Email: "b@uni.test"}},
		{{Service: "", Email: "a@uni.test"}},
		{{Service: strings.Repeat("x", 64), Email: "a@uni.test"}},
		{{Service: "wellbeing", Email: "Wellbeing <a@uni.test>"}},
		{{Service: "wellbeing", Email: "a@uni.test, b@uni.test"}},
	} {
		d.Referrals = &Referrals{ReferralTargets: bad}
		if err := Validate(d); err == nil || !strings.Contains(err.Error(), "referralTargets") {
			t.Errorf("referral targets %+v: error %v, want one about the referral targets", bad, err)
		}
	}
}
