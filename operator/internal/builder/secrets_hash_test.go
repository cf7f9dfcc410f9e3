package builder

import (
	"testing"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// TestSecretsOfEachComponent: each workload's digest covers the generated
// Secrets it reads, and only those, so a Secret made anew rolls its readers.
func TestSecretsOfEachComponent(t *testing.T) {
	term := leapTerm()
	n := NamesOf(term)
	want := map[string][]string{
		Redis:     {n.RedisAuth()},
		Ingestion: {n.RedisAuth(), n.IngestTokens()},
		Scoring:   {n.RedisAuth()},
		Portal:    {n.RedisAuth(), n.PortalSession()},
	}
	for c, names := range want {
		if got := SecretsOf(term, c); !equalStrings(got, names) {
			t.Errorf("SecretsOf(%s) = %v, want %v", c, got, names)
		}
	}
	term.Spec.Redis.Mode = v1alpha1.RedisExternal
	if got := SecretsOf(term, Scoring); len(got) != 0 {
		t.Errorf("with External Redis scoring reads no generated Secret, got %v", got)
	}
}

func TestSecretsHash(t *testing.T) {
	data := map[string]map[string][]byte{
		"a": {"moodle": []byte("t1"), "faser": []byte("t2")},
		"b": {"password": []byte("p")},
	}
	h := SecretsHash(data, []string{"a", "b"})
	if len(h) != 16 {
		t.Fatalf("hash %q, want 16 hex characters", h)
	}
	if again := SecretsHash(map[string]map[string][]byte{
		"b": {"password": []byte("p")},
		"a": {"faser": []byte("t2"), "moodle": []byte("t1")},
	}, []string{"a", "b"}); again != h {
		t.Errorf("the same data in another map order gives %s, want %s", again, h)
	}
	for name, changed := range map[string]map[string]map[string][]byte{
		"a value":            {"a": {"moodle": []byte("t9"), "faser": []byte("t2")}, "b": data["b"]},
		"a key added":        {"a": {"moodle": []byte("t1"), "faser": []byte("t2"), "xapi": nil}, "b": data["b"]},
		"value moved to key": {"a": {"moodlet1": nil, "faser": []byte("t2")}, "b": data["b"]},
		"the other Secret":   {"a": data["a"], "b": {"password": []byte("q")}},
		"a Secret not there": {"a": data["a"]},
	} {
		if SecretsHash(changed, []string{"a", "b"}) == h {
			t.Errorf("%s changed, the hash did not", name)
		}
	}
	if SecretsHash(data, []string{"a"}) == h {
		t.Error("a Secret left out gives the same hash")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
