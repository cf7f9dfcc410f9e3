package notifier

import (
	"strings"
	"testing"
	"time"
)

const goodSettings = `{"enabled": true, "universityName": "U", "smtp": {"host": "smtp.uni.test", "from": "leap@uni.test"}}`

func TestParseSettingsDefaults(t *testing.T) {
	s, err := ParseSettings([]byte(goodSettings))
	if err != nil {
		t.Fatal(err)
	}
	if s.SMTP.Port != 587 || s.SMTP.TLS != "StartTLS" || s.Digest.Time != "08:00" || len(s.Digest.Days) != 2 {
		t.Errorf("defaults: port %d, tls %s, time %s, days %v", s.SMTP.Port, s.SMTP.TLS, s.Digest.Time, s.Digest.Days)
	}
}

func TestParseSettingsRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"enabled": false}`, "enabled is false"},
		{`{"enabled": true, "smtp": {"host": "h", "from": "a@b.c"}}`, "universityName"},
		{`{"enabled": true, "universityName": "U"}`, "smtp is missing"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "not an address"}}`, "smtp.from"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "Eve <e@b.c>"}}`, "smtp.from"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h:25", "from": "a@b.c"}}`, "smtp.host"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c", "tls": "Maybe"}}`, "smtp.tls"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c", "tls": "None", "credentialsSecret": "s"}}`, "smtp.credentialsSecret needs tls"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "digest": {"time": "8:00"}}`, "digest.time"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "digest": {"time": "24:00"}}`, "digest.time"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "digest": {"days": ["Funday"]}}`, "digest.days"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "referralTargets": [{"service": "w", "email": "nope"}]}`, "referralTargets[0]"},
		{`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "portalURL": "ftp://x"}`, "portalURL"},
		{`{"enabled": true, "surprise": 1}`, "unknown field"},
	} {
		_, err := ParseSettings([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.json, err, tc.want)
		}
	}
}

func TestLastSlot(t *testing.T) {
	s, err := ParseSettings([]byte(`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "digest": {"days": ["Monday", "Thursday"], "time": "08:00"}}`))
	if err != nil {
		t.Fatal(err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, london)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ now, want string }{
		{"2026-10-22 07:59", "2026-10-19 08:00"}, // Thursday before 08:00: Monday's
		{"2026-10-22 08:00", "2026-10-22 08:00"},
		{"2026-10-25 12:00", "2026-10-22 08:00"}, // Sunday: Thursday's
		{"2026-10-26 08:30", "2026-10-26 08:00"}, // the Monday after the clocks go back
	} {
		got, ok := s.LastSlot(at(tc.now), london)
		if !ok || !got.Equal(at(tc.want)) {
			t.Errorf("at %s: slot %v, want %s", tc.now, got, tc.want)
		}
	}
}

// FuzzParseSettings: whatever NOTIFICATIONS holds, the notifier answers
// with settings that pass its own checks or an error, never a panic.
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(goodSettings))
	f.Add([]byte(`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c", "port": 70000}}`))
	f.Add([]byte(`{"enabled": true, "universityName": "U", "smtp": {"host": "h", "from": "a@b.c"}, "digest": {"days": [], "time": "23:59"}, "referralTargets": [{"service": "w", "email": "w@u.k"}, {"service": "w", "email": "x@u.k"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSettings(b)
		if err != nil {
			return
		}
		if s.SMTP == nil || s.SMTP.Port < 1 || s.SMTP.Port > 65535 || s.hour > 23 || s.minute > 59 {
			t.Errorf("accepted bad settings: %+v", s.Notifications)
		}
		if err := checkAddress(s.SMTP.From); err != nil {
			t.Errorf("accepted from %q: %v", s.SMTP.From, err)
		}
		if s.SMTP.TLS == "None" && s.SMTP.CredentialsSecret != "" {
			t.Errorf("accepted credentials sent in plain text: %+v", s.SMTP)
		}
		for _, r := range s.ReferralTargets {
			if err := checkAddress(r.Email); err != nil || r.Service == "" {
				t.Errorf("accepted referral target %+v: %v", r, err)
			}
		}
	})
}

// FuzzDigestRequest: a request for digests reads back as written, whoever
// asked; anything else in the list is refused, never read as another
// slot (the slot is named by the time as written).
func FuzzDigestRequest(f *testing.F) {
	f.Add("leap|1792663227803", "leap", int64(1792663227803))
	f.Add("a|b|1", "a|b", int64(0))
	f.Add("leap|+1792663227803", "", int64(-1))
	f.Add("leap|0017", "lt1", int64(17))
	f.Add("|", "", int64(0))
	f.Fuzz(func(t *testing.T, req, by string, ms int64) {
		if b, at, ok := parseDigestRequest(req); ok {
			if again := digestRequest(b, at); again != req {
				t.Errorf("%q read as (%q, %d), which is written %q: two spellings of one slot", req, b, at.UnixMilli(), again)
			}
		}
		b, at, ok := parseDigestRequest(digestRequest(by, time.UnixMilli(ms)))
		if !ok || at.UnixMilli() != ms || b != strings.ReplaceAll(by, "|", "/") {
			t.Errorf("request by %q at %d read back as (%q, %d, %v)", by, ms, b, at.UnixMilli(), ok)
		}
	})
}
