// Package netguard is the checked dialer of the gateway's outbound calls:
// the outbound proxy's destinations and the webhook endpoints. It resolves a
// name itself, refuses loopback, private, link-local, metadata and other
// addresses no destination should have (ForbiddenAddr) unless private
// destinations are allowed, and dials the address it checked, never the
// name again, so a DNS answer cannot change between check and dial.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Resolver resolves destination host names (net.DefaultResolver fits).
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// ErrForbiddenDestination is wrapped by the dialer's refusals of a
// destination address (loopback, private, link-local, metadata, …).
var ErrForbiddenDestination = errors.New("netguard: forbidden destination address")

// ForbiddenError says why a destination was refused.
type ForbiddenError struct {
	Host   string
	Reason string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("netguard: destination %s refused: %s address", e.Host, e.Reason)
}

func (e *ForbiddenError) Unwrap() error { return ErrForbiddenDestination }

var (
	cgnat      = netip.MustParsePrefix("100.64.0.0/10")
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")
	benchmark  = netip.MustParsePrefix("198.18.0.0/15")
	ietfProto  = netip.MustParsePrefix("192.0.0.0/24")
	metadataV4 = netip.MustParseAddr("169.254.169.254")
	metadataV6 = netip.MustParseAddr("fd00:ec2::254")
	broadcast  = netip.MustParseAddr("255.255.255.255")
	// classE is 240.0.0.0/4, reserved for future use (RFC 1112); no
	// destination lives there.
	classE = netip.MustParsePrefix("240.0.0.0/4")
	// docNets are the documentation ranges (RFC 5737, RFC 3849) and the
	// IPv6 discard prefix (RFC 6666).
	docNets = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("100::/64"),
	}
	// embeddedV4 are the IPv6 prefixes whose addresses carry an IPv4
	// address that a translator or tunnel on the path may reach: NAT64
	// (RFC 6052 well-known and RFC 8215 local-use), 6to4 (RFC 3056),
	// Teredo (RFC 4380), IPv4-compatible addresses (RFC 4291, ::/96;
	// :: and ::1 are judged before) and IPv4-translated addresses (SIIT,
	// RFC 2765, ::ffff:0:0:0/96). 64:ff9b::a9fe:a9fe is the metadata
	// address through a NAT64 gateway.
	embeddedV4 = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("2002::/16"), netip.MustParsePrefix("2001::/32"),
		netip.MustParsePrefix("::/96"), netip.MustParsePrefix("::ffff:0:0:0/96"),
	}
	// siteLocal is the deprecated IPv6 site-local prefix (RFC 3879), which
	// networks that still use it route like a private range.
	siteLocal = netip.MustParsePrefix("fec0::/10")
)

// ForbiddenAddr reports whether the gateway must not dial ip unless
// private destinations are allowed, and why: loopback, private (RFC 1918,
// RFC 4193 fc00::/7), link-local (169.254/16, fe80::/10), CGNAT
// (100.64/10), unspecified, multicast, broadcast, this-network (0/8),
// IETF protocol assignments (192.0.0/24), benchmarking (198.18/15) and
// cloud metadata addresses, 240.0.0.0/4, the documentation ranges, and
// site-local IPv6 (fec0::/10, reason "private"), and every IPv6 address
// that embeds an IPv4 address: IPv4-mapped (::ffff:0:0/96), IPv4-compatible
// (::/96), IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96,
// 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32), reason
// "ipv4-embedded" (an
// IPv4-mapped address whose IPv4 address is itself refused gets that
// address's reason). The destination dialer unmaps what the resolver
// returns first (Go holds an A record as an IPv4-mapped slice), so only a
// literal IPv4-mapped destination is refused for its form.
func ForbiddenAddr(ip netip.Addr) (bool, string) {
	if !ip.IsValid() {
		return true, "invalid"
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if bad, why := ForbiddenAddr(ip.Unmap()); bad {
			return bad, why
		}
		return true, "ipv4-embedded"
	}
	switch {
	case ip == metadataV4 || ip == metadataV6:
		return true, "metadata"
	case ip.IsUnspecified():
		return true, "unspecified"
	case ip.IsLoopback():
		return true, "loopback"
	case ip.IsLinkLocalUnicast():
		return true, "link-local"
	case ip.IsPrivate(), siteLocal.Contains(ip):
		return true, "private"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return true, "multicast"
	case ip == broadcast:
		return true, "broadcast"
	case cgnat.Contains(ip):
		return true, "cgnat"
	case thisNet.Contains(ip):
		return true, "this-network"
	case ietfProto.Contains(ip), benchmark.Contains(ip), classE.Contains(ip), inAny(docNets, ip):
		return true, "reserved"
	case inAny(embeddedV4, ip):
		return true, "ipv4-embedded"
	}
	return false, ""
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Dialer resolves a destination itself, refuses forbidden addresses
// (unless private destinations are allowed) and dials the address it
// checked, never the name again, so a DNS answer cannot change between
// check and dial. Use NewDialer.
type Dialer struct {
	resolver     Resolver
	allowPrivate bool
	dialer       net.Dialer
	// Dial is the final dial of a checked address ("ip:port"); nil: a
	// net.Dialer with a 10 s timeout. Tests set it to see what is dialled.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewDialer returns a Dialer resolving through r (nil: net.DefaultResolver);
// allowPrivate lets it dial the addresses ForbiddenAddr refuses.
func NewDialer(r Resolver, allowPrivate bool) *Dialer {
	if r == nil {
		r = net.DefaultResolver
	}
	return &Dialer{resolver: r, allowPrivate: allowPrivate,
		dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
}

// Resolve returns the checked addresses of host (a name or a literal
// address). Any forbidden address among them refuses the whole host with a
// *ForbiddenError.
func (d *Dialer) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ias, err := d.resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("netguard: resolve %s: %w", host, err)
		}
		for _, ia := range ias {
			if a, ok := netip.AddrFromSlice(ia.IP); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("netguard: resolve %s: no addresses", host)
		}
	}
	if !d.allowPrivate {
		for _, a := range addrs {
			if bad, why := ForbiddenAddr(a); bad {
				return nil, &ForbiddenError{Host: host, Reason: why}
			}
		}
	}
	return addrs, nil
}

// DialContext dials addr (host:port) through Resolve: the checked
// addresses in turn until one answers.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := d.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	dial := d.Dial
	if dial == nil {
		dial = d.dialer.DialContext
	}
	var errs []error
	for _, a := range addrs {
		c, err := dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
