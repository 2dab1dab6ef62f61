package routes

import (
	"net"
	"strings"

	"golang.org/x/net/idna"
)

// Host names are normalised in one place, NormalizeHost, for routing (both
// directions), for route hosts and passthrough entries as loaded, and for
// the outbound proxy's checks (the CONNECT host, each request's Host, the
// TLS SNI, the destination dialled): brackets around an IPv6 address and
// one trailing dot are removed, the name is lower-cased, and a name with
// non-ASCII letters becomes its IDNA A-label form (UTS #46 lookup mapping:
// "Bücher.example" is "xn--bcher-kva.example"). So every spelling of one
// name matches the same routes and is checked as one destination.

// NormalizeHost returns host (without port) in its one compared form; ""
// when host is a non-ASCII name with no IDNA form (it then matches only
// the route host "*", and the outbound proxy refuses it as a bad host).
func NormalizeHost(host string) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(a, ".")
		}
	}
	return strings.ToLower(host)
}

// NormalizePattern is NormalizeHost for a host pattern ("*", "*.suffix"
// or a name): a route's host, an outbound passthrough entry. A pattern
// with no IDNA form is returned as it is (it then matches no host).
func NormalizePattern(p string) string {
	if p == "*" {
		return p
	}
	if s, ok := strings.CutPrefix(p, "*."); ok {
		if n := NormalizeHost(s); n != "" {
			return "*." + n
		}
		return p
	}
	if n := NormalizeHost(p); n != "" {
		return n
	}
	return p
}

// SplitHost splits a request's host ("host", "host:port", "[v6]:port",
// "[v6]") into the host, normalised (NormalizeHost), and the port ("" when
// there is none).
func SplitHost(h string) (host, port string) {
	host = h
	// Without a colon net.SplitHostPort fails (missing port), allocating
	// its error: a Host without a port, the usual case behind a load
	// balancer, is taken as it is without asking it.
	if strings.IndexByte(h, ':') >= 0 {
		if hh, p, err := net.SplitHostPort(h); err == nil {
			host, port = hh, p
		}
	}
	return NormalizeHost(host), port
}
