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

// TestSignOutCookie: the sign-out cookie carries the ID token for
// signOutWindow; a token too big for a cookie is left out rather than the
// cookie growing past what browsers keep; and a sign-in state never opens
// as a sign-out, nor a sign-out as a sign-in state.
func TestSignOutCookie(t *testing.T) {
	s, err := newStateSealer(bytes.Repeat([]byte("k"), minSessionKey))
	must(t, err)
	now := time.Unix(1_800_000_000, 0)
	want := signedOut{IDToken: "eyJhbGciOi.a.b", Expires: now.Add(signOutWindow).Unix()}
	v := s.sealSignOut(want)
	if got, err := s.openSignOut(v, now); err != nil || got != want {
		t.Fatalf("openSignOut(sealSignOut(x)) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.openSignOut(v, now.Add(signOutWindow)); !errors.Is(err, errStateExpired) {
		t.Errorf("at its expiry: %v, want errStateExpired", err)
	}
	if _, err := s.open(v, now); !errors.Is(err, errStateCookie) {
		t.Errorf("a sign-out cookie opened as a sign-in state: %v", err)
	}
	state := s.seal(pendingSignIn{State: "st", Nonce: "no", Verifier: "ve", Return: "/", Expires: now.Add(signInWindow).Unix()})
	if _, err := s.openSignOut(state, now); !errors.Is(err, errStateCookie) {
		t.Errorf("a sign-in state opened as a sign-out cookie: %v", err)
	}

	big := signedOut{IDToken: string(bytes.Repeat([]byte("t"), 4000)), Expires: want.Expires}
	v = s.sealSignOut(big)
	got, err := s.openSignOut(v, now)
	if len(v) > maxStateCookie || err != nil || got.IDToken != "" || got.Expires != big.Expires {
		t.Errorf("a 4,000-byte token: a %d-byte cookie opening as %.40v, %v; want it under %d bytes without the token", len(v), got, err, maxStateCookie)
	}
}

// FuzzOpenSignOutCookie: whatever a browser sends as the sign-out cookie,
// openSignOut never panics, and nothing but a value the portal sealed
// ever opens.
func FuzzOpenSignOutCookie(f *testing.F) {
	s, err := newStateSealer(bytes.Repeat([]byte("k"), minSessionKey))
	must(f, err)
	now := time.Unix(1_800_000_000, 0)
	plain, _ := json.Marshal(signedOut{IDToken: "eyJ.a.b", Expires: now.Add(signOutWindow).Unix()})
	nonce := make([]byte, s.aead.NonceSize())
	genuine := base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, signOutAAD))
	if _, err := s.openSignOut(genuine, now); err != nil {
		f.Fatal(err)
	}
	stateForm := base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, stateAAD))
	for _, seed := range []string{"", "x", "====", genuine, stateForm, genuine[:len(genuine)-1], genuine + "A", genuine + "\n", string(bytes.Repeat([]byte("A"), 5000))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		o, err := s.openSignOut(value, now)
		if err == nil && value != genuine {
			t.Fatalf("a value the portal never sealed opened: %q -> %+v", value, o)
		}
	})
}
