package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/services/server"
)

// TestSessionIdleExpiry: a session lives idleTimeout after its last use,
// pushed back at most once a sessionRefresh, and is gone once idle.
func TestSessionIdleExpiry(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	signedIn := time.Now()
	c, _, _ := f.login(t, "t1", password)
	u, _ := url.Parse(f.url)
	var id string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			id = ck.Value
		}
	}
	ctx := context.Background()
	key := sessionKey(id)
	ttl := func() time.Duration {
		d, err := f.rdb.PTTL(ctx, key).Result()
		must(t, err)
		return d
	}
	// Set during the sign-in, which a loaded machine may take a while over.
	if d := ttl(); d < idleTimeout-time.Since(signedIn) || d > idleTimeout {
		t.Fatalf("a new session lives %v, want %v from its sign-in %v ago", d, idleTimeout, time.Since(signedIn))
	}
	get := func() string {
		resp, err := noRedirect(c).Get(f.url + "/students")
		must(t, err)
		resp.Body.Close()
		return resp.Header.Get("Location")
	}

	// Used within the last minute: left as it is, no write.
	must(t, f.rdb.PExpire(ctx, key, idleTimeout-10*time.Second).Err())
	if loc := get(); loc != "" {
		t.Fatalf("a live session was sent to %q", loc)
	}
	if d := ttl(); d > idleTimeout-10*time.Second {
		t.Errorf("a session used a moment ago was pushed back to %v", d)
	}
	// Idle twenty minutes, then used: another idleTimeout from now.
	must(t, f.rdb.PExpire(ctx, key, 10*time.Minute).Err())
	get()
	if d := ttl(); d < idleTimeout-time.Second {
		t.Errorf("a session used after twenty idle minutes lives %v, want %v", d, idleTimeout)
	}
	// Idle past the timeout: gone, and the next request signs in again.
	must(t, f.rdb.PExpire(ctx, key, time.Millisecond).Err())
	time.Sleep(5 * time.Millisecond)
	if loc := get(); loc != "/login" {
		t.Errorf("an expired session was sent to %q, want /login", loc)
	}
}

// TestLoginRefusesLongUsernamesAndClearsOnSuccess: a username too long to
// be anyone's is refused before Redis keeps a key named after it, and a
// good password clears the account's count of attempts.
func TestLoginRefusesLongUsernamesAndClearsOnSuccess(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	long := strings.Repeat("x", maxUsernameLen+1)
	if _, code, _ := f.login(t, long, password); code != http.StatusUnauthorized {
		t.Errorf("a %d-character username: %d, want 401", len(long), code)
	}
	if n := f.rdb.Exists(ctx, "leap:login:user:"+long).Val(); n != 0 {
		t.Error("a key was kept for a username nobody can have")
	}
	for range 2 {
		f.login(t, "s1", "wrong")
	}
	if n, _ := f.rdb.Get(ctx, "leap:login:user:s1").Int(); n != 2 {
		t.Fatalf("attempts counted %d, want 2", n)
	}
	if _, code, _ := f.login(t, "s1", password); code != http.StatusOK {
		t.Fatalf("good password: %d", code)
	}
	if n := f.rdb.Exists(ctx, "leap:login:user:s1").Val(); n != 0 {
		t.Error("a good password left the count of failed attempts")
	}
}

// TestMalformedIDNamesNobody: an id no roster can hold is a 404 without a
// look in Redis and without an audit entry, so it cannot grow the log.
func TestMalformedIDNamesNobody(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	c, _, _ := f.login(t, "t1", password)
	ctx := context.Background()
	before := f.rdb.XLen(ctx, AuditStream).Val()
	for _, id := range []string{strings.Repeat("a", 65), "s1%20x", "%7Bs1%7D", "s1%0A"} {
		if code, _ := fetch(t, c, f.url+"/students/"+id); code != http.StatusNotFound {
			t.Errorf("/students/%s: %d, want 404", id, code)
		}
	}
	if after := f.rdb.XLen(ctx, AuditStream).Val(); after != before {
		t.Errorf("malformed ids added %d audit entries", after-before)
	}
	// A well-formed id of nobody is still an audited refusal.
	fetch(t, c, f.url+"/students/s9")
	if after := f.rdb.XLen(ctx, AuditStream).Val(); after != before+1 {
		t.Errorf("a refusal for a well-formed id: %d audit entries, want 1", after-before)
	}
}

// TestLoginLimitsCountFailuresInAFixedWindow: sign-ins that succeed never
// use up an address's allowance (a campus shares one), and a failure does
// not push back the end of the window the first one opened.
func TestLoginLimitsCountFailuresInAFixedWindow(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	for i := range perAddressLimit + 5 {
		if _, code, body := f.login(t, "t1", password); code != http.StatusOK {
			t.Fatalf("sign-in %d from one address: %d\n%s", i, code, body)
		}
	}
	f.login(t, "s1", "wrong")
	key := "leap:login:user:s1"
	must(t, f.rdb.PExpire(ctx, key, 10*time.Second).Err())
	f.login(t, "s1", "wrong again")
	if d := f.rdb.PTTL(ctx, key).Val(); d > 10*time.Second || d <= 0 {
		t.Errorf("a second failure moved the window's end to %v from now", d)
	}
	if n, _ := f.rdb.Get(ctx, key).Int(); n != 2 {
		t.Errorf("failures counted %d, want 2", n)
	}
}

// TestSessionAbsoluteExpiryCookiesAndLogout: a session older than the
// absolute limit is gone however recently it was used; the session cookie
// is HttpOnly and SameSite=Lax; sign-out from another site is refused.
func TestSessionAbsoluteExpiryCookiesAndLogout(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := noRedirect(c).PostForm(f.url+"/login", url.Values{"username": {"t1"}, "password": {password}})
	must(t, err)
	resp.Body.Close()
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == sessionCookie {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/", ck)
	}

	// Sign-out sent from another site changes nothing.
	if status, _ := postFrom(t, c, evilOrigin, f.url+"/logout", url.Values{}); status != http.StatusForbidden || f.rdb.Exists(ctx, sessionKey(ck.Value)).Val() != 1 {
		t.Errorf("sign-out from another site: %d, and the session is %s", status, map[int64]string{0: "gone", 1: "kept"}[f.rdb.Exists(ctx, sessionKey(ck.Value)).Val()])
	}

	// Thirteen hours after sign-in the session is over, used or not.
	raw, err := f.rdb.Get(ctx, sessionKey(ck.Value)).Bytes()
	must(t, err)
	var s Session
	must(t, json.Unmarshal(raw, &s))
	s.Created = now.Add(-absoluteTimeout - time.Hour)
	raw, _ = json.Marshal(s)
	must(t, f.rdb.Set(ctx, sessionKey(ck.Value), raw, idleTimeout).Err())
	resp, err = noRedirect(c).Get(f.url + "/students")
	must(t, err)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/login" {
		t.Errorf("a session past its absolute limit was sent to %q, want /login", loc)
	}
	if f.rdb.Exists(ctx, sessionKey(ck.Value)).Val() != 0 {
		t.Error("a session past its absolute limit is still in Redis")
	}
}

// TestLoginLimitHoldsUnderConcurrency: wrong passwords for one account sent
// at once are counted before any is checked, so no more than the limit are
// ever evaluated, however many arrive together.
func TestLoginLimitHoldsUnderConcurrency(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	const n = 40
	attempts := make([]*http.Client, n)
	for i := range attempts {
		jar, _ := cookiejar.New(nil)
		attempts[i] = &http.Client{Jar: jar}
	}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	bodies := make([]string, n)
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			resp, err := a.PostForm(f.url+"/login", url.Values{"username": {"s2"}, "password": {"guess"}})
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = string(b)
		}()
	}
	close(ready)
	wg.Wait()
	evaluated, refused := 0, 0
	for _, b := range bodies {
		switch {
		case strings.Contains(b, "do not match"):
			evaluated++
		case strings.Contains(b, "Too many attempts"):
			refused++
		default:
			t.Errorf("an attempt was answered neither way: %.200s", b)
		}
	}
	if evaluated > perAccountLimit || evaluated+refused != n {
		t.Errorf("%d concurrent wrong passwords: %d evaluated, %d refused; want at most %d evaluated", n, evaluated, refused, perAccountLimit)
	}
	if got, _ := f.rdb.Get(context.Background(), "leap:login:user:s2").Int(); got > perAccountLimit {
		t.Errorf("the account's count reached %d, over the limit %d", got, perAccountLimit)
	}
	if _, code, body := f.login(t, "s2", password); code != http.StatusUnauthorized || !strings.Contains(body, "Too many attempts") {
		t.Errorf("the right password after the burst: %d, want the limit's refusal", code)
	}
}

// TestForgedForwardedForDoesNotDodgeTheAddressLimit: with no trusted
// proxy configured (the default in a cluster), an X-Forwarded-For a client
// sets itself is not believed, so failures spread over accounts, each with
// a different forged address, still use up the one real address's
// allowance.
func TestForgedForwardedForDoesNotDodgeTheAddressLimit(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	evaluated := 0
	for i := range 60 {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		form := url.Values{"username": {fmt.Sprintf("guess%d", i%12)}, "password": {"wrong"}}
		req, err := http.NewRequest(http.MethodPost, f.url+"/login", strings.NewReader(form.Encode()))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		resp, err := c.Do(req)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "do not match") {
			evaluated++
		}
	}
	if evaluated > perAddressLimit {
		t.Errorf("60 failures from one address with forged X-Forwarded-For: %d evaluated, want at most %d", evaluated, perAddressLimit)
	}
}

// TestHostPrefixedCookiesWhenSecure: behind TLS (a cluster) every cookie
// is named __Host-…, Secure, Path=/ and without Domain, so a sibling
// subdomain cannot plant one; a cookie without the prefix is no session.
func TestHostPrefixedCookiesWhenSecure(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ps := server.New(server.Options{Name: "portal", Logger: slog.New(slog.DiscardHandler)})
	hash, err := HashPassword(password)
	must(t, err)
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	l, err := policy.ParseFile("test", b)
	must(t, err)
	newPortal(t, ps.Echo, Config{Redis: f.rdb, Policy: policy.Static(l), ScoringURL: "http://127.0.0.1:1", SecureCookies: true, Now: func() time.Time { return now },
		Users: map[string]User{"t1": {"t1", hash, "t1", RoleTutor}}})
	ts := httptest.NewServer(ps.Echo)
	defer ts.Close()

	checkCookie := func(ck *http.Cookie) {
		t.Helper()
		if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("cookie %s: Secure %v, Path %q, Domain %q; want __Host- prefixed, Secure, Path=/, no Domain", ck.Name, ck.Secure, ck.Path, ck.Domain)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/login", strings.NewReader(url.Values{"username": {"t1"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect(http.DefaultClient).Do(req)
	must(t, err)
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		checkCookie(ck)
		if strings.HasSuffix(ck.Name, sessionCookie) && ck.Value != "" {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in: %d, session cookie %v", resp.StatusCode, session)
	}
	get := func(name string) int {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/admin", nil)
		req.AddCookie(&http.Cookie{Name: name, Value: session.Value})
		resp, err := noRedirect(http.DefaultClient).Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/login" {
			return 0
		}
		return resp.StatusCode
	}
	if code := get(session.Name); code == 0 {
		t.Error("the __Host- session cookie is not taken")
	}
	if code := get(sessionCookie); code != 0 {
		t.Errorf("a session cookie without the prefix was taken: %d", code)
	}
}
