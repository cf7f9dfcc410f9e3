package leapterm

import (
	"net/http"
	"testing"
)

// FuzzRefusalOf: whatever an API server (or something in its place)
// answers, reading it as a refusal never fails, and a refusal keeps the
// status code and its message.
func FuzzRefusalOf(f *testing.F) {
	f.Add(422, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"LeapTerm.leap.dev \"y\" is invalid: spec.scoring.bands: Invalid value: \"object\": band thresholds must be strictly descending","reason":"Invalid","details":{"name":"y","group":"leap.dev","kind":"LeapTerm","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"object\": band thresholds must be strictly descending","field":"spec.scoring.bands"}]},"code":422}`))
	f.Add(403, []byte(`{"kind":"Status","status":"Failure","message":"denied request: the portal may change only spec.attendance","reason":"Forbidden","code":403}`))
	f.Add(422, []byte(`<html>bad gateway</html>`))
	f.Add(500, []byte(`{"kind":"Status"}`))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		r, ok := refusalOf(code, body)
		if !ok {
			if r != nil {
				t.Fatal("no refusal, yet a value")
			}
			return
		}
		if code != http.StatusUnprocessableEntity && code != http.StatusForbidden {
			t.Fatalf("a %d read as a refusal by the rules", code)
		}
		if r.Code != code || r.Error() != r.Message {
			t.Fatalf("refusal %+v of a %d", r, code)
		}

	})
}
