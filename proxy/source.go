package proxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/aliasgate/aliasgate/routes"
)

// Sources finds the address a request came from, for the limits that apply
// per sender (internal/abuse through vault.Actor.Source). The peer is the
// source unless it is one of the trusted proxies (load balancers): then the
// source is the rightmost X-Forwarded-For address that is not a trusted
// proxy, which is the one the nearest trusted proxy saw (addresses further
// left were written by the client and prove nothing). A nil *Sources
// trusts no proxy.
type Sources struct {
	trusted []netip.Prefix
}

// NewSources returns Sources trusting the given prefixes.
func NewSources(trusted []netip.Prefix) *Sources {
	return &Sources{trusted: trusted}
}

// Of returns r's source address (without port), or "" when the peer's
// address cannot be read.
func (s *Sources) Of(r *http.Request) string {
	peer, text, ok := parseAddrText(r.RemoteAddr)
	if !ok {
		return ""
	}
	if !s.Trusted(peer) {
		if text != "" {
			return text // peer.String(), without formatting it again
		}
		return peer.String()
	}
	src := peer
	fields := r.Header.Values("X-Forwarded-For")
	for i := len(fields) - 1; i >= 0; i-- {
		parts := strings.Split(fields[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseAddr(strings.TrimSpace(parts[j]))
			if !ok {
				// A malformed hop: trust nothing further left.
				return src.String()
			}
			src = a
			if !s.Trusted(a) {
				return a.String()
			}
		}
	}
	return src.String()
}

// Trusted reports whether a is one of the trusted proxies (the inbound
// listener's per-source connection bound does not count them either).
func (s *Sources) Trusted(a netip.Addr) bool {
	if s == nil {
		return false
	}
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads an address, with or without a port or brackets
// (routes.SplitHost: the one host rule), as its unmapped form.
func parseAddr(s string) (netip.Addr, bool) {
	a, _, ok := parseAddrText(s)
	return a, ok
}

// parseAddrText is parseAddr that also returns the address's text as
// Addr.String writes it when s spells it so, else "": an IPv4 address
// (netip.ParseAddr takes only its dotted decimal form, no leading zero)
// is written as it was read (TestSourcesOfAgainstString).
func parseAddrText(s string) (netip.Addr, string, bool) {
	host, _ := routes.SplitHost(s)
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, "", false
	}
	if a.Is4() {
		return a, host, true
	}
	return a.Unmap().WithZone(""), "", true
}
