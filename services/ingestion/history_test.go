package ingestion

import (
	"net/http"
	"testing"
)

// Attendance was switched off from Tuesday 20 October: a tap of Monday 19
// arriving late is still taken (attendance counted that day), one of the
// 20th is ignored.
func TestAttendanceOffFromADayKeepsLateTapsOfEarlierDays(t *testing.T) {
	f := start(t, loadPolicy(t, "attendance:\n    enabled: false\n    reason: online\n"+
		"  policyHistory:\n  - until: \"2026-10-19\"\n    attendance: {enabled: true}"))
	var a Answer
	f.post(t, "/v1/events", "application/json", "demo-token",
		"["+event("m1", "s1", "tap_in", "2026-10-19T09:00:00Z")+","+event("t1", "s1", "tap_in", at)+"]", http.StatusOK, &a)
	if a.Accepted != 1 || len(a.Ignored) != 1 || a.Ignored[0].Index != 1 || a.Ignored[0].Reason != ReasonAttendanceOff {
		t.Fatalf("%+v, want Monday's tap taken and Tuesday's ignored", a)
	}
}
