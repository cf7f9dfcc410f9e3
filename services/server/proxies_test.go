package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestClientAddressBelievesTrustedProxiesOnly: X-Forwarded-For is read
// only when the peer is a configured proxy, and then only past hops that
// are proxies themselves; with none configured, it is never read.
func TestClientAddressBelievesTrustedProxiesOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		xff     string
		want    string
	}{
		{"no proxies: the header is ignored", nil, "203.0.113.9", "127.0.0.1"},
		{"the peer is a proxy", LoopbackProxies, "203.0.113.9", "203.0.113.9"},
		{"a forged hop before the proxy's is not believed", LoopbackProxies, "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{"a private hop is not a proxy unless listed", LoopbackProxies, "203.0.113.9, 10.1.2.3", "10.1.2.3"},
		{"a listed private hop is", append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, LoopbackProxies...), "203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{"the peer is not a listed proxy", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "203.0.113.9", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Name: "test", Logger: slog.New(slog.DiscardHandler), TrustedProxies: tc.trusted})
			s.Echo.GET("/ip", func(c echo.Context) error { return c.String(http.StatusOK, c.RealIP()) })
			ts := httptest.NewServer(s.Echo)
			defer ts.Close()
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/ip", nil)
			req.Header.Set("X-Forwarded-For", tc.xff)
			req.Header.Set("X-Real-IP", "192.0.2.200") // never believed
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := string(b); got != tc.want {
				t.Errorf("client address %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.168.1.7 fd00::/8,\n::1 10.1.2.3/16")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %v, want %s", i, got[i], want[i])
		}
	}
	if got, err := ParseTrustedProxies("  "); err != nil || len(got) != 0 {
		t.Errorf("blank: %v, %v; want none", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "ten.0.0.0/8", "10.0.0", "fe80::1%eth0", "10.0.0.0/8;", "*", "0x0a000000", strings.Repeat("10.0.0.1,", maxTrustedProxies+1)} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%.40q was taken", bad)
		}
	}
}

// FuzzParseTrustedProxies: any input is read or refused, never a panic, and
// what is read is a list of valid, masked prefixes.
func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "10.0.0.0/8,fd00::/8 127.0.0.1", "", "1.2.3.4/40", "fe80::1%eth0", "::ffff:10.0.0.1/104"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := ParseTrustedProxies(v)
		if err != nil {
			return
		}
		if len(got) > maxTrustedProxies {
			t.Fatalf("%d proxies taken", len(got))
		}
		for _, p := range got {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("%q gave %v", v, p)
			}
		}
	})
}
