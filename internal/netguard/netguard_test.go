package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// mapResolver resolves fixed names; anything else fails.
type mapResolver map[string]string

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ip, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []net.IPAddr{{IP: net.ParseIP(ip)}}, nil
}

func TestForbiddenAddr(t *testing.T) {
	cases := []struct {
		ip     string
		bad    bool
		reason string
	}{
		{"127.0.0.1", true, "loopback"},
		{"127.8.9.10", true, "loopback"},
		{"::1", true, "loopback"},
		{"::ffff:127.0.0.1", true, "loopback"},
		{"10.0.0.1", true, "private"},
		{"172.16.5.4", true, "private"},
		{"172.31.255.255", true, "private"},
		{"192.168.1.1", true, "private"},
		{"::ffff:10.1.2.3", true, "private"},
		{"::ffff:192.168.0.1", true, "private"},
		{"fc00::1", true, "private"},
		{"fd12:3456::1", true, "private"},
		{"169.254.1.1", true, "link-local"},
		{"fe80::1", true, "link-local"},
		{"169.254.169.254", true, "metadata"},
		{"::ffff:169.254.169.254", true, "metadata"},
		{"fd00:ec2::254", true, "metadata"},
		{"100.64.0.1", true, "cgnat"},
		{"100.127.255.254", true, "cgnat"},
		{"0.0.0.0", true, "unspecified"},
		{"::", true, "unspecified"},
		{"0.1.2.3", true, "this-network"},
		{"224.0.0.1", true, "multicast"},
		{"239.1.1.1", true, "multicast"},
		{"ff02::1", true, "multicast"},
		{"255.255.255.255", true, "broadcast"},
		{"8.8.8.8", false, ""},
		{"172.32.0.1", false, ""},
		{"100.128.0.1", false, ""},
		{"2606:4700::1111", false, ""},
		{"::ffff:8.8.8.8", true, "ipv4-embedded"},
		// 240.0.0.0/4 and the documentation ranges.
		{"240.0.0.1", true, "reserved"},
		{"250.1.2.3", true, "reserved"},
		{"255.255.255.254", true, "reserved"},
		{"192.0.2.7", true, "reserved"},
		{"198.51.100.7", true, "reserved"},
		{"203.0.113.7", true, "reserved"},
		{"2001:db8::1", true, "reserved"},
		{"100::1", true, "reserved"},
		// Every IPv6 form that embeds an IPv4 address, public or not.
		{"64:ff9b::a9fe:a9fe", true, "ipv4-embedded"}, // NAT64 of the metadata address
		{"64:ff9b::7f00:1", true, "ipv4-embedded"},
		{"64:ff9b::808:808", true, "ipv4-embedded"},
		{"64:ff9b:1::a00:1", true, "ipv4-embedded"},
		{"64:ff9b:1:ffff::1", true, "ipv4-embedded"},
		{"2002:7f00:1::1", true, "ipv4-embedded"}, // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::", true, "ipv4-embedded"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", true, "ipv4-embedded"}, // Teredo
		{"2001::1", true, "ipv4-embedded"},
		{"::7f00:1", true, "ipv4-embedded"}, // IPv4-compatible 127.0.0.1
		{"::a9fe:a9fe", true, "ipv4-embedded"},
		{"::808:808", true, "ipv4-embedded"},
		{"::ffff:0:0", true, "unspecified"},
		{"::ffff:0:7f00:1", true, "ipv4-embedded"}, // IPv4-translated (SIIT) 127.0.0.1
		{"::ffff:0:a9fe:a9fe", true, "ipv4-embedded"},
		{"::ffff:0:808:808", true, "ipv4-embedded"},
		{"fec0::1", true, "private"}, // deprecated site-local
		{"feff:ffff::1", true, "private"},
		{"ff00::1", true, "multicast"},
		{"::fffe:0:7f00:1", false, ""},
		// Neighbours of those prefixes stay allowed.
		{"64:ff9c::1", false, ""},
		{"2003::1", false, ""},
		{"2001:1::1", false, ""},
		{"2001:4860:4860::8888", false, ""},
		{"239.255.255.255", true, "multicast"},
		{"223.255.255.255", false, ""},
		{"::1:0:0:1", false, ""},
		{"93.184.216.34", false, ""},
	}
	for _, c := range cases {
		bad, why := ForbiddenAddr(netip.MustParseAddr(c.ip))
		if bad != c.bad || why != c.reason {
			t.Errorf("ForbiddenAddr(%s) = %v %q, want %v %q", c.ip, bad, why, c.bad, c.reason)
		}
	}
	if bad, _ := ForbiddenAddr(netip.Addr{}); !bad {
		t.Error("the zero Addr is allowed")
	}
}

func TestDialerRefusesWithoutDialling(t *testing.T) {
	for _, ip := range []string{"10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "fd00:ec2::254"} {
		d := NewDialer(mapResolver{"psp.test": ip}, false)
		d.Dial = func(context.Context, string, string) (net.Conn, error) {
			t.Fatalf("dialled %s", ip)
			return nil, nil
		}
		_, err := d.DialContext(context.Background(), "tcp", "psp.test:443")
		if !errors.Is(err, ErrForbiddenDestination) {
			t.Fatalf("%s: err %v", ip, err)
		}
		_, err = d.DialContext(context.Background(), "tcp", net.JoinHostPort(ip, "443"))
		if !errors.Is(err, ErrForbiddenDestination) {
			t.Fatalf("%s literal: err %v", ip, err)
		}
	}
	// Allowed: the checked address is what gets dialled, not the name.
	d := NewDialer(mapResolver{"psp.test": "10.0.0.1"}, true)
	var dialled string
	d.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
		dialled = addr
		return nil, errors.New("not dialling in tests")
	}
	_, _ = d.DialContext(context.Background(), "tcp", "psp.test:443")
	if dialled != "10.0.0.1:443" {
		t.Fatalf("dialled %q", dialled)
	}
	d = NewDialer(mapResolver{"psp.test": "93.184.216.34"}, false)
	d.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
		dialled = addr
		return nil, errors.New("not dialling in tests")
	}
	_, _ = d.DialContext(context.Background(), "tcp", "psp.test:443")
	if dialled != "93.184.216.34:443" {
		t.Fatalf("dialled %q", dialled)
	}
}
