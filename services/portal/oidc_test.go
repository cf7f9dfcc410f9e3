package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/config"
	"github.com/leap-dev/leap/services/internal/demoidp"
	"github.com/leap-dev/leap/services/internal/redistest"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// The single sign-on tests run a real OpenID provider (zitadel/oidc's
// example provider, with its login form) inside the test, and a portal
// configured for it with LEAP's roster in a real Redis.

const (
	portalClient = "leap-portal"
	portalSecret = "portal-secret"
	otherClient  = "library-app"
	otherSecret  = "library-secret"
	idpPassword  = "idp-password"
)

// idpGroups are the provider's groups: a tutor, a student, a teaching
// assistant (a student in the staff group) and a member of staff LEAP has
// never heard of.
var idpGroups = map[string][]string{"u-t1": {"staff", "maths"}, "u-s1": {"students"}, "u-s3": {"students", "staff"}, "u-z8": {"staff"}}

type ssoFixture struct {
	portal, idp string
	rdb         *redis.Client
	// tamper, when set, rewrites the provider's token and UserInfo
	// responses on their way to the portal.
	tamper atomic.Pointer[func(path string, body map[string]any)]
	// skew moves the portal's clock.
	skew atomic.Int64
}

func startSSO(t *testing.T, configure func(*OIDC)) *ssoFixture {
	t.Helper()
	return startSSOWith(t, configure, nil)
}

// startSSOWith is startSSO with the portal's registration at the provider
// edited first; by default the provider may send a browser back to LEAP's
// sign-in page after its sign-out, as make run's demo provider does.
func startSSOWith(t *testing.T, configure func(*OIDC), register func(*demoidp.Client)) *ssoFixture {
	t.Helper()
	f := &ssoFixture{}
	var idpHandler, portalHandler http.Handler
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { idpHandler.ServeHTTP(w, r) }))
	t.Cleanup(idp.Close)
	portalTS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { portalHandler.ServeHTTP(w, r) }))
	t.Cleanup(portalTS.Close)
	f.idp, f.portal = idp.URL, portalTS.URL

	var users []demoidp.User
	for id, name := range map[string]string{"u-s1": "s1", "u-t1": "t1", "u-s2": "s2", "u-s3": "s3", "u-x1": "x1", "u-z9": "z9", "u-z8": "z8"} {
		email := name + "@uni.example"
		if name == "s2" {
			email = "Ben.Student@Uni.example"
		}
		users = append(users, demoidp.User{ID: id, Username: name, Password: idpPassword, Email: email, Groups: idpGroups[id]})
	}
	callback := f.portal + CallbackPath
	portal := demoidp.Client{ID: portalClient, Secret: portalSecret, RedirectURI: callback, PostLogoutRedirectURIs: []string{f.portal + "/login"}}
	if register != nil {
		register(&portal)
	}
	idpHandler = demoidp.New(f.idp, users, []demoidp.Client{
		portal,
		{ID: otherClient, Secret: otherSecret, RedirectURI: callback},
	})

	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	l, err := policy.ParseFile("test", b)
	must(t, err)
	pol := policy.Static(l)
	rdb := redistest.Start(t).Client(t)
	f.rdb = rdb
	ctx := context.Background()
	must(t, store.PutStudents(ctx, rdb, []store.Student{
		{ID: "s1", Name: "Ada Student", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s2", Name: "Ben Student", Email: "ben.student@uni.example", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT"},
		{ID: "s3", Name: "Cai Assistant", Department: "Maths", Course: "PhD Maths", Year: 1, Level: "pgr", Mode: "FT"},
		{ID: "x1", Name: "Xan Exchange", Department: "Maths", Course: "BSc Maths", Year: 1, Level: "ug", Mode: "FT", Exchange: true},
	}))
	must(t, store.PutStaff(ctx, rdb, []store.Staff{{ID: "t1", Name: "Dr Tutor", Department: "Maths", Role: "tutor"}}))
	must(t, store.PutTutors(ctx, rdb, []store.Tutoring{{Staff: "t1", Student: "s1"}}))

	log := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }
	sco := server.New(server.Options{Name: "scoring", Logger: log})
	(&scoring.Service{Redis: rdb, Policy: pol, Now: clock, CacheTTL: time.Minute}).Register(sco.Echo, sco.Registry)
	scoringTS := httptest.NewServer(sco.Echo)
	t.Cleanup(scoringTS.Close)

	cfg := &OIDC{
		Issuer: f.idp, ClientID: portalClient, ClientSecret: portalSecret, RedirectURL: callback,
		PersonClaim: DefaultPersonClaim, StaffClaim: DefaultStaffClaim, StaffValues: DefaultStaffValues, Scopes: DefaultScopes,
		SessionKey: testSessionKey(t),
		HTTPClient: &http.Client{Transport: tamperer{f}},
	}
	if configure != nil {
		configure(cfg)
	}
	// The test is the proxy in front of the portal, so that a test can
	// come from many addresses.
	ps := server.New(server.Options{Name: "portal", Logger: log, TrustedProxies: server.LoopbackProxies})
	newPortal(t, ps.Echo, Config{Redis: rdb, Policy: pol, ScoringURL: scoringTS.URL, OIDC: cfg, Now: clock})
	portalHandler = ps.Echo
	return f
}

// rewrite makes the provider's answers at path reach the portal as edit
// leaves them, until rewrite is called with a nil edit.
func (f *ssoFixture) rewrite(path string, edit func(body map[string]any)) {
	if edit == nil {
		f.tamper.Store(nil)
		return
	}
	fn := func(p string, body map[string]any) {
		if p == path {
			edit(body)
		}
	}
	f.tamper.Store(&fn)
}

// tamperer passes the portal's requests to the provider, rewriting token
// responses when the test asks: an attacker or a broken provider.
type tamperer struct{ f *ssoFixture }

func (t tamperer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	fn := t.f.tamper.Load()
	if err != nil || fn == nil || (r.URL.Path != demoidp.TokenPath && r.URL.Path != demoidp.UserInfoPath) {
		return resp, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	(*fn)(r.URL.Path, body)
	b, _ := json.Marshal(body)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// browser is a person's browser: it follows redirects except the portal's
// own after sign-in, so the test sees where the portal sends them.
func (f *ssoFixture) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), f.portal) && r.URL.Path != CallbackPath && r.URL.Path != "/auth/login" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var formID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// answer is the portal's last answer at the end of a sign-in.
type answer struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    string
}

// signIn goes from the portal's button through the provider's login form,
// with rewrite applied to the authorization URL, and returns the portal's
// last answer.
func (f *ssoFixture) signIn(t *testing.T, c *http.Client, username string, rewrite func(url.Values)) answer {
	t.Helper()
	return f.signInFrom(t, c, "/auth/login", username, rewrite)
}

// signInFrom is signIn starting at start, such as /auth/login?next=PATH.
func (f *ssoFixture) signInFrom(t *testing.T, c *http.Client, start, username string, rewrite func(url.Values)) answer {
	t.Helper()
	noFollow := noRedirect(c)
	resp, err := noFollow.Get(f.portal + start)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/auth/login: %d, want 302", resp.StatusCode)
	}
	auth, err := url.Parse(resp.Header.Get("Location"))
	must(t, err)
	q := auth.Query()
	for k, want := range map[string]string{"client_id": portalClient, "response_type": "code", "code_challenge_method": "S256", "redirect_uri": f.portal + CallbackPath} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s=%q, want %q", k, got, want)
		}
	}
	if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge") == "" {
		t.Errorf("authorization request without state, nonce or PKCE challenge: %s", auth)
	}
	if rewrite != nil {
		rewrite(q)
		auth.RawQuery = q.Encode()
	}
	_, page := fetch(t, c, auth.String())
	m := formID.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form at the provider:\n%s", page)
	}
	resp, err = c.PostForm(f.idp+demoidp.LoginPath, url.Values{"id": {m[1]}, "username": {username}, "password": {idpPassword}})
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, cookies: resp.Cookies(), body: string(b)}
}

// signedInAs checks that the browser holds a session and where the portal
// sends it: /me for a student, /students for a tutor.
func (f *ssoFixture) signedInAs(t *testing.T, c *http.Client, home string) {
	t.Helper()
	resp, err := noRedirect(c).Get(f.portal + "/")
	must(t, err)
	resp.Body.Close()
	if got := resp.Header.Get("Location"); got != home {
		t.Fatalf("after sign-in / sends to %q, want %q", got, home)
	}
}

// nobodySignedIn checks that a refused sign-in left no session behind.
func (f *ssoFixture) nobodySignedIn(t *testing.T, c *http.Client, cookies []*http.Cookie) {
	t.Helper()
	for _, ck := range cookies {
		if ck.Name == sessionCookie && ck.Value != "" {
			t.Errorf("a refused sign-in set a session cookie")
		}
	}
	f.signedInAs(t, c, "/login")
}

func TestSingleSignOnStudentAndTutor(t *testing.T) {
	f := startSSO(t, nil)

	student := f.browser()
	a := f.signIn(t, student, "s1", nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/" {
		t.Fatalf("student sign-in answered %d to %q", a.status, a.header.Get("Location"))
	}
	f.signedInAs(t, student, "/me")
	if code, page := fetch(t, student, f.portal+"/me"); code != http.StatusOK || !strings.Contains(page, "Ada Student") {
		t.Fatalf("/me after single sign-on: %d\n%s", code, page)
	}

	tutor := f.browser()
	f.signIn(t, tutor, "t1", nil)
	f.signedInAs(t, tutor, "/students")

	// A student who also works for the university is in the staff group
	// but not on the staff roster: they sign in as the student they are.
	assistant := f.browser()
	f.signIn(t, assistant, "s3", nil)
	f.signedInAs(t, assistant, "/me")
	if code, page := fetch(t, tutor, f.portal+"/students/s1"); code != http.StatusOK || !strings.Contains(page, "Ada Student") {
		t.Fatalf("the tutor's tutee after single sign-on: %d", code)
	}

	// Sign-out ends the session and lands on LEAP's sign-in page, which
	// offers to go on to the provider's end-session endpoint with the ID
	// token as the hint and the sign-in page as the way back.
	resp, err := noRedirect(student).PostForm(f.portal+"/logout", url.Values{})
	must(t, err)
	resp.Body.Close()
	if to := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || to != "/login?signed-out" {
		t.Errorf("sign-out answered %d to %q, want LEAP's sign-in page", resp.StatusCode, to)
	}
	if _, page := fetch(t, student, f.portal+"/login?signed-out"); !strings.Contains(page, "You have signed out of LEAP") || !strings.Contains(page, `href="`+ProviderSignOutPath+`"`) {
		t.Errorf("the sign-in page after sign-out:\n%s", page)
	}
	resp, err = noRedirect(student).Get(f.portal + ProviderSignOutPath)
	must(t, err)
	resp.Body.Close()
	end, err := url.Parse(resp.Header.Get("Location"))
	must(t, err)
	if !strings.HasPrefix(end.String(), f.idp+"/") || end.Query().Get("id_token_hint") == "" || end.Query().Get("post_logout_redirect_uri") != f.portal+"/login" {
		t.Errorf("signing out of the provider too sent the student to %s, want the provider's end-session endpoint with a hint and a way back", end)
	}
	// The offer is used up: the sign-in page makes it no more.
	if _, page := fetch(t, student, f.portal+"/login"); strings.Contains(page, ProviderSignOutPath) {
		t.Errorf("the sign-in page still offers the provider's sign-out")
	}
	f.signedInAs(t, student, "/login")
	f.signedInAs(t, tutor, "/students") // one person's sign-out is not another's
}

func TestSingleSignOnByEmail(t *testing.T) {
	f := startSSO(t, func(o *OIDC) { o.PersonClaim = "email" })
	c := f.browser()
	f.signIn(t, c, "s2", nil) // the provider says Ben.Student@Uni.example
	f.signedInAs(t, c, "/me")
	if _, page := fetch(t, c, f.portal+"/me"); !strings.Contains(page, "Ben Student") {
		t.Fatalf("signed in by email, but /me is not Ben's")
	}

	// An address the provider says it has not verified names nobody.
	f.rewrite(demoidp.UserInfoPath, func(body map[string]any) {
		body["email_verified"] = false
	})
	c = f.browser()
	a := f.signIn(t, c, "s2", nil)
	if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "not verified") {
		t.Errorf("an unverified email answered %d:\n%s", a.status, a.body)
	}
	f.nobodySignedIn(t, c, a.cookies)

	// Nor does one the provider says nothing about.
	f.rewrite(demoidp.UserInfoPath, func(body map[string]any) {
		delete(body, "email_verified")
	})
	c = f.browser()
	if a := f.signIn(t, c, "s2", nil); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "not verified") {
		t.Errorf("an email without email_verified answered %d:\n%s", a.status, a.body)
	}
	f.nobodySignedIn(t, c, a.cookies)

	// "true" as a string, as some providers send it, is verified.
	f.rewrite(demoidp.UserInfoPath, func(body map[string]any) {
		body["email_verified"] = "true"
	})
	c = f.browser()
	f.signIn(t, c, "s2", nil)
	f.signedInAs(t, c, "/me")
	f.rewrite(demoidp.UserInfoPath, nil)
}

// TestSingleSignOnRefusals: each way a sign-in can be wrong is refused with
// its own plain message, and leaves nobody signed in.
func TestSingleSignOnRefusals(t *testing.T) {
	f := startSSO(t, nil)

	// A token the provider issued to another application, for the same
	// person, swapped into the portal's token response.
	otherToken := f.tokenFor(t, otherClient, otherSecret, "s1")

	cases := []struct {
		name, user, want string
		rewrite          func(url.Values)
		tamper           func(map[string]any) // the token response
		skew             time.Duration
	}{
		{name: "wrong audience", user: "s1", want: "issued for another application",
			tamper: func(b map[string]any) { b["id_token"] = otherToken }},
		{name: "expired token", user: "s1", want: "expired", skew: 2 * time.Hour},
		{name: "bad signature", user: "s1", want: "could not verify your sign-in",
			tamper: func(b map[string]any) { b["id_token"] = resign(t, b["id_token"].(string)) }},
		{name: "nonce mismatch", user: "s1", want: "does not belong to this browser",
			rewrite: func(q url.Values) { q.Set("nonce", "a-nonce-the-portal-never-made") }},
		{name: "unknown user", user: "z9", want: "LEAP has no student z9"},
		{name: "unknown member of staff", user: "z8", want: "LEAP has no member of staff z8"},
		{name: "exchange student", user: "x1", want: "Students on exchange cannot sign in"},
		{name: "no id token", user: "s1", want: "sent no identity",
			tamper: func(b map[string]any) { delete(b, "id_token") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tamper != nil {
				f.rewrite(demoidp.TokenPath, tc.tamper)
				defer f.rewrite(demoidp.TokenPath, nil)
			}
			f.skew.Store(int64(tc.skew))
			defer f.skew.Store(0)
			c := f.browser()
			a := f.signIn(t, c, tc.user, tc.rewrite)
			if a.status != http.StatusUnauthorized || !strings.Contains(a.body, tc.want) {
				t.Errorf("answered %d, want 401 saying %q:\n%s", a.status, tc.want, a.body)
			}
			f.nobodySignedIn(t, c, a.cookies)
		})
	}

	t.Run("replayed state", func(t *testing.T) {
		c := f.browser()
		var callback, sealed string
		c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(r.URL.String(), f.portal+CallbackPath) {
				callback = r.URL.String()
				sealed = stateCookieOf(c, r.URL)
			}
			if r.URL.String() == f.portal+"/" {
				return http.ErrUseLastResponse
			}
			return nil
		}
		f.signIn(t, c, "s1", nil)
		if callback == "" {
			t.Fatal("the provider never sent the browser back")
		}
		state, _ := url.Parse(callback)
		// Someone who saw the callback URL and the state cookie tries it again.
		// The state cookie itself, sent again with the callback, is refused
		// too: the portal remembers the states of finished sign-ins.
		replay := f.browser()
		u, _ := url.Parse(f.portal)
		replay.Jar.SetCookies(u, []*http.Cookie{{Name: stateCookie, Value: sealed}})
		resp, err := replay.Get(callback)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "expired or was already used") {
			t.Errorf("a callback replayed with its sealed state cookie answered %d:\n%s", resp.StatusCode, b)
		}
		f.nobodySignedIn(t, replay, resp.Cookies())
		attacker := f.browser()
		attacker.Jar.SetCookies(u, []*http.Cookie{{Name: stateCookie, Value: state.Query().Get("state")}})
		resp, err = attacker.Get(callback)
		must(t, err)
		defer resp.Body.Close()
		b, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "expired or was already used") {
			t.Errorf("replayed callback answered %d:\n%s", resp.StatusCode, b)
		}
		f.nobodySignedIn(t, attacker, resp.Cookies())
	})

	t.Run("provider refuses", func(t *testing.T) {
		// The person cancels at the provider, which says so on the callback.
		c := f.browser()
		r, err := c.Get(f.portal + CallbackPath + "?error=access_denied&error_description=cancelled&state=" + url.QueryEscape(f.startState(t, c)))
		must(t, err)
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "did not sign you in") {
			t.Errorf("a provider error answered %d:\n%s", r.StatusCode, b)
		}
		f.nobodySignedIn(t, c, r.Cookies())
	})

	t.Run("userinfo for someone else", func(t *testing.T) {
		f.rewrite(demoidp.UserInfoPath, func(body map[string]any) {
			body["sub"] = "u-t1"
		})
		defer f.rewrite(demoidp.UserInfoPath, nil)
		c := f.browser()
		a := f.signIn(t, c, "s1", nil)
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "two different identities") {
			t.Errorf("a UserInfo answer for another subject: %d\n%s", a.status, a.body)
		}
		f.nobodySignedIn(t, c, a.cookies)
	})

	t.Run("callback from another browser", func(t *testing.T) {
		// The state is valid but this browser never started the sign-in.
		state := f.startState(t, f.browser())
		victim := f.browser()
		r, err := victim.Get(f.portal + CallbackPath + "?code=stolen&state=" + url.QueryEscape(state))
		must(t, err)
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "started in another browser") {
			t.Errorf("a callback without the browser's state cookie answered %d:\n%s", r.StatusCode, b)
		}
		f.nobodySignedIn(t, victim, r.Cookies())
	})
}

// startState starts a sign-in in browser c, stopping before the provider,
// and returns its state.
func (f *ssoFixture) startState(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, err := noRedirect(c).Get(f.portal + "/auth/login")
	must(t, err)
	resp.Body.Close()
	auth, err := url.Parse(resp.Header.Get("Location"))
	must(t, err)
	return auth.Query().Get("state")
}

// tokenFor runs the code flow for another client of the same provider
// and returns its ID token.
func (f *ssoFixture) tokenFor(t *testing.T, client, secret, user string) string {
	t.Helper()
	cfg := oauth2.Config{ClientID: client, ClientSecret: secret, RedirectURL: f.portal + CallbackPath, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: f.idp + "/auth", TokenURL: f.idp + demoidp.TokenPath}}
	var code string
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), f.portal+CallbackPath) {
			code = r.URL.Query().Get("code")
			return http.ErrUseLastResponse
		}
		return nil
	}}
	_, page := fetch(t, c, cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("nonce", "n")))
	m := formID.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form for %s:\n%s", client, page)
	}
	resp, err := c.PostForm(f.idp+demoidp.LoginPath, url.Values{"id": {m[1]}, "username": {user}, "password": {idpPassword}})
	must(t, err)
	resp.Body.Close()
	tok, err := cfg.Exchange(context.Background(), code)
	must(t, err)
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		t.Fatalf("no ID token for %s", client)
	}
	return id
}

// resign signs a token's claims with a key that is not the provider's,
// under the provider's key id: a forgery.
func resign(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	must(t, err)
	var h struct {
		KID string `json:"kid"`
	}
	must(t, json.Unmarshal(header, &h))
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", h.KID).WithType("JWT"))
	must(t, err)
	jws, err := signer.Sign(payload)
	must(t, err)
	forged, err := jws.CompactSerialize()
	must(t, err)
	if forged == token {
		t.Fatal(errors.New("the forgery equals the original"))
	}
	return forged
}

func TestOIDCFromEnv(t *testing.T) {
	env := func(vars map[string]string) *envFor { return &envFor{vars} }
	if o := OIDCFromEnv(env(nil).config()); o != nil {
		t.Errorf("no issuer, but OIDC = %+v", o)
	}
	e := env(map[string]string{
		"PORTAL_OIDC_ISSUER": "https://id.uni.example", "PORTAL_OIDC_CLIENT_ID": "leap",
		"PORTAL_OIDC_REDIRECT_URL": "https://leap.uni.example/auth/callback", "PORTAL_OIDC_STAFF_VALUES": "staff,faculty",
		"PORTAL_OIDC_SCOPES": "openid email groups", "SESSION_KEY": strings.Repeat("k", minSessionKey),
	}).config()
	o := OIDCFromEnv(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	if o.PersonClaim != "preferred_username" || o.StaffClaim != "groups" || strings.Join(o.StaffValues, "|") != "staff|faculty" || strings.Join(o.Scopes, "|") != "openid|email|groups" {
		t.Errorf("OIDC = %+v", o)
	}
	for name, vars := range map[string]map[string]string{
		"no client id":        {"PORTAL_OIDC_ISSUER": "https://id", "PORTAL_OIDC_REDIRECT_URL": "https://leap/auth/callback"},
		"no openid scope":     {"PORTAL_OIDC_ISSUER": "https://id", "PORTAL_OIDC_CLIENT_ID": "x", "PORTAL_OIDC_REDIRECT_URL": "https://leap/auth/callback", "PORTAL_OIDC_SCOPES": "email"},
		"wrong callback path": {"PORTAL_OIDC_ISSUER": "https://id", "PORTAL_OIDC_CLIENT_ID": "x", "PORTAL_OIDC_REDIRECT_URL": "https://leap/callback"},
		"relative callback":   {"PORTAL_OIDC_ISSUER": "https://id", "PORTAL_OIDC_CLIENT_ID": "x", "PORTAL_OIDC_REDIRECT_URL": "/auth/callback"},
		"no session key":      {"PORTAL_OIDC_ISSUER": "https://id", "PORTAL_OIDC_CLIENT_ID": "x", "PORTAL_OIDC_REDIRECT_URL": "https://leap/auth/callback"},
		"short session key":   {"PORTAL_OIDC_ISSUER": "https://id", "PORTAL_OIDC_CLIENT_ID": "x", "PORTAL_OIDC_REDIRECT_URL": "https://leap/auth/callback", "SESSION_KEY": "short"},
	} {
		e := env(vars).config()
		OIDCFromEnv(e)
		if e.Err() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

type envFor struct{ vars map[string]string }

func (e *envFor) config() *config.Env {
	return &config.Env{Lookup: func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok }}
}

// TestPasswordSignInOff: without local accounts the page offers only the
// university's sign-in, and the password form's endpoint does not exist.
func TestPasswordSignInOff(t *testing.T) {
	f := startSSO(t, nil)
	code, page := fetch(t, http.DefaultClient, f.portal+"/login")
	if code != http.StatusOK || !strings.Contains(page, `href="/auth/login"`) || strings.Contains(page, `type="password"`) {
		t.Errorf("sign-in page without local accounts: %d\n%s", code, page)
	}
	resp, err := http.PostForm(f.portal+"/login", url.Values{"username": {"s1"}, "password": {"x"}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /login without local accounts: %d, want 404", resp.StatusCode)
	}
}

// TestSingleSignOnInBrowser: a student signs in through the provider in a
// real headless Chromium, sees their page and signs out: they land on
// LEAP's own sign-in page, told they are signed out, whatever the provider
// would answer. Signing out of the provider too is a separate link; when
// the provider refuses the way back, the person is signed out of LEAP all
// the same and the browser's Back returns to LEAP.
func TestSingleSignOnInBrowser(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(*demoidp.Client)
	}{
		{"the provider sends the browser back", nil},
		{"the provider refuses the way back", func(c *demoidp.Client) { c.PostLogoutRedirectURIs = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startSSOWith(t, nil, tc.register)
			ctx := browser(t)
			screenshotOnFailure(t, ctx, "single-sign-on")
			at := func(want string) {
				t.Helper()
				where, err := chromedp.Run(ctx, chromedp.Location())
				if err != nil || where != want {
					t.Fatalf("the browser is at %q (%v), want %s", where, err, want)
				}
			}
			err := chromedp.Do(ctx,
				chromedp.Navigate(f.portal+"/login"),
				chromedp.Click(chromedp.CSS(`a[href="/auth/login"]`)),
				chromedp.WaitVisible(chromedp.ID("password")),
				chromedp.SendKeys(chromedp.ID("username"), "s1"),
				chromedp.SendKeys(chromedp.ID("password"), idpPassword),
				chromedp.Submit(chromedp.ID("password")),
				chromedp.WaitVisible(chromedp.ID("band")),
			)
			must(t, err)
			at(f.portal + "/me")

			must(t, chromedp.Do(ctx, chromedp.Submit(chromedp.CSS(`form[action="/logout"]`)), chromedp.WaitNotPresent(chromedp.ID("band")),
				chromedp.WaitReady(chromedp.CSS("main"))))
			at(f.portal + "/login?signed-out")
			notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			must(t, err)
			if !strings.Contains(notice, "You have signed out of LEAP.") || !strings.Contains(notice, "Also sign out of your university account") {
				t.Errorf("the sign-in page after sign-out says %q", notice)
			}
			must(t, injectAxe(ctx))
			found, err := axeCheck(ctx, "")
			must(t, err)
			for _, v := range found {
				t.Errorf("the sign-in page after sign-out: %s", v)
			}

			must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#provider-sign-out a`)), chromedp.WaitReady(chromedp.CSS("body"))))
			if tc.register == nil {
				must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`a[href="/auth/login"]`))))
				at(f.portal + "/login")
			} else {
				where, err := chromedp.Run(ctx, chromedp.Location())
				if err != nil || !strings.HasPrefix(where, f.idp+"/") {
					t.Fatalf("after the refused way back the browser is at %q (%v), want the provider's page", where, err)
				}
				// Back, as a person would. A page restored from the
				// browser's cache fires no load event, and chromedp's
				// selectors lose track of it: ask the page itself.
				_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`history.back(), true`))
				must(t, err)
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					back, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("signed-out") !== null`))
					if err == nil && back {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("Back from the provider did not return to LEAP's sign-in page (%v)", err)
					}
				}
				at(f.portal + "/login?signed-out")
			}
			must(t, chromedp.Do(ctx, chromedp.Navigate(f.portal+"/me"), chromedp.WaitVisible(chromedp.CSS(`a[href="/auth/login"]`))))
			at(f.portal + "/login")
			offer, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#provider-sign-out").length`))
			if err != nil || offer != 0 {
				t.Errorf("the sign-in page still offers the provider's sign-out (%d, %v)", offer, err)
			}
		})
	}
}

// TestSingleSignOnProviderDown: a portal whose provider cannot be reached
// still serves, and says so to whoever tries to sign in.
func TestSingleSignOnProviderDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	f := startSSO(t, func(o *OIDC) { o.Issuer = down.URL })
	code, page := fetch(t, f.browser(), f.portal+"/auth/login")
	if code != http.StatusServiceUnavailable || !strings.Contains(page, "cannot be reached") {
		t.Errorf("sign-in with the provider down: %d\n%s", code, page)
	}
	if code, _ := fetch(t, f.browser(), f.portal+"/login"); code != http.StatusOK {
		t.Errorf("the sign-in page with the provider down: %d", code)
	}
}

// TestSingleSignOnRoleFollowsTheRoster: a member of staff signed in through
// the provider loses the session when the roster changes their role, and
// signs in again with the new one.
func TestSingleSignOnRoleFollowsTheRoster(t *testing.T) {
	f := startSSO(t, nil)
	c := f.browser()
	f.signIn(t, c, "t1", nil)
	f.signedInAs(t, c, "/students")
	must(t, store.PutStaff(context.Background(), f.rdb, []store.Staff{{ID: "t1", Name: "Dr Tutor", Department: "Maths", Role: "leap-team"}}))
	f.signedInAs(t, c, "/login")
	f.signIn(t, c, "t1", nil)
	f.signedInAs(t, c, "/admin")
}

// TestSingleSignOnOneSessionPerBrowser: signing in again ends the session
// the browser held.
func TestSingleSignOnOneSessionPerBrowser(t *testing.T) {
	f := startSSO(t, nil)
	c := f.browser()
	f.signIn(t, c, "s1", nil)
	u, _ := url.Parse(f.portal)
	first := sessionCookieOf(c, u)
	f.signIn(t, c, "s1", nil)
	if second := sessionCookieOf(c, u); second == first || second == "" {
		t.Fatalf("the second sign-in kept session %q", second)
	}
	if n := f.rdb.Exists(context.Background(), sessionKey(first)).Val(); n != 0 {
		t.Error("the first session outlived the second sign-in")
	}
}

// TestSingleSignOnStartsLeaveNoState: starting a sign-in, which anyone can
// do from anywhere, writes nothing to Redis, so a client on many addresses
// cannot fill it with pending sign-ins. (It failed when each start kept its
// state, and a counter per address, in Redis.)
func TestSingleSignOnStartsLeaveNoState(t *testing.T) {
	f := startSSO(t, nil)
	ctx := context.Background()
	before := f.rdb.DBSize(ctx).Val()
	c := noRedirect(f.browser())
	for i := range 300 {
		req, _ := http.NewRequest(http.MethodGet, f.portal+"/auth/login", nil)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/250, i%250+1))
		resp, err := c.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start %d: %d", i, resp.StatusCode)
		}
	}
	if after := f.rdb.DBSize(ctx).Val(); after != before {
		keys, _ := f.rdb.Keys(ctx, "leap:oidc:*").Result()
		t.Errorf("300 sign-in starts from 300 addresses left %d keys in Redis, want none (%d leap:oidc:* keys)", after-before, len(keys))
	}
	// Sign-in itself still works.
	c = f.browser()
	f.signIn(t, c, "s1", nil)
	f.signedInAs(t, c, "/me")
}

// TestSingleSignOnStateCookie: a state cookie that was altered, has
// expired, is missing, or belongs to another sign-in is refused with a
// plain 401 on the sign-in page, and signs nobody in.
func TestSingleSignOnStateCookie(t *testing.T) {
	f := startSSO(t, nil)
	u, _ := url.Parse(f.portal)
	// callbackWith starts a sign-in in a fresh browser, lets edit change
	// its state cookie, and sends the provider's callback.
	callbackWith := func(t *testing.T, edit func(c *http.Client, sealed string)) (int, string, *http.Client, []*http.Cookie) {
		t.Helper()
		c := f.browser()
		state := f.startState(t, c)
		edit(c, stateCookieOf(c, u))
		resp, err := c.Get(f.portal + CallbackPath + "?code=c&state=" + url.QueryEscape(state))
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), c, resp.Cookies()
	}
	setState := func(c *http.Client, v string) {
		c.Jar.SetCookies(u, []*http.Cookie{{Name: stateCookie, Value: v}})
	}
	cases := []struct {
		name, want string
		edit       func(c *http.Client, sealed string)
		skew       time.Duration
	}{
		{name: "altered", want: "expired or was already used", edit: func(c *http.Client, sealed string) {
			b := []byte(sealed)
			i := len(b) / 2 // a character of the ciphertext, for another letter
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			setState(c, string(b))
		}},
		{name: "truncated", want: "expired or was already used", edit: func(c *http.Client, sealed string) { setState(c, sealed[:len(sealed)-4]) }},
		{name: "sealed with another key", want: "expired or was already used", edit: func(c *http.Client, sealed string) {
			other, err := newStateSealer(testSessionKey(t))
			must(t, err)
			if p, err := other.open(sealed, time.Now()); err == nil {
				t.Errorf("another key opened the cookie: %+v", p)
			}
			setState(c, other.seal(pendingSignIn{State: "s", Nonce: "n", Verifier: "v", Return: "/", Expires: time.Now().Add(time.Minute).Unix()}))
		}},
		{name: "expired", want: "expired or was already used", skew: signInWindow + time.Second, edit: func(*http.Client, string) {}},
		{name: "missing", want: "started in another browser", edit: func(c *http.Client, _ string) {
			c.Jar.SetCookies(u, []*http.Cookie{{Name: stateCookie, MaxAge: -1}})
		}},
		{name: "another sign-in's", want: "started in another browser", edit: func(c *http.Client, _ string) {
			other := f.browser()
			f.startState(t, other)
			setState(c, stateCookieOf(other, u))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edit := tc.edit
			if tc.skew != 0 {
				edit = func(*http.Client, string) { f.skew.Store(int64(tc.skew)) }
				defer f.skew.Store(0)
			}
			code, page, c, cookies := callbackWith(t, edit)
			if code != http.StatusUnauthorized || !strings.Contains(page, tc.want) || !strings.Contains(page, `href="/auth/login"`) {
				t.Errorf("answered %d, want 401 on the sign-in page saying %q:\n%s", code, tc.want, page)
			}
			cleared := false
			for _, ck := range cookies {
				cleared = cleared || ck.Name == stateCookie && ck.MaxAge < 0
			}
			if !cleared {
				t.Error("the refusal did not clear the state cookie")
			}
			f.nobodySignedIn(t, c, cookies)
		})
	}
}

// TestSingleSignOnReturnPath: a sign-in started with next= lands there
// afterwards (the path travels in the sealed cookie), and only on a path
// of this portal.
func TestSingleSignOnReturnPath(t *testing.T) {
	f := startSSO(t, nil)
	for next, want := range map[string]string{
		"/students/s1?tab=records": "/students/s1?tab=records",
		"//evil.example/x":         "/",
		"https://evil.example/":    "/",
		"/\\evil.example":          "/",
		"":                         "/",
	} {
		c := f.browser()
		a := f.signInFrom(t, c, "/auth/login?next="+url.QueryEscape(next), "t1", nil)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != want {
			t.Errorf("next=%q: sign-in answered %d to %q, want %q", next, a.status, a.header.Get("Location"), want)
		}
	}
}

// TestStateCookieFlags: the state cookie is HttpOnly, SameSite=Lax, lives
// no longer than the sign-in window, and behind TLS is __Host- prefixed.
func TestStateCookieFlags(t *testing.T) {
	f := startSSO(t, nil)
	resp, err := noRedirect(f.browser()).Get(f.portal + "/auth/login")
	must(t, err)
	resp.Body.Close()
	var got *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == stateCookie {
			got = ck
		}
	}
	if got == nil || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.MaxAge <= 0 || got.MaxAge > int(signInWindow.Seconds()) || got.Path != "/" {
		t.Fatalf("state cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Max-Age at most %v", got, signInWindow)
	}
	if strings.Contains(got.Value, "leap") || len(got.Value) < 100 {
		t.Errorf("state cookie value %q does not look sealed", got.Value)
	}
	p := &Portal{Config: Config{SecureCookies: true}}
	if name := p.cookieName(stateCookie); name != "__Host-"+stateCookie {
		t.Errorf("behind TLS the state cookie is %q", name)
	}
}

func testSessionKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, minSessionKey)
	_, err := rand.Read(k)
	must(t, err)
	return k
}

func stateCookieOf(c *http.Client, u *url.URL) string {
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == stateCookie {
			return ck.Value
		}
	}
	return ""
}

func sessionCookieOf(c *http.Client, u *url.URL) string {
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			return ck.Value
		}
	}
	return ""
}
