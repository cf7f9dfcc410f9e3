package ingestion

import (
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leap-dev/leap/services/internal/app"
)

// A rotated source's previous token works beside its new one until the
// overlap ends, then only the new one does; other sources are untouched.
// The tokens come from a directory laid out as the operator's Secret is
// mounted during a rotation.
func TestRotatedTokenOverlap(t *testing.T) {
	const (
		oldToken = "old-token-moodle-0123456789"
		newToken = "new-token-moodle-0123456789"
	)
	expires := now.Add(time.Hour)
	dir := t.TempDir()
	for name, v := range map[string]string{
		"moodle":          newToken,
		"moodle.previous": oldToken + " " + expires.Format(time.RFC3339),
		"roster":          rosterToken,
		"attendance":      "attendance-token-0123456789",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := app.Tokens(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	f := startWith(t, loadPolicy(t, ""), func(s *Service) {
		s.Tokens, s.TokenExpiry = tokens.Source, tokens.Expires
		s.Now = func() time.Time { return *clock.Load() }
	})

	// During the overlap both tokens post as moodle (a moodle activity with
	// source moodle is accepted only from moodle's token).
	n := 0
	send := func(tok string, want int) {
		t.Helper()
		n++
		body := "[" + `{"id":"r` + string(rune('a'+n)) + `","student":"s1","activity":"moodle_login","at":"` + clock.Load().Add(-time.Minute).Format(time.RFC3339) + `","source":"moodle"}` + "]"
		var a Answer
		var out any
		if want == http.StatusOK {
			out = &a
		}
		f.post(t, "/v1/events", "application/json", tok, body, want, out)
		if want == http.StatusOK && a.Accepted != 1 {
			t.Fatalf("token %s: %+v, want the event accepted", tok[:3], a)
		}
	}
	send(oldToken, http.StatusOK)
	send(newToken, http.StatusOK)

	// One second before the end the old token still works; at the end it
	// no longer does, and the new one and other sources carry on.
	almost := expires.Add(-time.Second)
	clock.Store(&almost)
	send(oldToken, http.StatusOK)
	clock.Store(&expires)
	send(oldToken, http.StatusUnauthorized)
	send(newToken, http.StatusOK)
	f.post(t, "/v1/events", "application/json", "attendance-token-0123456789", "[]", http.StatusOK, nil)
}
