// Package demoidp is an OpenID provider for tests and for make run, built
// on github.com/zitadel/oidc's provider library (package op): an in-memory
// store of users, clients, codes and tokens, a login form, and a "groups"
// claim, as a university's provider would send. It is never part of a
// service image.
package demoidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the provider.
type User struct {
	ID, Username, Password, Email string
	Groups                        []string
}

// Client is an application registered with the provider.
type Client struct {
	ID, Secret, RedirectURI string
	// PostLogoutRedirectURIs are where the provider may send a browser
	// back after signing it out (RP-initiated logout).
	PostLogoutRedirectURIs []string
}

// LoginPath is where the provider's login form is shown and posts.
const LoginPath = "/login/username"

// TokenPath and UserInfoPath are the provider's endpoints, as its
// discovery document names them.
const (
	TokenPath    = "/oauth/token"
	UserInfoPath = "/userinfo"
)

// New is the provider's handler for the issuer URL it is served at.
func New(issuer string, users []User, clients []Client) http.Handler {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("demo provider signing key: %v", err))
	}
	s := &storage{
		users: map[string]User{}, clients: map[string]*client{}, requests: map[string]*authRequest{},
		codes: map[string]string{}, tokens: map[string]*token{}, refresh: map[string]*token{},
		key: signingKey{id: "demo", key: key},
	}
	for _, u := range users {
		s.users[u.ID] = u
	}
	for _, c := range clients {
		s.clients[c.ID] = &client{c}
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             sha256.Sum256([]byte(issuer)),
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
	}, s, op.StaticIssuer(issuer), op.WithAllowInsecure(), op.WithCustomAuthEndpoint(op.NewEndpoint("auth")))
	if err != nil {
		panic(fmt.Sprintf("demo provider: %v", err))
	}
	callback := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, func(w http.ResponseWriter, r *http.Request) {
		renderLogin(w, r.FormValue("authRequestID"), "")
	})
	mux.Handle("POST "+LoginPath, op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if err := s.checkLogin(r.FormValue("username"), r.FormValue("password"), id); err != nil {
			renderLogin(w, id, err.Error())
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/", provider)
	return mux
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>Sign in</title></head>
<body><form method="POST" action="` + LoginPath + `">
<input type="hidden" name="id" value="{{.ID}}">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password"></p>
<p>{{.Error}}</p>
<button type="submit">Sign in</button>
</form></body></html>`))

func renderLogin(w http.ResponseWriter, id, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, struct{ ID, Error string }{id, problem})
}

// storage is the provider's in-memory op.Storage.
type storage struct {
	mu       sync.Mutex
	users    map[string]User
	clients  map[string]*client
	requests map[string]*authRequest
	codes    map[string]string // code -> request id
	tokens   map[string]*token // access token id
	refresh  map[string]*token // refresh token
	key      signingKey
}

var errNotFound = errors.New("not found")

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *storage) checkLogin(username, password, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[requestID]
	if !ok {
		return errors.New("the sign-in has expired; start again")
	}
	for _, u := range s.users {
		if u.Username == username && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1 {
			req.subject, req.done, req.authTime = u.ID, true, time.Now()
			return nil
		}
	}
	return errors.New("wrong username or password")
}

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &authRequest{id: newID(), req: *r, subject: userID}
	s.requests[a.id] = a
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// token is an access token, or the grant a refresh token stands for.
type token struct {
	id, subject, clientID string
	audience, scopes, amr []string
	authTime, expires     time.Time
}

func (t *token) GetAMR() []string                 { return t.amr }
func (t *token) GetAudience() []string            { return t.audience }
func (t *token) GetAuthTime() time.Time           { return t.authTime }
func (t *token) GetClientID() string              { return t.clientID }
func (t *token) GetScopes() []string              { return t.scopes }
func (t *token) GetSubject() string               { return t.subject }
func (t *token) SetCurrentScopes(scopes []string) { t.scopes = scopes }

func (s *storage) newToken(r op.TokenRequest) *token {
	t := &token{id: newID(), subject: r.GetSubject(), audience: r.GetAudience(), scopes: r.GetScopes(), expires: time.Now().Add(5 * time.Minute)}
	switch r := r.(type) {
	case *authRequest:
		t.clientID, t.authTime = r.req.ClientID, r.authTime
	case *token:
		t.clientID, t.authTime, t.amr = r.clientID, r.authTime, r.amr
	}
	s.tokens[t.id] = t
	return t
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newToken(r)
	return t.id, t.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newToken(r)
	if current != "" {
		delete(s.refresh, current)
	}
	refresh := newID()
	s.refresh[refresh] = t
	return t.id, refresh, t.expires, nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, refresh string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.refresh[refresh]; ok {
		return t, nil
	}
	return nil, errNotFound
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	for id, t := range s.refresh {
		if t.subject == userID && t.clientID == clientID {
			delete(s.refresh, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tokenOrID]; ok && t.clientID == clientID {
		delete(s.tokens, tokenOrID)
	}
	if t, ok := s.refresh[tokenOrID]; ok && t.clientID == clientID {
		delete(s.refresh, tokenOrID)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, refresh string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.refresh[refresh]; ok && t.clientID == clientID {
		return t.subject, refresh, nil
	}
	return "", "", op.ErrInvalidRefreshToken
}

// signingKey is the provider's RSA key; its public half is the key set.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) { return []op.Key{publicKey{s.key}}, nil }

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) == 1 {
		return nil
	}
	return errors.New("invalid client secret")
}

// userinfo fills the claims of a user that the scopes ask for, and the
// groups.
func (s *storage) userinfo(ui *oidc.UserInfo, subject string, scopes []string) error {
	s.mu.Lock()
	u, ok := s.users[subject]
	s.mu.Unlock()
	if !ok {
		return errNotFound
	}
	ui.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeEmail) {
		ui.Email, ui.EmailVerified = u.Email, oidc.Bool(u.Email != "")
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		ui.PreferredUsername, ui.Name, ui.GivenName = u.Username, u.Username, u.Username
	}
	if len(u.Groups) > 0 {
		ui.AppendClaims("groups", u.Groups)
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil // SetUserinfoFromRequest fills the ID token
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.userinfo(ui, r.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.expires.Before(time.Now()) {
		return errors.New("token is invalid or has expired")
	}
	return s.userinfo(ui, subject, t.scopes)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || !slices.Contains(t.audience, clientID) {
		return errors.New("token is invalid or has expired")
	}
	ui := new(oidc.UserInfo)
	if err := s.userinfo(ui, subject, t.scopes); err != nil {
		return err
	}
	r.SetUserInfo(ui)
	r.Scope, r.ClientID = t.scopes, t.clientID
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no JWT profile keys")
}

func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is a sign-in in progress.
type authRequest struct {
	id       string
	req      oidc.AuthRequest
	subject  string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string                      { return a.id }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string              { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.authTime }
func (a *authRequest) GetClientID() string                { return a.req.ClientID }
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}

// client is a registered web application: confidential, code flow.
type client struct{ Client }

func (c *client) GetID() string                       { return c.ID }
func (c *client) RedirectURIs() []string              { return []string{c.RedirectURI} }
func (c *client) PostLogoutRedirectURIs() []string    { return c.Client.PostLogoutRedirectURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string            { return LoginPath + "?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *client) DevMode() bool                        { return true }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string { //nolint:revive // op.Client names it so
	return func(scopes []string) []string { return scopes }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
