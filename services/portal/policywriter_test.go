package portal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzFileWriterApplyPatch: any merge patch of the spec goes into the
// LeapTerm file without a panic, and a patch the writer refuses leaves the
// file as it was. (What a patch may say is checked before, by draft.Apply.)
func FuzzFileWriterApplyPatch(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"attendance":{"enabled":false,"reason":"online"}}`)
	f.Add(`{"scoring":{"weights":{"tap_in":null,"moodle_login":3},"bands":{"high":80}}}`)
	f.Add(`{"breaks":[{"name":"x","start":"2026-11-02","end":"2026-11-06"}],"policyHistory":null}`)
	f.Add(`{"scoring":7}`)
	f.Fuzz(func(t *testing.T, patch string) {
		var m map[string]any
		if json.Unmarshal([]byte(patch), &m) != nil || m == nil {
			return
		}
		path := filepath.Join(t.TempDir(), "term.yaml")
		if err := os.WriteFile(path, sample, 0o600); err != nil {
			t.Fatal(err)
		}
		w := FileWriter{Path: path}
		_, version, err := w.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.ApplyPatch(context.Background(), version, m); err != nil {
			if b, _ := os.ReadFile(path); string(b) != string(sample) {
				t.Fatalf("a refused patch changed the file: %v", err)
			}
		}
	})
}
