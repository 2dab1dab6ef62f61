package proxy

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestOutboundEmbeddedV4Refused dials, through the live proxy with private
// destinations refused, names that resolve to IPv6 forms embedding an IPv4
// address and to 240.0.0.0/4, and literal IPv4-mapped destinations (one of
// which, ::ffff:127.0.0.1, would reach the processor listening on
// loopback): every CONNECT and plain request is refused with 403
// forbidden_destination naming the reason, and the processor gets nothing.
func TestOutboundEmbeddedV4Refused(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{passthrough: []string{"::ffff:127.0.0.1", "::ffff:8.8.8.8", "64:ff9b::a9fe:a9fe"}})
	addr := g.srv.Listener.Addr().String()
	for _, c := range []struct{ target, reason string }{
		{"nat64.example.com:" + psp.port(), "ipv4-embedded"},
		{"nat64local.example.com:" + psp.port(), "ipv4-embedded"},
		{"sixtofour.example.com:" + psp.port(), "ipv4-embedded"},
		{"teredo.example.com:" + psp.port(), "ipv4-embedded"},
		{"compat.example.com:" + psp.port(), "ipv4-embedded"},
		{"classe.example.com:" + psp.port(), "reserved"},
		{"[::ffff:127.0.0.1]:" + psp.port(), "loopback"},
		{"[::ffff:8.8.8.8]:443", "ipv4-embedded"},
		{"[64:ff9b::a9fe:a9fe]:443", "ipv4-embedded"},
	} {
		resp, _, _ := rawConnect(t, addr, c.target, "cli", "s3cret")
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "forbidden_destination") || !strings.Contains(body, c.reason) {
			t.Errorf("CONNECT %s: status %d: %s", c.target, resp.StatusCode, body)
		}
	}
	// Plain HTTP to an embedded loopback address (passthrough entry): the
	// dialer refuses it as well.
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	r, body := post(t, g.client(), "http://[::ffff:127.0.0.1]:"+pport+"/pay", "application/json", `{}`)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(body, "forbidden_destination") {
		t.Errorf("plain: status %d: %s", r.StatusCode, body)
	}
	if n := len(psp.requests()) + len(plain.requests()); n != 0 {
		t.Fatalf("destinations received %d requests", n)
	}
}

// TestNewOutboundRefusesPassthroughAny: "*" (or "*." forms of nothing) in
// the passthrough list would tunnel anywhere; the constructor refuses it
// whatever validated the configuration.
func TestNewOutboundRefusesPassthroughAny(t *testing.T) {
	tv := newTestVault(t)
	ca, err := LoadOrCreateCA(t.TempDir()+"/ca.pem", t.TempDir()+"/ca.key")
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewOutbound(OutboundOptions{Table: routes.NewTable(&routes.Set{}), Tokenizer: tv.tok, Known: tv.tok, CA: ca,
		Passthrough: []string{"api.example.com", " * "}})
	if err == nil || !strings.Contains(err.Error(), "passthrough") {
		t.Fatalf("NewOutbound with passthrough * = %v", err)
	}
}
