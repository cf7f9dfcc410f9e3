package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// Roles of portal users.
const (
	RoleStudent  = "student"
	RoleTutor    = "tutor"
	RoleStaff    = "staff"
	RoleLEAPTeam = "leap-team"
)

// User is a local account. Person is the roster id of the student or
// member of staff the account belongs to.
type User struct {
	Username     string `json:"username"`
	PasswordHash string `json:"passwordHash"` // bcrypt
	Person       string `json:"person"`
	Role         string `json:"role"`
}

// LoadUsers reads local accounts from a YAML or JSON list (a Secret's key,
// mounted, or a file locally).
func LoadUsers(path string) (map[string]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	var list []User
	if err := yaml.UnmarshalStrict(b, &list); err != nil {
		return nil, fmt.Errorf("users %s: %w", path, err)
	}
	users := map[string]User{}
	for i, u := range list {
		switch {
		case u.Username == "" || u.Person == "":
			return nil, fmt.Errorf("users %s: entry %d needs username and person", path, i)
		case !strings.HasPrefix(u.PasswordHash, "$2"):
			return nil, fmt.Errorf("users %s: %s: passwordHash must be a bcrypt hash", path, u.Username)
		}
		switch u.Role {
		case RoleStudent, RoleTutor, RoleStaff, RoleLEAPTeam:
		default:
			return nil, fmt.Errorf("users %s: %s: role %q: want student, tutor, staff or leap-team", path, u.Username, u.Role)
		}
		users[strings.ToLower(u.Username)] = u
	}
	return users, nil
}

// passwordCost is bcrypt's cost for new hashes. Tests lower it: under the
// race detector one hash at the default cost takes most of a second, and
// every sign-in checks one.
var passwordCost = bcrypt.DefaultCost

// HashPassword hashes a password for a users file.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	return string(h), err
}

// Session is a signed-in person, kept in Redis under an unguessable id.
type Session struct {
	User    string    `json:"user"`
	Person  string    `json:"person"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	// IDToken is the provider's ID token for a single sign-on, kept as the
	// hint for the provider's sign-out.
	IDToken string `json:"idToken,omitempty"`
}

// Session lifetimes: idle expiry is the Redis key's TTL, refreshed on use;
// the absolute expiry is checked against Created.
const (
	idleTimeout     = 30 * time.Minute
	absoluteTimeout = 12 * time.Hour
	sessionCookie   = "leap_session"
)

func sessionKey(id string) string { return store.SessionKey(id) }

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// dummyHash makes a failed login for an unknown user cost as much as one
// for a known user, so timing does not tell which usernames exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

// Login limits: failed attempts per account and per address in a fixed
// window from the first failure. Only failures count, so a campus behind
// one address is not locked out by its own successful sign-ins.
const (
	maxUsernameLen  = 128
	loginWindow     = 15 * time.Minute
	perAccountLimit = 5
	perAddressLimit = 50
)

var errTooMany = errors.New("too many attempts")

// takeAttempt counts an attempt against one key before the password is
// checked, and refuses it when the key's count has reached the limit: a
// read before the check and a write after it let every one of a burst of
// concurrent guesses through. One key per script, so that on a Redis
// Cluster the account's and the address's keys need not share a slot.
// KEYS[1] the count; ARGV[1] the limit, ARGV[2] the window in ms, which
// starts at the first attempt and is never pushed back.
var takeAttempt = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// giveBackAttempt returns an attempt takeAttempt counted, when the
// password was right: only failures use up an allowance, so a campus
// behind one address is not locked out by its own sign-ins. A count that
// expired meanwhile is left alone rather than taken below zero.
var giveBackAttempt = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n
`)

func accountKey(username string) string { return store.LoginAccountKey(username) }
func addressKey(addr string) string     { return store.LoginAddressKey(addr) }

// takeLoginAttempt counts an attempt against the account and the address,
// or refuses it with errTooMany when either has used its allowance; a
// refusal by the address gives the account's attempt back.
func (p *Portal) takeLoginAttempt(ctx context.Context, username, addr string) error {
	window := strconv.FormatInt(loginWindow.Milliseconds(), 10)
	ok, err := takeAttempt.Run(ctx, p.Redis, []string{accountKey(username)}, perAccountLimit, window).Int()
	if err != nil {
		return fmt.Errorf("count login attempt: %w", err)
	}
	if ok == 0 {
		return errTooMany
	}
	if ok, err = takeAttempt.Run(ctx, p.Redis, []string{addressKey(addr)}, perAddressLimit, window).Int(); err != nil || ok == 0 {
		if rerr := giveBackAttempt.Run(ctx, p.Redis, []string{accountKey(username)}).Err(); rerr != nil {
			return fmt.Errorf("give back login attempt: %w", rerr)
		}
		if err != nil {
			return fmt.Errorf("count login attempt: %w", err)
		}
		return errTooMany
	}
	return nil
}

// loginSucceeded clears the account's count of attempts and gives the
// address its attempt back.
func (p *Portal) loginSucceeded(ctx context.Context, username, addr string) error {
	if err := p.Redis.Del(ctx, accountKey(username)).Err(); err != nil {
		return fmt.Errorf("clear login attempts: %w", err)
	}
	if err := giveBackAttempt.Run(ctx, p.Redis, []string{addressKey(addr)}).Err(); err != nil {
		return fmt.Errorf("give back login attempt: %w", err)
	}
	return nil
}

// sessionRefresh is how often a session's idle expiry is pushed back:
// reading a session is then a read for Redis, not a write, on all but
// one request a minute; the idle timeout is met to within this.
const sessionRefresh = time.Minute

// sessionID is the id of the session the request's cookie names; "" when
// there is none.
func (p *Portal) sessionID(c echo.Context) string {
	ck, err := p.cookie(c, sessionCookie)
	if err != nil {
		return ""
	}
	return ck.Value
}

// session reads the request's session, refreshing its idle expiry when it
// was last refreshed more than sessionRefresh ago; nil when there is none.
func (p *Portal) session(c echo.Context) (*Session, error) {
	id := p.sessionID(c)
	if id == "" {
		return nil, nil
	}
	ctx := c.Request().Context()
	guess, _, _ := p.caches.sessions.get(id)
	pipe := p.Redis.Pipeline()
	r := p.queueSession(ctx, pipe, id, guess)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	s, _, err := p.finishSession(ctx, r)
	return s, err
}

// sessionRead is a session's read, queued in a pipeline so that it can go
// in one round trip with reads of what the session is asking for.
type sessionRead struct {
	id  string
	get *redis.StringCmd
	ttl *redis.DurationCmd
	// role is the roster role of the person of a single sign-on as staff,
	// read with the session when the session was guessed to be one.
	role *redis.StringCmd
}

// queueSession queues the read of session id in pipe; guess, when not
// nil, is what the session is expected to be.
func (p *Portal) queueSession(ctx context.Context, pipe redis.Pipeliner, id string, guess *Session) sessionRead {
	key := sessionKey(id)
	r := sessionRead{id: id, get: pipe.Get(ctx, key), ttl: pipe.PTTL(ctx, key)}
	if guess != nil && staffSignOn(guess) {
		r.role = pipe.HGet(ctx, store.StaffKey(guess.Person), "role")
	}
	return r
}

// staffSignOn tells a session of staff signed in through the provider,
// whose role the roster decides.
func staffSignOn(s *Session) bool { return s.IDToken != "" && s.Role != RoleStudent }

// finishSession reads the session from r's answers: nil when there is none
// or it has ended, with the stored value it was read from. A session's
// value never changes once written (it is only refreshed or deleted), so
// the portal remembers what it read under the session's id: the next
// request can then read the session in one round trip with what it needs,
// on the guess that it is still this one.
func (p *Portal) finishSession(ctx context.Context, r sessionRead) (*Session, string, error) {
	raw, err := r.get.Result()
	if errors.Is(err, redis.Nil) {
		p.caches.sessions.drop(r.id)
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	s, known, ok := p.caches.sessions.get(r.id)
	if !ok || known != raw {
		s = &Session{}
		if err := json.Unmarshal([]byte(raw), s); err != nil {
			return nil, "", nil //nolint:nilerr // an unreadable session is no session: sign in again
		}
		p.caches.sessions.set(r.id, raw, *s)
	}
	key := sessionKey(r.id)
	if p.now().Sub(s.Created) > absoluteTimeout {
		p.caches.sessions.drop(r.id)
		_ = p.Redis.Del(ctx, key).Err()
		return nil, "", nil
	}
	// After a single sign-on the role came from the roster; when the
	// roster changes it (someone leaves the LEAP team, or leaves), the
	// session ends rather than keep the old rights for hours.
	if staffSignOn(s) {
		role := r.role
		if role == nil {
			role = p.Redis.HGet(ctx, store.StaffKey(s.Person), "role")
		}
		got, err := role.Result()
		gone := errors.Is(err, redis.Nil)
		if err != nil && !gone {
			return nil, "", err
		}
		if gone || staffRole(got) != s.Role {
			p.caches.sessions.drop(r.id)
			_ = p.Redis.Del(ctx, key).Err()
			return nil, "", nil
		}
	}
	if r.ttl.Val() < idleTimeout-sessionRefresh {
		if err := p.Redis.Expire(ctx, key, idleTimeout).Err(); err != nil {
			return nil, "", err
		}
	}
	return s, raw, nil
}

// sessionGuesses remember each session as last read, by id, for
// finishSession.
type sessionGuesses struct {
	mu sync.Mutex
	by map[string]sessionGuess
}

type sessionGuess struct {
	raw     string
	session Session
}

// get is a copy of the session remembered under id, and the value it was
// read from.
func (g *sessionGuesses) get(id string) (*Session, string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.by[id]
	if !ok {
		return nil, "", false
	}
	s := e.session
	return &s, e.raw, true
}

func (g *sessionGuesses) set(id, raw string, s Session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by == nil || len(g.by) >= 1<<16 {
		g.by = map[string]sessionGuess{} // sessions in use: a university fits
	}
	g.by[id] = sessionGuess{raw: raw, session: s}
}

func (g *sessionGuesses) drop(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.by, id)
}

// cookieName is a cookie's name as the browser holds it: behind TLS (a
// cluster) with the __Host- prefix, which browsers accept only Secure,
// with Path=/ and no Domain, so a page on a sibling subdomain cannot plant
// or overwrite it (a planted session cookie). Plain-HTTP local
// runs keep the bare name, which a browser would refuse with the prefix.
func (p *Portal) cookieName(name string) string {
	if p.SecureCookies {
		return "__Host-" + name
	}
	return name
}

// cookie reads a cookie set by setCookie.
func (p *Portal) cookie(c echo.Context, name string) (*http.Cookie, error) {
	return c.Cookie(p.cookieName(name))
}

func (p *Portal) setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: p.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: p.SecureCookies || c.Request().TLS != nil,
	})
}

// errCrossOrigin answers a form that a browser sent from another site.
var errCrossOrigin = server.Problem(http.StatusForbidden, "This form was sent from another site, so LEAP did not take it. Open LEAP and send it from there.")

// refuseCrossOrigin refuses every form post (any method but GET, HEAD and
// OPTIONS) that a browser sends from another origin, as
// net/http.CrossOriginProtection tells: by Sec-Fetch-Site, or, from a
// browser too old to send it, by Origin against Host. That is what a
// forged cross-site form is; with the cookies SameSite=Lax besides, a
// form needs no token of its own, so no page carries one. Requests with
// neither header come from no browser and go on to the session check.
func (p *Portal) refuseCrossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if err := p.crossOrigin.Check(r); err != nil {
			p.log.WarnContext(r.Context(), "cross-origin form refused", slog.String("path", r.URL.Path),
				slog.String("origin", r.Header.Get("Origin")), slog.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")))
			return errCrossOrigin
		}
		return next(c)
	}
}

// exchangeRefusal tells an exchange student why they cannot sign in.
const exchangeRefusal = "Students on exchange cannot sign in to LEAP this year. Your home university's advisers can help instead."

// signOnRoutes adds the single sign-on routes when OIDC is configured.
func (p *Portal) signOnRoutes(e *echo.Echo) {
	if p.sso == nil {
		return
	}
	e.GET("/auth/login", p.startSignOn)
	e.GET(CallbackPath, p.signOnCallback)
	e.GET(ProviderSignOutPath, p.signOutAtProvider)
}

// showLogin shows the sign-in page: a button for the university's sign-in
// when OIDC is configured, the password form when local accounts are on,
// and, just after a sign-out from a single sign-on, the offer to sign out
// of the provider too.
func (p *Portal) showLogin(c echo.Context, status int, data loginPage) error {
	data.SSO, data.Local = p.sso != nil, p.Users != nil
	data.ProviderSignOut = p.offersProviderSignOut(c)
	return p.render(c, status, "login.html", data)
}

// signInFailed shows the sign-in page with what went wrong.
func (p *Portal) signInFailed(c echo.Context, status int, msg string) error {
	return p.showLogin(c, status, loginPage{Error: msg})
}

// getLogin shows the sign-in page. It takes no message from the URL: a
// link must not be able to put words of its choosing on this page; the
// signedOutQuery flag only picks the page's own notice.
func (p *Portal) getLogin(c echo.Context) error {
	_, out := c.QueryParams()[signedOutQuery]
	return p.showLogin(c, http.StatusOK, loginPage{SignedOut: out})
}

// signedOutQuery marks the sign-in page that sign-out lands on.
const signedOutQuery = "signed-out"

func (p *Portal) postLogin(c echo.Context) error {
	if p.Users == nil {
		return server.Problem(http.StatusNotFound, "Password sign-in is switched off; sign in with your university account.")
	}
	ctx := c.Request().Context()
	username := strings.ToLower(strings.TrimSpace(c.FormValue("username")))
	fail := func(msg string) error {
		return p.showLogin(c, http.StatusUnauthorized, loginPage{Error: msg, Username: username})
	}
	if len(username) > maxUsernameLen {
		return fail("That username and password do not match.") // and no key named after it
	}
	// The attempt is counted before the password is checked, and given
	// back once the password proves right.
	if err := p.takeLoginAttempt(ctx, username, c.RealIP()); err != nil {
		if errors.Is(err, errTooMany) {
			return fail("Too many attempts. Wait a quarter of an hour and try again.")
		}
		return err
	}
	u, known := p.Users[username]
	hash := dummyHash
	if known {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(c.FormValue("password"))) != nil || !known {
		return fail("That username and password do not match.")
	}
	// A good password clears the account's count of attempts; the
	// address's failures stand.
	if err := p.loginSucceeded(ctx, username, c.RealIP()); err != nil {
		return err
	}
	if u.Role == RoleStudent {
		st, ok, err := store.GetStudent(ctx, p.Redis, u.Person)
		if err != nil {
			return err
		}
		if ok && st.Exchange && !p.Policy.Current().Doc.Privacy.ExchangeStudentsCanLogIn {
			return fail(exchangeRefusal)
		}
	}
	return p.startSession(c, Session{User: u.Username, Person: u.Person, Role: u.Role}, "/")
}

// startSession signs a person in: a new session id (never one the browser
// brought), and the way home: to home, a path on this portal.
func (p *Portal) startSession(c echo.Context, s Session, home string) error {
	ctx := c.Request().Context()
	id := randomID()
	s.Created = p.now()
	b, _ := json.Marshal(s)
	pipe := p.Redis.Pipeline()
	// A session the browser still held ends: one browser, one person.
	if old := p.sessionID(c); old != "" {
		p.caches.sessions.drop(old)
		pipe.Del(ctx, sessionKey(old))
	}
	pipe.Set(ctx, sessionKey(id), b, idleTimeout)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	p.setCookie(c, sessionCookie, id, int(absoluteTimeout.Seconds()))
	// An offer to sign out of the provider belongs to the session before.
	if _, err := p.cookie(c, signOutCookie); err == nil {
		p.setCookie(c, signOutCookie, "", -1)
	}
	return c.Redirect(http.StatusSeeOther, home)
}

// postLogout ends the session and always lands on LEAP's own sign-in page,
// saying so. After a single sign-on the person stays signed in at the
// provider; the sign-in page then offers, as a separate link, to sign out
// there too (ProviderSignOutPath). Sending every sign-out through the
// provider would leave the person wherever the provider chooses: its
// error page when it refuses the way back, as some do.
func (p *Portal) postLogout(c echo.Context) error {
	s, err := p.session(c)
	if err != nil {
		return err
	}
	if s != nil {
		id := p.sessionID(c)
		p.caches.sessions.drop(id)
		if err := p.Redis.Del(c.Request().Context(), sessionKey(id)).Err(); err != nil {
			return err
		}
		if v := p.providerSignOut(s); v != "" {
			p.setCookie(c, signOutCookie, v, int(signOutWindow.Seconds()))
		}
	}
	p.setCookie(c, sessionCookie, "", -1)
	return c.Redirect(http.StatusSeeOther, "/login?"+signedOutQuery)
}
