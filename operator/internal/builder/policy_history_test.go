package builder

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// The policy ConfigMap carries the LeapTerm's policy history, ordered by
// day, so that every service scores each day under the policy of its day;
// being in the spec, it is there again after an operator restart. A
// LeapTerm without history keeps the document, and so the hash, it had
// before history existed.
func TestPolicyConfigMapCarriesTheHistory(t *testing.T) {
	plain, plainHash, err := PolicyDocument(leapTerm())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "policyHistory") {
		t.Errorf("a LeapTerm without history writes one: %s", plain)
	}

	switched := leapTerm()
	switched.Spec.Attendance.Enabled = ptr.To(false)
	window := v1alpha1.Scoring{WindowDays: 5, PartTimeWindowDays: 15, NoEngagementAlertDays: 5, Weights: map[string]int32{"moodle_login": 1},
		Bands: v1alpha1.Bands{High: 70, Good: 50, Partial: 30, Low: 10}}
	switched.Spec.PolicyHistory = []v1alpha1.PolicyEra{
		{Until: "2026-11-20", Attendance: v1alpha1.Attendance{Enabled: ptr.To(true)}},
		{Until: "2026-10-30", Attendance: v1alpha1.Attendance{Enabled: ptr.To(true)}, Scoring: &window},
	}
	encoded, hash, err := PolicyDocument(switched)
	if err != nil {
		t.Fatal(err)
	}
	if hash == plainHash {
		t.Error("the history did not change the hash")
	}
	cm := PolicyConfigMap(switched, encoded)
	doc, err := policy.Parse([]byte(cm.Data[policy.FileName]))
	if err != nil {
		t.Fatal(err)
	}
	h := doc.PolicyHistory
	if len(h) != 2 || h[0].Until != "2026-10-30" || h[0].Scoring == nil || h[0].Scoring.WindowDays != 5 || h[1].Until != "2026-11-20" || h[1].Scoring != nil {
		t.Errorf("history in the ConfigMap %+v, want both entries, ordered by day", h)
	}
	// The builder is a pure function of the LeapTerm: a restarted operator
	// writes the same document.
	again, hashAgain, _ := PolicyDocument(switched)
	if hashAgain != hash || string(again) != string(encoded) {
		t.Error("the same LeapTerm gave another document")
	}
}
