package proxy

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestSourcesOf(t *testing.T) {
	trusted := NewSources([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")})
	for _, tc := range []struct {
		name   string
		s      *Sources
		peer   string
		xff    []string
		source string
	}{
		{"untrusted peer: header ignored", trusted, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"no trust at all", nil, "10.1.2.3:4000", []string{"198.51.100.1"}, "10.1.2.3"},
		{"trusted peer: rightmost untrusted", trusted, "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", trusted, "10.1.2.3:4000", []string{"1.1.1.1", "198.51.100.2", "10.0.0.7"}, "198.51.100.2"},
		{"client-written addresses left of it are not read", trusted, "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.3"}, "198.51.100.3"},
		{"only trusted hops: the leftmost", trusted, "10.1.2.3:4000", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"no header: the peer", trusted, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"malformed hop stops the walk", trusted, "10.1.2.3:4000", []string{"198.51.100.9, bogus, 10.0.0.2"}, "10.0.0.2"},
		{"IPv6 peer and mapped address", trusted, "[2001:db8::1]:443", []string{"::ffff:198.51.100.4"}, "198.51.100.4"},
		{"address with port in the header", trusted, "10.1.2.3:4000", []string{"[2001:db9::5]:1234"}, "2001:db9::5"},
		{"unreadable peer", trusted, "pipe", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.s.Of(r); got != tc.source {
				t.Fatalf("Of = %q, want %q", got, tc.source)
			}
		})
	}
}
