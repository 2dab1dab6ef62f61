package obs

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// maskHostParsed is maskHost without its byte pre-check (addrBytes): both
// parses asked of every Host. maskHost must answer as it does.
func maskHostParsed(h string) string {
	if ap, err := netip.ParseAddrPort(h); err == nil && ap.Addr().Zone() == "" {
		return h
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && a.Zone() == "" {
		return h
	}
	return pan.MaskShown(h)
}

var maskHostSeeds = []string{
	"", "shop.example", "shop.example:8443", "SHOP.EXAMPLE", "127.0.0.1", "127.0.0.1:8080", "10.41.11.111:1111",
	"[::1]", "[::1]:443", "::1", "::ffff:10.0.0.1", "[::ffff:10.0.0.1]:80", "fe80::1%eth0", "[fe80::1%4111111111111111]:80",
	"4111111111111111", "4111111111111111:80", "4111-1111-1111-1111.example", "[4111:1111:1111:1111::]",
	"abcdef", "1.2.3", "[[::1]]", "::", "[::]:0", "1.2.3.4%x", "dead:beef::1",
}

func TestMaskHostAsParsed(t *testing.T) {
	for _, h := range maskHostSeeds {
		if got, want := maskHost(h), maskHostParsed(h); got != want {
			t.Errorf("maskHost(%q) = %q, want %q", h, got, want)
		}
	}
}

func FuzzMaskHost(f *testing.F) {
	for _, h := range maskHostSeeds {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := maskHost(h), maskHostParsed(h); got != want {
			t.Errorf("maskHost(%q) = %q, want %q", h, got, want)
		}
	})
}
