package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokensReadsARotation(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{
		"moodle":          "new-token-moodle-0123456789\n",
		"moodle.previous": "old-token-moodle-0123456789 2026-10-21T12:00:00Z",
		"..data":          "ignored",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Tokens(dir, "roster:roster-token-0123456789,roster:roster-token-second-one")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"new-token-moodle-0123456789": "moodle", "old-token-moodle-0123456789": "moodle",
		"roster-token-0123456789": "roster", "roster-token-second-one": "roster",
	}
	if len(got.Source) != len(want) {
		t.Fatalf("sources %v, want %v", got.Source, want)
	}
	for tok, src := range want {
		if got.Source[tok] != src {
			t.Errorf("token %s: source %q, want %q", tok, got.Source[tok], src)
		}
	}
	if e := got.Expires["old-token-moodle-0123456789"]; !e.Equal(time.Date(2026, 10, 21, 12, 0, 0, 0, time.UTC)) || len(got.Expires) != 1 {
		t.Errorf("expiries %v, want only the previous token's", got.Expires)
	}
}

func TestTokensRefusesAMalformedPrevious(t *testing.T) {
	for _, v := range []string{
		"", "old-token-moodle-0123456789", "short 2026-10-21T12:00:00Z",
		"old-token-moodle-0123456789 tomorrow", "old-token-moodle-0123456789 2026-10-21",
		"old-token-moodle-0123456789 2026-10-21T12:00:00Z extra",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "moodle.previous"), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Tokens(dir, ""); err == nil || !strings.Contains(err.Error(), "moodle.previous") {
			t.Errorf("%q: error %v, want one naming moodle.previous", v, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".previous"), []byte("old-token-moodle-0123456789 2026-10-21T12:00:00Z"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A dot file is a Secret volume's own; ".previous" names no source anyway.
	if _, err := Tokens(dir, ""); err == nil {
		t.Error("a directory with no token was accepted")
	}
}

// FuzzParsePreviousToken: any input is either refused or gives a token of
// 16 characters or more with no space, which formats back to an equal value.
func FuzzParsePreviousToken(f *testing.F) {
	for _, s := range []string{
		"old-token-moodle-0123456789 2026-10-21T12:00:00Z",
		"old-token-moodle-0123456789 2026-10-21T12:00:00+01:00\n",
		"x 2026-10-21T12:00:00Z", "", " ", "a b c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		token, expires, err := ParsePreviousToken(v)
		if err != nil {
			return
		}
		if len(token) < 16 || strings.ContainsAny(token, " \t\r\n") {
			t.Fatalf("%q: token %q accepted", v, token)
		}
		again, at, err := ParsePreviousToken(token + " " + expires.Format(time.RFC3339Nano))
		if err != nil || again != token || !at.Equal(expires) {
			t.Fatalf("%q: %q %v does not read back: %q %v %v", v, token, expires, again, at, err)
		}
	})
}
