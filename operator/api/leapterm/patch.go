package leapterm

import (
	"encoding/json"
	"fmt"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// AttendancePatch is the JSON merge patch the portal sends to switch
// attendance: spec.attendance and, when given, the whole of
// spec.policyHistory (a merge patch replaces a list). It lives beside the
// API because the chart's admission policy is written against it and its
// test sends exactly these bytes.
func AttendancePatch(enabled bool, reason string, history []v1alpha1.PolicyEra) ([]byte, error) {
	spec := map[string]any{"attendance": map[string]any{"enabled": enabled, "reason": reason}}
	if len(history) > 0 {
		spec["policyHistory"] = history
	}
	body, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		return nil, fmt.Errorf("encode the attendance change: %w", err)
	}
	return body, nil
}
