package proxy

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// prevPeerString is what Sources.Of returned for an untrusted peer before
// it kept the text of an IPv4 address (the copy the differential tests
// compare with): parseAddr's address, formatted.
func prevPeerString(remote string) string {
	host, _ := routes.SplitHost(remote)
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return a.Unmap().WithZone("").String()
}

// peerSpellings returns peer addresses as a RemoteAddr or a client may
// spell them: IPv4 with leading zeros, octets past 255, mapped and
// bracketed forms, IPv6 in upper case, with zones, trailing dots, ports or
// none, and random dotted quads.
func peerSpellings() []string {
	out := []string{"203.0.113.5:4000", "127.0.0.1:1", "0.0.0.0:0", "255.255.255.255:65535", "010.1.2.3:4",
		"1.2.3.256:4", "1.2.3:4", "1.2.3.4.:4", "[1.2.3.4]:4", "1.2.3.4", "[::ffff:1.2.3.4]:5", "::ffff:1.2.3.4",
		"[::FFFF:7F00:1]:5", "[2001:DB8::1]:443", "[fe80::1%eth0]:4", "fe80::1%25eth0", "[::1]:80", "pipe", "",
		":80", "1.2.3.4:", "1.2.3.4:x", " 1.2.3.4:5", "1.2.3.4 :5", "0x1.2.3.4:5", "1.2.3.04:5", "١.2.3.4:5"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		oct := func() string {
			switch rnd.IntN(6) {
			case 0:
				return fmt.Sprintf("0%d", rnd.IntN(100))
			case 1:
				return fmt.Sprint(rnd.IntN(1000))
			default:
				return fmt.Sprint(rnd.IntN(256))
			}
		}
		out = append(out, fmt.Sprintf("%s.%s.%s.%s:%d", oct(), oct(), oct(), oct(), rnd.IntN(65536)),
			fmt.Sprintf("[::ffff:%d.%d.%d.%d]:1", rnd.IntN(256), rnd.IntN(256), rnd.IntN(256), rnd.IntN(256)))
	}
	return out
}

// TestSourcesOfAgainstString: the source of an untrusted peer, read from
// the RemoteAddr's text when it spells an IPv4 address, is what formatting
// the parsed address gave, for every spelling of peerSpellings.
func TestSourcesOfAgainstString(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	for _, s := range []*Sources{nil, NewSources([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})} {
		for _, peer := range peerSpellings() {
			r.RemoteAddr = peer
			if got, want := s.Of(r), prevPeerString(peer); got != want {
				t.Fatalf("Of(%q) = %q, want %q", peer, got, want)
			}
		}
	}
}

// FuzzSourcesOfAgainstString: Sources.Of of an untrusted peer against
// formatting the parsed address.
func FuzzSourcesOfAgainstString(f *testing.F) {
	for _, p := range peerSpellings()[:30] {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, peer string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = peer
		if got, want := (*Sources)(nil).Of(r), prevPeerString(peer); got != want {
			t.Fatalf("Of(%q) = %q, want %q", peer, got, want)
		}
	})
}
