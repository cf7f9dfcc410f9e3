package portal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestStateSealerRoundTrip(t *testing.T) {
	s, err := newStateSealer(bytes.Repeat([]byte("k"), minSessionKey))
	must(t, err)
	now := time.Unix(1_800_000_000, 0)
	want := pendingSignIn{State: "st", Nonce: "no", Verifier: "ve", Return: "/", Expires: now.Add(signInWindow).Unix()}
	v := s.seal(want)
	if v == s.seal(want) {
		t.Error("two seals of one sign-in are equal: the nonce is not fresh")
	}
	got, err := s.open(v, now)
	if err != nil || got != want {
		t.Fatalf("open(seal(x)) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.open(v, now.Add(signInWindow)); !errors.Is(err, errStateExpired) {
		t.Errorf("at its expiry: %v, want errStateExpired", err)
	}
	if _, err := newStateSealer([]byte("short")); err == nil {
		t.Error("a 5-byte session key was taken")
	}
}

// FuzzOpenStateCookie: whatever a browser sends as the state cookie, open
// never panics, and nothing but a value the portal sealed ever opens.
func FuzzOpenStateCookie(f *testing.F) {
	s, err := newStateSealer(bytes.Repeat([]byte("k"), minSessionKey))
	must(f, err)
	now := time.Unix(1_800_000_000, 0)
	// The one genuine value, sealed under a fixed nonce so that every fuzz
	// worker agrees on it.
	plain, _ := json.Marshal(pendingSignIn{State: "st", Nonce: "no", Verifier: "ve", Return: "/", Expires: now.Add(signInWindow).Unix()})
	nonce := make([]byte, s.aead.NonceSize())
	genuine := base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, stateAAD))
	if _, err := s.open(genuine, now); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "x", "====", genuine, genuine[:len(genuine)-1], genuine + "A", genuine + "\n", "\n" + genuine, "a.b.c", string(bytes.Repeat([]byte("A"), 5000))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p, err := s.open(value, now)
		if err == nil && value != genuine {
			t.Fatalf("a value the portal never sealed opened: %q -> %+v", value, p)
		}
	})
}
