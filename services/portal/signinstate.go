package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// pendingSignIn is what the portal needs between sending a person to the
// provider and their return: the state the provider hands back, the nonce
// the ID token must carry, the PKCE verifier, where to go afterwards and
// until when. It travels sealed in the browser's state cookie, so a sign-in
// started and never finished costs the portal nothing.
type pendingSignIn struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// minSessionKey is the shortest SESSION_KEY taken: 32 bytes, the strength
// of the AES-256 key derived from it.
const minSessionKey = 32

// errStateCookie is a state cookie that does not open: forged, altered,
// sealed with another key, or not a sealed cookie at all.
var errStateCookie = errors.New("state cookie does not open")

// stateSealer seals and opens pending sign-ins with AES-256-GCM under a key
// derived from the portal's session key, so the same secret can serve
// other purposes without the keys ever meeting.
type stateSealer struct{ aead cipher.AEAD }

func newStateSealer(sessionKey []byte) (*stateSealer, error) {
	if len(sessionKey) < minSessionKey {
		return nil, fmt.Errorf("session key: %d bytes, want at least %d", len(sessionKey), minSessionKey)
	}
	mac := hmac.New(sha256.New, sessionKey)
	mac.Write([]byte("leap portal: OIDC sign-in state v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return &stateSealer{aead: aead}, nil
}

// stateAAD binds a sealed value to its use: a value sealed for anything
// else with the same key never opens as a sign-in state.
var stateAAD = []byte(stateCookie)

// seal returns the cookie value: URL-safe base64 of a random nonce and the
// ciphertext of the pending sign-in.
func (s *stateSealer) seal(p pendingSignIn) string {
	plain, _ := json.Marshal(p)
	return s.sealFor(plain, stateAAD)
}

// sealFor seals plain for the use aad names.
func (s *stateSealer) sealFor(plain, aad []byte) string {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, aad))
}

// maxStateCookie bounds what open reads: a sealed state is about 300
// characters, and a browser's cookie is at most 4 KB.
const maxStateCookie = 4096

// open returns the pending sign-in sealed in a cookie value, or
// errStateCookie; one whose time has passed at now is refused too.
func (s *stateSealer) open(value string, now time.Time) (pendingSignIn, error) {
	plain, err := s.openFor(value, stateAAD)
	if err != nil {
		return pendingSignIn{}, err
	}
	var p pendingSignIn
	if err := json.Unmarshal(plain, &p); err != nil || p.State == "" || p.Nonce == "" || p.Verifier == "" {
		return pendingSignIn{}, errStateCookie
	}
	if !now.Before(time.Unix(p.Expires, 0)) {
		return p, errStateExpired
	}
	return p, nil
}

// openFor returns what value seals for the use aad names, or
// errStateCookie.
func (s *stateSealer) openFor(value string, aad []byte) ([]byte, error) {
	// Strict, and no line breaks (which the decoder skips): one sealed
	// value has exactly one spelling.
	if len(value) > maxStateCookie || strings.ContainsAny(value, "\r\n") {
		return nil, errStateCookie
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errStateCookie
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return nil, errStateCookie
	}
	return plain, nil
}

// signedOut is what the portal keeps of a single sign-on once the person
// has signed out of LEAP: the ID token, the hint the provider's end-session
// endpoint asks for, should they also sign out there. It travels sealed in
// the sign-out cookie for signOutWindow; the session it came from is gone.
type signedOut struct {
	// IDToken is empty when the token is too big for a cookie: the
	// provider is then told the client instead.
	IDToken string `json:"t,omitempty"`
	Expires int64  `json:"e"` // Unix seconds
}

// signOutAAD binds a sealed value to the sign-out cookie: a sign-in state
// never opens as one, nor one as a sign-in state.
var signOutAAD = []byte(signOutCookie)

// sealSignOut returns the sign-out cookie's value, with the ID token left
// out when the cookie would be too big with it.
func (s *stateSealer) sealSignOut(o signedOut) string {
	plain, _ := json.Marshal(o)
	if v := s.sealFor(plain, signOutAAD); len(v) <= maxStateCookie {
		return v
	}
	o.IDToken = ""
	plain, _ = json.Marshal(o)
	return s.sealFor(plain, signOutAAD)
}

// openSignOut returns the sign-out sealed in a cookie value, or
// errStateCookie; one whose time has passed at now is errStateExpired.
func (s *stateSealer) openSignOut(value string, now time.Time) (signedOut, error) {
	plain, err := s.openFor(value, signOutAAD)
	if err != nil {
		return signedOut{}, err
	}
	var o signedOut
	if err := json.Unmarshal(plain, &o); err != nil {
		return signedOut{}, errStateCookie
	}
	if !now.Before(time.Unix(o.Expires, 0)) {
		return o, errStateExpired
	}
	return o, nil
}

// errStateExpired is a genuine state cookie whose sign-in window has passed.
var errStateExpired = errors.New("state cookie expired")
