package ingestion

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOneGateForEveryRoute: native events and xAPI statements admit and
// refuse the same tokens, a previous token past its expiry included; only
// xAPI also takes the token as a Basic password, and each refusal
// challenges the schemes its route takes.
func TestOneGateForEveryRoute(t *testing.T) {
	const expired = "expired-token-of-moodle"
	f := startWith(t, loadPolicy(t, ""), func(s *Service) {
		s.Tokens[expired] = "moodle"
		s.TokenExpiry = map[string]time.Time{expired: now.Add(-time.Minute)}
	})
	body := fixtureFile(t, "moodle_course_viewed.json")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("moodle:"+token))
	native := func(auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/events", strings.NewReader("[]"))
		req.Header.Set("Content-Type", "application/json")
		if auth != "-" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, strings.Join(resp.Header.Values("WWW-Authenticate"), ", ")
	}
	for _, auth := range []string{"-", "Bearer wrong", "Bearer " + expired, "Bearer ", "Token " + token} {
		if code, challenge := native(auth); code != http.StatusUnauthorized || challenge != `Bearer realm="leap-ingestion"` {
			t.Errorf("native %q: %d %q", auth, code, challenge)
		}
		a := f.xapi(t, xcall{body: body, auth: auth}).want(t, http.StatusUnauthorized)
		if got := strings.Join(a.header.Values("WWW-Authenticate"), ", "); got != `Basic realm="leap-xapi", Bearer realm="leap-xapi"` {
			t.Errorf("xAPI %q: challenges %q", auth, got)
		}
	}
	if code, _ := native("Bearer " + token); code != http.StatusOK {
		t.Errorf("native with the token: %d", code)
	}
	if code, _ := native(basic); code != http.StatusUnauthorized {
		t.Errorf("native with Basic: %d, want 401", code)
	}
	f.xapi(t, xcall{body: body, auth: basic}).want(t, http.StatusOK)
	f.xapi(t, xcall{body: body, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("moodle:"+expired))}).want(t, http.StatusUnauthorized)
}
