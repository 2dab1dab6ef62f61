package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// fixedPayments resolves the card reference "card_1" to the test card (the
// fallback: its PAN and CVC), as the Card Management API does for a card
// without a network token on a route with fallback: pan.
type fixedPayments struct{}

func (fixedPayments) Payment(_ context.Context, ref string, _ bool, _ string) (rewrite.Payment, error) {
	if ref != "card_1" {
		return nil, codedRefusal("unknown_card")
	}
	return rewrite.Payment{rewrite.RoleCard: testPAN, rewrite.RoleCVC: testCVC}, nil
}

const networkTokenRoutes = `routes:
  - id: pay-tls
    direction: outbound
    host: psp.example.com
    filters:
      - id: pay
        phase: request
        operation: network_token
        fallback: pan
        targets:
          - {json: card.number, role: card}
          - {json: card.cvc, role: cvc}
  - id: pay-plain
    direction: outbound
    host: a1.example.com
    filters:
      - id: pay
        phase: request
        operation: network_token
        fallback: pan
        targets:
          - {json: card.number, role: card}
          - {json: card.cvc, role: cvc}
`

// TestNetworkTokenPaymentsOverTLSOnly: a network_token route puts card
// data into the request (the network token PAN and its cryptogram, or with
// fallback: pan the PAN and CVC), as a reveal does, so it is held to the
// same rule: over TLS only. Plain HTTP, absolute-form or inside a CONNECT,
// is refused (403 reveal_needs_tls) before the card reference is resolved,
// and the destination gets nothing; over TLS the payment goes through.
func TestNetworkTokenPaymentsOverTLSOnly(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: networkTokenRoutes, payments: fixedPayments{}})
	body := `{"card":{"number":"card_1","cvc":""}}`
	want := `{"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"}}`
	c := g.client()

	// Over TLS the card data goes to the processor.
	resp, got := post(t, c, "https://psp.example.com:"+psp.port()+"/v1", "application/json", body)
	if resp.StatusCode != http.StatusOK || string(psp.last(t).Body) != want {
		t.Fatalf("over TLS: %d %s", resp.StatusCode, got)
	}

	// Absolute-form http://: refused.
	resp, got = post(t, c, "http://a1.example.com:"+pport+"/v1", "application/json", body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != "reveal_needs_tls" {
		t.Errorf("absolute-form: %d %s", resp.StatusCode, obstestMask(got))
	}

	// Plain HTTP inside a CONNECT: refused.
	r, conn, br := rawConnect(t, g.srv.Listener.Addr().String(), "a1.example.com:"+pport, "cli", "s3cret")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://a1.example.com:"+pport+"/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	in, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, in); in.StatusCode != http.StatusForbidden || in.Header.Get(ErrorHeader) != "reveal_needs_tls" {
		t.Errorf("plain inside CONNECT: %d %s", in.StatusCode, obstestMask(b))
	}

	for _, r := range plain.requests() {
		t.Errorf("the cleartext destination got %q", obstestMask(string(r.Body)))
	}
}

// rebindingResolver answers each name with its answers in turn, the last
// one for ever after: a DNS server an attacker controls.
type rebindingResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	asked   map[string]int
}

func (r *rebindingResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := min(r.asked[host], len(as)-1)
	r.asked[host]++
	var out []net.IPAddr
	for _, ip := range as[n] {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, nil
}

// TestOutboundChecksTheAddressItDials (regression cover, passes as found):
// the destination's name is resolved again for the dial, and the address
// dialled is the one checked. A name that answers a public address at
// CONNECT and the metadata address when the request is sent (DNS
// rebinding) is refused (403 forbidden_destination) and the metadata
// address never dialled; a name with one private address among public ones
// is refused at CONNECT; a name that stays public is revealed to.
func TestOutboundChecksTheAddressItDials(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	const public = "93.184.216.34"
	res := &rebindingResolver{asked: map[string]int{}, answers: map[string][][]string{
		"a1.example.com":  {{public}},
		"psp.example.com": {{public}, {"169.254.169.254"}},
		"pay.example.com": {{public, "10.0.0.7"}},
	}}
	g := newOutGateway(t, nil, outOpts{roots: []*x509.Certificate{psp.Certificate()}, resolver: res})
	var mu sync.Mutex
	var dialled []string
	g.ob.dialer.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		if addr != net.JoinHostPort(public, psp.port()) {
			return nil, errors.New("not dialling " + addr + " in tests")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, psp.Listener.Addr().String())
	}
	panA, _ := aliases(t, g.vault)
	card := `{"card":{"number":"` + panA + `"}}`
	c := g.client()

	// Public at CONNECT and at the dial: revealed.
	resp, body := post(t, c, "https://a1.example.com:"+psp.port()+"/v1", "application/json", card)
	if resp.StatusCode != http.StatusOK || string(psp.last(t).Body) != `{"card":{"number":"`+testPAN+`"}}` {
		t.Fatalf("public destination: %d %s", resp.StatusCode, body)
	}
	before := len(psp.requests())

	// Rebound between the CONNECT and the dial: refused.
	resp, body = post(t, c, "https://psp.example.com:"+psp.port()+"/v1", "application/json", card)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != "forbidden_destination" {
		t.Errorf("rebound destination: %d %s", resp.StatusCode, obstestMask(body))
	}
	if res.asked["psp.example.com"] < 2 {
		t.Errorf("the name was resolved %d times: the dial did not resolve it again", res.asked["psp.example.com"])
	}

	// One private address among the answers: refused at CONNECT.
	r, _, _ := rawConnect(t, g.srv.Listener.Addr().String(), "pay.example.com:"+psp.port(), "cli", "s3cret")
	if b := readAll(t, r); r.StatusCode != http.StatusForbidden || !strings.Contains(b, "forbidden_destination") {
		t.Errorf("mixed answers: %d %s", r.StatusCode, b)
	}

	if n := len(psp.requests()) - before; n != 0 {
		t.Errorf("the processor got %d requests it must not", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialled {
		if a != net.JoinHostPort(public, psp.port()) {
			t.Errorf("dialled %s", a)
		}
	}
}

// TestPlainHTTPRoutesByTheURL (regression cover, passes as found): an
// absolute-form request is routed, checked and sent by its URL's host; a
// Host header naming a revealing route's host neither reveals nor reaches
// that host, and the destination gets the URL's host as Host.
func TestPlainHTTPRoutesByTheURL(t *testing.T) {
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, passthrough: []string{"pass.test"}})
	panA, _ := aliases(t, g.vault)
	card := `{"card":{"number":"` + panA + `"}}`
	// Raw: Go's client would write its Host into the request line.
	conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	raw := "POST http://pass.test:" + pport + "/v1 HTTP/1.1\r\nHost: psp.example.com:" + pport + "\r\n" +
		"Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("cli:s3cret")) + "\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(card)) + "\r\nConnection: close\r\n\r\n" + card
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	resp.Body.Close()
	got := plain.last(t)
	if resp.StatusCode != http.StatusOK || string(got.Body) != card || got.Host != "pass.test:"+pport {
		t.Fatalf("%d: the destination got Host %q and %q", resp.StatusCode, got.Host, obstestMask(string(got.Body)))
	}
}

// TestOutboundNeverFollowsRedirects (regression cover, passes as found): a
// processor's redirect reaches the merchant as it is; the proxy does not
// follow it, so the revealed body goes nowhere else (the merchant's own
// next request is routed by its own host).
func TestOutboundNeverFollowsRedirects(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "https://other.example.com/elsewhere")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, _ := aliases(t, g.vault)
	c := g.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := post(t, c, "https://psp.example.com:"+psp.port()+"/v1", "application/json", `{"card":{"number":"`+panA+`"}}`)
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(resp.Header.Get("Location"), "other.example.com") {
		t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := psp.requests(); len(got) != 1 || got[0].Path != "/v1" {
		t.Fatalf("the processor got %d requests", len(got))
	}
}

// TestTunnelRequestsRecheckTheCredentials: each request inside an
// intercepted tunnel is checked again (ProxyClient.Recheck). While
// they cannot be checked (the client store is down) a request gets 503
// vault_unavailable and the tunnel stays open for the next; once they are
// refused (the client revoked) the request gets 407 and the tunnel is
// closed. The processor gets only the requests whose check passed.
func TestTunnelRequestsRecheckTheCredentials(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	cl := &switchedClient{state: "ok"}
	setState := cl.set
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		authenticate: cl.authenticate})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port(), "cli", "s3cret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	tc := tls.Client(conn, &tls.Config{ServerName: "psp.example.com", RootCAs: pool})
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(tc)
	send := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "https://psp.example.com:"+psp.port()+"/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if err := req.Write(tc); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, r)
		r.Body.Close()
		return r
	}

	if r := send(); r.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", r.StatusCode)
	}
	setState("down")
	if r := send(); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get(ErrorHeader) != "vault_unavailable" || r.Close {
		t.Fatalf("credentials not checkable: %d %q close=%v", r.StatusCode, r.Header.Get(ErrorHeader), r.Close)
	}
	setState("ok")
	if r := send(); r.StatusCode != http.StatusOK {
		t.Fatalf("the same tunnel once the store is back: %d", r.StatusCode)
	}
	setState("revoked")
	r := send()
	if r.StatusCode != http.StatusProxyAuthRequired || r.Header.Get("Proxy-Authenticate") == "" || !r.Close {
		t.Fatalf("revoked: %d %v close=%v", r.StatusCode, r.Header, r.Close)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the tunnel stayed open after the credentials were refused")
	}
	got := psp.requests()
	if len(got) != 2 {
		t.Fatalf("the processor got %d requests, want 2", len(got))
	}
	for _, x := range got {
		if string(x.Body) != `{"card":{"number":"`+testPAN+`"}}` {
			t.Errorf("the processor got %q", obstestMask(string(x.Body)))
		}
	}
}

// TestPassthroughPatternsNormaliseAsRouteHosts: a passthrough entry is a
// host pattern like a route host, normalised the same way: an IDNA
// wildcard ("*.Bücher.example") passes the names below its A-label form
// through (it was dropped, and its hosts refused).
func TestPassthroughPatternsNormaliseAsRouteHosts(t *testing.T) {
	srv := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, passthrough: []string{"*.Bücher.example", "API.Pass.Test."},
		resolver: mapResolver{"a.xn--bcher-kva.example": "127.0.0.1", "api.pass.test": "127.0.0.1"}})
	for _, target := range []string{"a.xn--bcher-kva.example", "A.XN--BCHER-KVA.Example.", "api.pass.test"} {
		resp, _, _ := rawConnect(t, g.srv.Listener.Addr().String(), target+":"+srv.port(), "cli", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("CONNECT %s: %d %s", target, resp.StatusCode, readAll(t, resp))
		}
	}
}

// TestPassthroughTunnelEndsWhenTheClientIsRefused: a passthrough tunnel is
// raw bytes, but the client behind it is rechecked while they flow
// (recheckConn): once it is revoked, the next bytes end the tunnel and
// never reach the destination. A check that cannot be made keeps it open.
func TestPassthroughTunnelEndsWhenTheClientIsRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var got bytes.Buffer // what the destination received
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						mu.Lock()
						got.Write(buf[:n])
						mu.Unlock()
						_, _ = c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cl := &switchedClient{state: "ok"}
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, passthrough: []string{"echo.test"},
		resolver: mapResolver{"echo.test": "127.0.0.1"}, authenticate: cl.authenticate})
	g.ob.recheckEvery = 0 // every read and write
	resp, conn, br := rawConnect(t, g.srv.Listener.Addr().String(), "echo.test:"+port, "cli", "s3cret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	echo := func(s string) error {
		if _, err := conn.Write([]byte(s)); err != nil {
			return err
		}
		buf := make([]byte, len(s))
		_, err := io.ReadFull(br, buf)
		if err == nil && string(buf) != s {
			return fmt.Errorf("echoed %q", buf)
		}
		return err
	}
	set := cl.set
	if err := echo("one;"); err != nil {
		t.Fatalf("before: %v", err)
	}
	set("down")
	if err := echo("two;"); err != nil {
		t.Fatalf("credentials not checkable: %v (the tunnel must stay open)", err)
	}
	set("revoked")
	_, _ = conn.Write([]byte("three;"))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the tunnel stayed open after the client was refused")
	}
	mu.Lock()
	defer mu.Unlock()
	if got.String() != "one;two;" {
		t.Fatalf("the destination received %q, want only what was sent before the refusal", got.String())
	}
}

// switchedClient is a proxy client "cli" (secret "s3cret") whose state the
// test switches: "ok", "down" (its checks cannot be made: ErrAuthUnavailable)
// or "revoked". Authenticate accepts it only while ok; its Recheck reports
// the state.
type switchedClient struct {
	mu    sync.Mutex
	state string
}

func (c *switchedClient) set(s string) { c.mu.Lock(); c.state = s; c.mu.Unlock() }

func (c *switchedClient) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case "revoked":
		return errors.New("revoked")
	case "down":
		return fmt.Errorf("store: %w", ErrAuthUnavailable)
	}
	return nil
}

func (c *switchedClient) authenticate(_ context.Context, user, pass string) (ProxyClient, error) {
	if user != "cli" || pass != "s3cret" || c.check() != nil {
		return ProxyClient{}, errors.New("bad credentials")
	}
	return ProxyClient{ID: "cli", Recheck: func(context.Context) error { return c.check() }}, nil
}
