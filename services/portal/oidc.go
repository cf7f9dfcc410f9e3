package portal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/store"
)

// OIDC configures single sign-on through the university's OpenID Connect
// provider: the authorization code flow with PKCE, state and nonce, and the
// ID token verified against the provider's published keys.
type OIDC struct {
	// Issuer is the provider's URL; its discovery document says the rest.
	Issuer   string
	ClientID string
	// ClientSecret is empty for a public client, which relies on PKCE.
	ClientSecret string
	// RedirectURL is this portal's callback, SCHEME://HOST/auth/callback,
	// registered with the provider.
	RedirectURL string
	// PersonClaim holds the person's roster id, or their email address
	// when it is "email".
	PersonClaim string
	// StaffClaim and StaffValues tell staff from students: a person is
	// staff when the claim (a string or a list) holds one of the values.
	StaffClaim  string
	StaffValues []string
	Scopes      []string
	// SessionKey (SESSION_KEY, at least 32 bytes) seals the pending
	// sign-in in the browser's state cookie.
	SessionKey []byte
	// HTTPClient reaches the provider; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Defaults of the OIDC settings, the same as the LeapTerm's.
var (
	DefaultPersonClaim = "preferred_username"
	DefaultStaffClaim  = "groups"
	DefaultStaffValues = []string{"staff"}
	DefaultScopes      = []string{oidc.ScopeOpenID, "profile", "email"}
)

// CallbackPath is where the provider sends people back to the portal.
const CallbackPath = "/auth/callback"

// OIDCFromEnv reads the OIDC settings the operator gives the portal
// (PORTAL_OIDC_*); nil when PORTAL_OIDC_ISSUER is unset.
func OIDCFromEnv(env *config.Env) *OIDC {
	issuer := env.String("PORTAL_OIDC_ISSUER", "")
	if issuer == "" {
		return nil
	}
	o := &OIDC{
		Issuer:       issuer,
		ClientID:     env.Required("PORTAL_OIDC_CLIENT_ID", "the portal's client id at the OpenID provider"),
		ClientSecret: env.String("PORTAL_OIDC_CLIENT_SECRET", ""),
		RedirectURL:  env.Required("PORTAL_OIDC_REDIRECT_URL", "the portal's callback URL, such as https://leap.example.ac.uk"+CallbackPath),
		PersonClaim:  env.String("PORTAL_OIDC_PERSON_CLAIM", DefaultPersonClaim),
		StaffClaim:   env.String("PORTAL_OIDC_STAFF_CLAIM", DefaultStaffClaim),
		StaffValues:  splitList(env.String("PORTAL_OIDC_STAFF_VALUES", ""), ","),
		Scopes:       splitList(env.String("PORTAL_OIDC_SCOPES", ""), " ,"),
		SessionKey:   []byte(env.Required("SESSION_KEY", "the key that seals sign-in state cookies, at least 32 random bytes (the operator's NAME-portal-session Secret)")),
	}
	if len(o.StaffValues) == 0 {
		o.StaffValues = slices.Clone(DefaultStaffValues)
	}
	if len(o.Scopes) == 0 {
		o.Scopes = slices.Clone(DefaultScopes)
	}
	if !slices.Contains(o.Scopes, oidc.ScopeOpenID) {
		env.Fail(fmt.Errorf("PORTAL_OIDC_SCOPES=%q: must include openid", strings.Join(o.Scopes, " ")))
	}
	if n := len(o.SessionKey); n > 0 && n < minSessionKey {
		env.Fail(fmt.Errorf("SESSION_KEY: %d bytes, want at least %d", n, minSessionKey))
	}
	if u, err := url.Parse(o.RedirectURL); o.RedirectURL != "" && (err != nil || u.Host == "" || u.Path != CallbackPath) {
		env.Fail(fmt.Errorf("PORTAL_OIDC_REDIRECT_URL=%q: want an absolute URL ending in %s", o.RedirectURL, CallbackPath))
	}
	return o
}

func splitList(s, seps string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) })
}

// signOn is the portal's side of OIDC. The provider is discovered on first
// use and kept, so a portal that starts while the provider is unreachable
// still comes up, and tries again on the next sign-in.
type signOn struct {
	cfg   OIDC
	state *stateSealer

	mu         sync.Mutex
	provider   *oidc.Provider
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string
	csp        atomic.Pointer[string] // formAction
}

func newSignOn(cfg OIDC) (*signOn, error) {
	sealer, err := newStateSealer(cfg.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("single sign-on: %w", err)
	}
	s := &signOn{cfg: cfg, state: sealer}
	s.setFormAction()
	return s, nil
}

// providerClient reaches the provider when OIDC.HTTPClient is nil: with a
// timeout, so that a provider that hangs (its keys, say) fails a sign-in
// rather than holding it for ever.
var providerClient = &http.Client{Timeout: 10 * time.Second}

func (s *signOn) context(ctx context.Context) context.Context {
	c := s.cfg.HTTPClient
	if c == nil {
		c = providerClient
	}
	return oidc.ClientContext(ctx, c)
}

// discover reads the provider's discovery document once it answers. The
// lock is not held while the provider is asked, so a slow provider never
// holds up pages that only read what discovery found.
func (s *signOn) discover(ctx context.Context, now func() time.Time) error {
	s.mu.Lock()
	done := s.provider != nil
	s.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(s.context(ctx), s.cfg.Issuer)
	if err != nil {
		return err
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra) // optional: without it, sign-out stays local
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != nil {
		return nil
	}
	s.oauth = oauth2.Config{
		ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, RedirectURL: s.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: s.cfg.Scopes,
	}
	// The audience is checked by the callback rather than by go-oidc, so
	// that a token for another application gets its own plain message.
	s.verifier = p.Verifier(&oidc.Config{ClientID: s.cfg.ClientID, SkipClientIDCheck: true, Now: now})
	s.endSession = extra.EndSession
	s.provider = p
	s.setFormAction()
	return nil
}

// formAction is the CSP's form-action with the provider's origins: the
// issuer's and, once discovered, the end-session endpoint's. Browsers apply
// form-action to the redirects after a form is sent; a form whose answer
// leads on to the provider must not be blocked on its way. It is worked
// out when it changes, not on every request.
func (s *signOn) formAction() string { return *s.csp.Load() }

// setFormAction works formAction out; s.mu is held or s not yet shared.
func (s *signOn) setFormAction() {
	sources := []string{"'self'"}
	for _, raw := range []string{s.cfg.Issuer, s.endSession} {
		if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
			if o := u.Scheme + "://" + u.Host; !slices.Contains(sources, o) {
				sources = append(sources, o)
			}
		}
	}
	v := strings.Join(sources, " ")
	s.csp.Store(&v)
}

const (
	signInWindow = 10 * time.Minute
	stateCookie  = "leap_oidc_state"
	// signOutWindow is how long the sign-in page offers to sign a person
	// out of the provider too, after they signed out of LEAP.
	signOutWindow = 10 * time.Minute
	signOutCookie = "leap_oidc_signed_out"
)

// ProviderSignOutPath sends a person who signed out of LEAP on to the
// provider's end-session endpoint, when they ask to sign out there too.
const ProviderSignOutPath = "/logout/provider"

// startSignOn sends the person to the provider. What the callback needs
// (state, nonce, PKCE verifier) goes sealed into a short-lived cookie
// rather than into Redis: starting a sign-in, which anyone can do from
// anywhere, leaves nothing on the server.
func (p *Portal) startSignOn(c echo.Context) error {
	ctx := c.Request().Context()
	if err := p.sso.discover(ctx, p.now); err != nil {
		p.log.ErrorContext(ctx, "OpenID provider discovery failed", slog.String("issuer", p.sso.cfg.Issuer), slog.Any("error", err))
		return p.signInFailed(c, http.StatusServiceUnavailable, "The university's sign-in service cannot be reached just now. Try again in a few minutes.")
	}
	pending := pendingSignIn{
		State: randomID(), Nonce: randomID(), Verifier: oauth2.GenerateVerifier(),
		Return: localPath(c.QueryParam("next")), Expires: p.now().Add(signInWindow).Unix(),
	}
	// The cookie also binds the state to this browser, so a callback link
	// made in another browser (login CSRF) signs nobody in.
	p.setCookie(c, stateCookie, p.sso.state.seal(pending), int(signInWindow.Seconds()))
	return c.Redirect(http.StatusFound, p.sso.oauth.AuthCodeURL(pending.State, oidc.Nonce(pending.Nonce), oauth2.S256ChallengeOption(pending.Verifier)))
}

// localPath is next when it is a path on this portal, "/" otherwise, so a
// sign-in link cannot send a person to another site afterwards.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n\t") ||
		u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return u.RequestURI()
}

// usedStateKey remembers a state whose sign-in got as far as a verified ID
// token, until its cookie would have expired anyway, so that the same
// cookie and callback URL sent again are refused even by a browser that
// kept the cookie. Only verified sign-ins write it, so it is bounded by
// real sign-ins at the provider, not by anonymous starts.
func usedStateKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return store.OIDCUsedStateKey(hex.EncodeToString(h[:]))
}

// errSignIn is a refusal with the words the person reads.
type errSignIn struct{ msg, detail string }

func (e *errSignIn) Error() string { return e.msg + ": " + e.detail }

func signInRefused(msg, detail string, args ...any) error {
	return &errSignIn{msg: msg, detail: fmt.Sprintf(detail, args...)}
}

// signOnCallback takes the person back from the provider: state, code
// exchange with the PKCE verifier, ID token, nonce, roster. Any failure
// signs nobody in and says why on the sign-in page.
func (p *Portal) signOnCallback(c echo.Context) error {
	ctx := c.Request().Context()
	s, home, err := p.verifySignOn(c)
	var refused *errSignIn
	if errors.As(err, &refused) {
		p.log.WarnContext(ctx, "single sign-on refused", slog.String("reason", refused.msg), slog.String("detail", refused.detail), slog.String("address", c.RealIP()))
		return p.signInFailed(c, http.StatusUnauthorized, refused.msg)
	}
	if err != nil {
		return err
	}
	return p.startSession(c, s, home)
}

// verifySignOn checks the provider's answer against the browser's sealed
// state and returns who signed in and where they were going.
func (p *Portal) verifySignOn(c echo.Context) (Session, string, error) {
	ctx := c.Request().Context()
	q := c.QueryParams()
	state := q.Get("state")
	// The state cookie is spent whatever happens next.
	p.setCookie(c, stateCookie, "", -1)
	const gone = "This sign-in link has expired or was already used. Start again."
	ck, err := p.cookie(c, stateCookie)
	if err != nil || ck.Value == "" {
		return Session{}, "", signInRefused("This sign-in was started in another browser. Start again here.", "no state cookie")
	}
	pending, err := p.sso.state.open(ck.Value, p.now())
	switch {
	case errors.Is(err, errStateExpired):
		return Session{}, "", signInRefused(gone, "state cookie expired at %v", time.Unix(pending.Expires, 0).UTC())
	case err != nil:
		return Session{}, "", signInRefused(gone, "state cookie does not open (altered, forged or another key)")
	case state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(pending.State)) != 1:
		return Session{}, "", signInRefused("This sign-in was started in another browser. Start again here.", "state %.8s… is not this browser's", state)
	}
	used, err := p.Redis.Exists(ctx, usedStateKey(pending.State)).Result()
	if err != nil {
		return Session{}, "", err
	}
	if used > 0 {
		return Session{}, "", signInRefused(gone, "replayed state %.8s…", state)
	}
	if e := q.Get("error"); e != "" {
		return Session{}, "", signInRefused("The university's sign-in service did not sign you in. Start again, or ask the IT service desk if it keeps happening.", "provider error %s: %s", e, q.Get("error_description"))
	}
	if err := p.sso.discover(ctx, p.now); err != nil {
		return Session{}, "", signInRefused("The university's sign-in service cannot be reached just now. Try again in a few minutes.", "discovery: %v", err)
	}
	tok, err := p.sso.oauth.Exchange(p.sso.context(ctx), q.Get("code"), oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return Session{}, "", signInRefused("The university's sign-in service did not confirm your sign-in. Start again.", "code exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return Session{}, "", signInRefused("The university's sign-in service sent no identity. Ask the IT service desk to check LEAP's settings.", "no id_token in the token response")
	}
	idt, err := p.sso.verifier.Verify(p.sso.context(ctx), rawID)
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return Session{}, "", signInRefused("Your sign-in expired before it reached LEAP. Start again.", "ID token expired at %v", expired.Expiry)
	case err != nil:
		return Session{}, "", signInRefused("LEAP could not verify your sign-in with the university's sign-in service. Start again, and tell the IT service desk if it keeps happening.", "ID token: %v", err)
	case !slices.Contains(idt.Audience, p.sso.cfg.ClientID) || len(idt.Audience) > 1 && authorizedParty(idt) != p.sso.cfg.ClientID:
		return Session{}, "", signInRefused("Your sign-in was issued for another application, not LEAP. Start again from LEAP's sign-in page.", "audience %v, authorized party %q, want %s", idt.Audience, authorizedParty(idt), p.sso.cfg.ClientID)
	case subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1:
		return Session{}, "", signInRefused("Your sign-in does not belong to this browser's request. Start again.", "nonce mismatch")
	}
	// The sign-in is genuine: spend its state for good, so that this
	// cookie and callback sent again are refused (two at once: one wins).
	ttl := min(time.Unix(pending.Expires, 0).Sub(p.now()), signInWindow) + time.Second
	first, err := p.Redis.SetNX(ctx, usedStateKey(pending.State), 1, ttl).Result()
	if err != nil {
		return Session{}, "", err
	}
	if !first {
		return Session{}, "", signInRefused(gone, "replayed state %.8s…", state)
	}
	claims, err := p.sso.claims(ctx, idt, tok)
	if err != nil {
		return Session{}, "", err
	}
	s, err := p.personOf(ctx, claims)
	if err != nil {
		return Session{}, "", err
	}
	s.IDToken = rawID
	return s, pending.Return, nil
}

// authorizedParty is the ID token's azp claim: with several audiences,
// OpenID Connect Core (3.1.3.7) has the client check it names itself.
func authorizedParty(idt *oidc.IDToken) string {
	var c struct {
		AZP string `json:"azp"`
	}
	_ = idt.Claims(&c)
	return c.AZP
}

// claims are the ID token's claims, completed from the UserInfo endpoint
// when the person or staff claim is not in the token (many providers keep
// profile claims out of ID tokens issued with an access token).
func (s *signOn) claims(ctx context.Context, idt *oidc.IDToken, tok *oauth2.Token) (map[string]any, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, signInRefused("LEAP could not read your sign-in.", "ID token claims: %v", err)
	}
	_, hasPerson := claims[s.cfg.PersonClaim]
	_, hasStaff := claims[s.cfg.StaffClaim]
	if hasPerson && hasStaff || s.provider.UserInfoEndpoint() == "" {
		return claims, nil
	}
	info, err := s.provider.UserInfo(s.context(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, signInRefused("The university's sign-in service did not say who you are. Start again.", "userinfo: %v", err)
	}
	if info.Subject != idt.Subject {
		return nil, signInRefused("The university's sign-in service gave two different identities. Start again.", "userinfo subject %q, ID token subject %q", info.Subject, idt.Subject)
	}
	var more map[string]any
	if err := info.Claims(&more); err != nil {
		return nil, signInRefused("LEAP could not read your sign-in.", "userinfo claims: %v", err)
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return claims, nil
}

// personOf maps a person's claims to someone in the roster. The provider
// says whether they are staff (StaffClaim); the roster says who they are
// and, for staff, their role. Nobody outside the roster signs in.
func (p *Portal) personOf(ctx context.Context, claims map[string]any) (Session, error) {
	cfg := p.sso.cfg
	name, _ := claims[cfg.PersonClaim].(string)
	if name == "" {
		return Session{}, signInRefused("Your university account does not say who you are in a way LEAP understands. Ask the IT service desk to check LEAP's settings.", "no string claim %q", cfg.PersonClaim)
	}
	byEmail := cfg.PersonClaim == "email"
	if byEmail && !emailVerified(claims["email_verified"]) {
		return Session{}, signInRefused("Your university account's email address is not verified, so LEAP cannot tell who you are by it. Ask the IT service desk.", "email %q not verified (email_verified %v)", name, claims["email_verified"])
	}
	isStaff := hasAny(claims[cfg.StaffClaim], cfg.StaffValues)
	if isStaff {
		id := name
		if byEmail {
			var err error
			if id, err = store.StaffByEmail(ctx, p.Redis, name); err != nil {
				return Session{}, err
			}
		}
		staff, ok, err := store.GetStaff(ctx, p.Redis, id)
		if err != nil {
			return Session{}, err
		}
		// By email, the record found must still carry that address: the
		// index is only an index.
		if ok && (!byEmail || strings.EqualFold(staff.Email, name)) {
			return Session{User: name, Person: staff.ID, Role: staffRole(staff.Role)}, nil
		}
		// Not staff in the roster: a student who works for the university
		// (a teaching assistant) is in the staff group too.
	}
	id := name
	if byEmail {
		var err error
		if id, err = store.StudentByEmail(ctx, p.Redis, name); err != nil {
			return Session{}, err
		}
	}
	var st store.Student
	ok := false
	if store.ValidID(id) {
		var err error
		if st, ok, err = store.GetStudent(ctx, p.Redis, id); err != nil {
			return Session{}, err
		}
	}
	if ok && byEmail && !strings.EqualFold(st.Email, name) {
		ok = false
	}
	if !ok && isStaff {
		return Session{}, signInRefused("LEAP has no member of staff "+name+". If you should have access, ask the LEAP team to add you.", "staff %q not in the roster", name)
	}
	if !ok {
		return Session{}, signInRefused("LEAP has no student "+name+". LEAP covers registered students; if you are one, ask the LEAP team.", "student %q not in the roster", name)
	}
	if st.Exchange && !p.Policy.Current().Doc.Privacy.ExchangeStudentsCanLogIn {
		return Session{}, signInRefused(exchangeRefusal, "exchange student %s", st.ID)
	}
	return Session{User: name, Person: st.ID, Role: RoleStudent}, nil
}

// staffRole is the portal role of a roster staff role: tutor, leap-team,
// or staff for anything else.
func staffRole(roster string) string {
	switch roster {
	case RoleTutor, RoleLEAPTeam:
		return roster
	}
	return RoleStaff
}

// emailVerified reads the email_verified claim: true, or the string "true"
// some providers send. Absent is not verified: matching people by an
// address nobody checked would let anyone who can set their own address
// be anyone.
func emailVerified(claim any) bool {
	switch v := claim.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// hasAny reports whether a claim, a string or a list of strings, holds any
// of the values.
func hasAny(claim any, values []string) bool {
	switch v := claim.(type) {
	case string:
		return slices.Contains(values, v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && slices.Contains(values, s) {
				return true
			}
		}
	}
	return false
}

// providerSignOut returns the sign-out cookie's value for a session that
// began with a single sign-on at a provider with an end-session endpoint;
// "" for any other session.
func (p *Portal) providerSignOut(s *Session) string {
	if p.sso == nil || s.IDToken == "" || p.endSessionEndpoint() == "" {
		return ""
	}
	return p.sso.state.sealSignOut(signedOut{IDToken: s.IDToken, Expires: p.now().Add(signOutWindow).Unix()})
}

func (p *Portal) endSessionEndpoint() string {
	p.sso.mu.Lock()
	defer p.sso.mu.Unlock()
	return p.sso.endSession
}

// offersProviderSignOut tells whether the sign-in page links to
// ProviderSignOutPath: the browser holds a sign-out cookie still good.
func (p *Portal) offersProviderSignOut(c echo.Context) bool {
	if p.sso == nil {
		return false
	}
	ck, err := p.cookie(c, signOutCookie)
	if err != nil {
		return false
	}
	_, err = p.sso.state.openSignOut(ck.Value, p.now())
	return err == nil
}

// signOutAtProvider sends the person to the provider's end-session
// endpoint with the ID token as the hint and LEAP's sign-in page as the way
// back; without a sign-out cookie still good, back to the sign-in page.
// The token never appears in a page: it goes from the sealed cookie
// straight into the redirect to the provider that issued it.
func (p *Portal) signOutAtProvider(c echo.Context) error {
	ck, err := p.cookie(c, signOutCookie)
	if err != nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	p.setCookie(c, signOutCookie, "", -1)
	o, err := p.sso.state.openSignOut(ck.Value, p.now())
	if err != nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	end := p.endSessionURL(o.IDToken)
	if end == "" {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return c.Redirect(http.StatusSeeOther, end)
}

// endSessionURL is the provider's end-session endpoint with idToken as the
// hint (when known) and LEAP's sign-in page as post_logout_redirect_uri; ""
// when the provider has none.
func (p *Portal) endSessionURL(idToken string) string {
	end := p.endSessionEndpoint()
	if end == "" {
		return ""
	}
	u, err := url.Parse(end)
	if err != nil {
		return ""
	}
	back, _ := url.Parse(p.sso.cfg.RedirectURL)
	back.Path, back.RawQuery = "/login", ""
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	q.Set("client_id", p.sso.cfg.ClientID)
	q.Set("post_logout_redirect_uri", back.String())
	u.RawQuery = q.Encode()
	return u.String()
}
