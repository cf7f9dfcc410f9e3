package controller

import (
	"testing"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// TestOverlappingTermsAreNamed: the operator names the pair the API
// server's rule cannot, for a LeapTerm stored before the rule.
func TestOverlappingTermsAreNamed(t *testing.T) {
	autumn := v1alpha1.DateRange{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"}
	winter := v1alpha1.DateRange{Name: "winter", Start: "2026-12-11", End: "2027-01-10"}
	spring := v1alpha1.DateRange{Name: "spring", Start: "2027-01-18", End: "2027-03-26"}
	err := termsOverlap([]v1alpha1.DateRange{spring, autumn, winter})
	want := "terms must not overlap: autumn (2026-10-05 to 2026-12-11) and winter (2026-12-11 to 2027-01-10) do"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	winter.Start = "2026-12-12" // the day after autumn ends
	if err := termsOverlap([]v1alpha1.DateRange{spring, autumn, winter}); err != nil {
		t.Errorf("adjacent terms: %v", err)
	}
}
