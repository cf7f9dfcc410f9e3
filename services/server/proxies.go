package server

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// maxTrustedProxies bounds the list: a proxy chain in front of a service
// is a handful of hops, and the list is checked on every request.
const maxTrustedProxies = 64

// ParseTrustedProxies reads a list of proxies whose X-Forwarded-For is
// believed: CIDRs (10.0.0.0/8, fd00::/8) or single addresses, separated by
// commas or spaces. Blank is none.
func ParseTrustedProxies(v string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(fields) > maxTrustedProxies {
		return nil, fmt.Errorf("%d trusted proxies: at most %d", len(fields), maxTrustedProxies)
	}
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		if pfx, err := netip.ParsePrefix(f); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(f)
		if err != nil || addr.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an address", f)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

// LoopbackProxies trusts a proxy on the same machine only: the default of
// a local run, where nothing but the machine itself can reach the ports.
var LoopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ipExtractor finds the client's address. With no trusted proxy it is the
// peer's: a header any client can set is believed from nobody. With some,
// X-Forwarded-For is read from the right, past the trusted hops only;
// echo's own defaults (any loopback or private hop) are switched off, as a
// campus or a cluster has private addresses that are not proxies.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
