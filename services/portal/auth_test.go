package portal

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// TestSessionIdleExpiry: a session lives idleTimeout after its last use,
// pushed back at most once a sessionRefresh, and is gone once idle.
func TestSessionIdleExpiry(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
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
	if d := ttl(); d < idleTimeout-time.Second || d > idleTimeout {
		t.Fatalf("a new session lives %v, want %v", d, idleTimeout)
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
