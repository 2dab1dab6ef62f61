package proxy

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
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

// nodeSDKCall applies the Stripe Node library's rule to an answer: it
// raises (returns the error object's type and code) only when the JSON body
// has an "error" member, and otherwise treats the answer as a success,
// whatever the status.
func nodeSDKCall(t *testing.T, resp *http.Response, body string) (raised bool, typ, code string) {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return false, "", "" // the library reports a parse error as a connection error; none of ours
	}
	raw, ok := doc["error"]
	if !ok {
		return false, "", ""
	}
	var e struct{ Type, Code, Message string }
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error member is not an object: %s", raw)
	}
	return true, e.Type, e.Code
}

// TestOutboundRefusalsRaiseInSDKs: every answer the outbound proxy makes
// itself keeps its status, names aliasgate in the Aliasgate-Error header
// and carries a top-level error object, so a client that decides by the
// body alone (the Stripe Node library) raises; the processor's own success
// does not raise.
func TestOutboundRefusalsRaiseInSDKs(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"ch_1","status":"succeeded"}`)
	})
	plain := newUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, _ := aliases(t, g.vault)
	c := g.client()
	noCreds := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: g.proxied.Host})}}
	// A port nobody listens on: the tunnel is intercepted, the dial fails.
	closed := httptest.NewServer(http.NotFoundHandler())
	_, deadPort, _ := net.SplitHostPort(closed.Listener.Addr().String())
	closed.Close()
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())

	// success first: no error member, the processor got the card
	resp, body := post(t, c, "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json", `{"card":{"number":"`+panA+`"}}`)
	if raised, _, _ := nodeSDKCall(t, resp, body); raised || resp.StatusCode != 200 || resp.Header.Get(ErrorHeader) != "" {
		t.Fatalf("payment: status %d, header %q: %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
		body   string
		status int
		code   string
	}{
		{"unknown alias", c, "https://psp.example.com:" + psp.port() + "/v1/charges", `{"card":{"number":"tok_test_1111111111111111111111"}}`, 422, "unknown_alias"},
		{"no proxy credentials", noCreds, "http://plain.example.com:" + plainPort + "/v1/charges", `{}`, 407, "proxy_auth_required"},
		{"destination not allowed", c, "http://unrouted.test:" + plainPort + "/v1/charges", `{}`, 403, "destination_not_allowed"},
		{"upstream unavailable", c, "https://psp.example.com:" + deadPort + "/v1/charges", `{"card":{"number":"` + panA + `"}}`, 502, "upstream_unavailable"},
		{"malformed body", c, "https://psp.example.com:" + psp.port() + "/v1/charges", `{"card":{"number":`, 400, "malformed_body"},
	} {
		resp, body := post(t, tc.client, tc.url, "application/json", tc.body)
		raised, typ, code := nodeSDKCall(t, resp, body)
		if resp.StatusCode != tc.status || !raised || typ != ErrorType || code != tc.code || resp.Header.Get(ErrorHeader) != tc.code {
			t.Errorf("%s: status %d (want %d), raised %v type %q code %q, %s: %q; body %s",
				tc.name, resp.StatusCode, tc.status, raised, typ, code, ErrorHeader, resp.Header.Get(ErrorHeader), body)
		}
		if !strings.Contains(body, `"errors":[`) {
			t.Errorf("%s: the JSON:API errors list is gone: %s", tc.name, body)
		}
	}
	if n := len(psp.requests()); n != 1 {
		t.Fatalf("processor received %d requests, want the one payment", n)
	}
	if n := len(plain.requests()); n != 0 {
		t.Fatalf("plain destination received %d requests", n)
	}
}

const tlsOnlyRoutes = `routes:
  - id: pinned
    direction: outbound
    host: pay.example.com
    ports: [{{PORT}}]
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: card.number}]}
  - id: tls-only
    direction: outbound
    host: a1.example.com
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: card.number}]}
  - id: cleartext
    direction: outbound
    host: plain.example.com
    unsafe_reveal_over_plain_http: true
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: card.number}]}
`

// TestOutboundRevealsOverTLSOnly: a route that reveals sends card data
// over TLS only, to its host and ports: plain HTTP (absolute-form, or inside
// a CONNECT) is refused before any filter runs, another port of the host
// gets no tunnel; unsafe_reveal_over_plain_http is the one way to cleartext.
func TestOutboundRevealsOverTLSOnly(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	otherPort := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate(), otherPort.Certificate()},
		routes: strings.ReplaceAll(tlsOnlyRoutes, "{{PORT}}", psp.port())})
	panA, _ := aliases(t, g.vault)
	card := `{"card":{"number":"` + panA + `"}}`
	c := g.client()

	// HTTPS to the route's host and port: revealed.
	resp, body := post(t, c, "https://pay.example.com:"+psp.port()+"/v1", "application/json", card)
	if resp.StatusCode != 200 || string(psp.last(t).Body) != `{"card":{"number":"`+testPAN+`"}}` {
		t.Fatalf("pinned: %d %s", resp.StatusCode, body)
	}
	// Another port of that host: no tunnel.
	r, _, _ := rawConnect(t, g.srv.Listener.Addr().String(), "pay.example.com:"+otherPort.port(), "cli", "s3cret")
	if b := readAll(t, r); r.StatusCode != http.StatusForbidden || !strings.Contains(b, "destination_not_allowed") {
		t.Fatalf("other port: %d %s", r.StatusCode, b)
	}
	// Absolute-form http:// to a revealing route: refused.
	resp, body = post(t, c, "http://a1.example.com:"+pport+"/v1", "application/json", card)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "reveal_needs_tls") || resp.Header.Get(ErrorHeader) != "reveal_needs_tls" {
		t.Fatalf("absolute-form: %d %s", resp.StatusCode, body)
	}
	// Plain HTTP inside a CONNECT: refused.
	r, conn, br := rawConnect(t, g.srv.Listener.Addr().String(), "a1.example.com:"+pport, "cli", "s3cret")
	if r.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", r.StatusCode)
	}
	req, _ := http.NewRequest("POST", "http://a1.example.com:"+pport+"/v1", strings.NewReader(card))
	req.Header.Set("Content-Type", "application/json")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	in, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, in); in.StatusCode != http.StatusForbidden || !strings.Contains(b, "reveal_needs_tls") {
		t.Fatalf("plain inside CONNECT: %d %s", in.StatusCode, b)
	}
	if n := len(plain.requests()) + len(otherPort.requests()); n != 0 {
		t.Fatalf("%d requests reached a destination they must not", n)
	}
	// The explicit, loudly named opt-in.
	resp, body = post(t, c, "http://plain.example.com:"+pport+"/v1", "application/json", card)
	if resp.StatusCode != 200 || string(plain.last(t).Body) != `{"card":{"number":"`+testPAN+`"}}` {
		t.Fatalf("cleartext opt-in: %d %s", resp.StatusCode, body)
	}
}

const echoRoutes = `routes:
  - id: echo
    direction: outbound
    host: psp.example.com
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: card.number}]}
  - id: echo-logged
    direction: outbound
    host: a1.example.com
    leak_guard: log
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: card.number}]}
  - id: echo-filtered
    direction: outbound
    host: pay.example.com
    filters:
      - {id: reveal, phase: request, operation: reveal, targets: [{json: card.number}]}
      - {id: redact-echo, phase: response, operation: redact, targets: [{json: echo.pan}]}
`

// TestOutboundRevealingRouteGuardsTheResponse: a processor that echoes the
// card it was sent (body and header). On a route that reveals, the leak
// guard is redact by default: the merchant gets the processor's status and
// answer with the number masked, never an error for a payment that was
// made. A route that says leak_guard: log keeps the old behaviour. A
// response filter that fails on the processor's reply (not JSON) delivers
// the reply masked, with the filter named, rather than a 502.
func TestOutboundRevealingRouteGuardsTheResponse(t *testing.T) {
	var reply atomic.Value
	reply.Store(`{"echo":{"pan":"` + testPAN + `"},"status":"succeeded"}`)
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Card", testPAN)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, reply.Load().(string))
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: echoRoutes})
	panA, _ := aliases(t, g.vault)
	card := `{"card":{"number":"` + panA + `"}}`
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	c := g.client()

	resp, body := post(t, c, "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json", card)
	if resp.StatusCode != http.StatusCreated || body != `{"echo":{"pan":"`+masked+`"},"status":"succeeded"}` ||
		resp.Header.Get("X-Echo-Card") != masked || resp.Header.Get(RedactedHeader) != "2" || resp.Header.Get(ErrorHeader) != "" {
		t.Fatalf("default guard: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if string(psp.last(t).Body) != `{"card":{"number":"`+testPAN+`"}}` {
		t.Fatalf("processor got %q", psp.last(t).Body)
	}
	// leak_guard: log, written out: the echo goes through (logged).
	resp, body = post(t, c, "https://a1.example.com:"+psp.port()+"/v1/charges", "application/json", card)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, testPAN) {
		t.Fatalf("leak_guard log: %d %s", resp.StatusCode, body)
	}
	// A response filter that cannot parse the reply: delivered, masked.
	reply.Store(`status=succeeded&pan=` + testPAN)
	resp, body = post(t, c, "https://pay.example.com:"+psp.port()+"/v1/charges", "application/json", card)
	if resp.StatusCode != http.StatusCreated || body != `status=succeeded&pan=`+masked ||
		resp.Header.Get(FilterFailedHeader) != "redact-echo" || resp.Header.Get(DeliveredHeader) != "" {
		t.Fatalf("failed response filter: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// An alias in the reply is left alone.
	reply.Store(`{"echo":{"pan":"` + panA + `"}}`)
	resp, body = post(t, c, "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json", card)
	if resp.StatusCode != http.StatusCreated || body != `{"echo":{"pan":"`+panA+`"}}` {
		t.Fatalf("alias in the reply: %d %s", resp.StatusCode, body)
	}
}

// TestFailedHeaderFilterMasksTheUnreadBody: a response filter with header
// targets only needs no body, so the body streams; when that filter fails
// (the vault is gone) the response is still delivered, and the body, read
// then, comes with its card number masked.
func TestFailedHeaderFilterMasksTheUnreadBody(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Card", testPAN)
		_, _ = io.WriteString(w, "charged "+testPAN)
	})
	tv := newTestVault(t)
	g := newGateway(t, parseRoutes(t, `routes:
  - id: hdr
    direction: inbound
    host: "*"
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - {id: card-header, phase: response, operation: redact, targets: [{header: X-Card}]}
`, up.URL), tv, gwOptions{logger: obstest.Logger(t)})
	resp, body := g.do(t, "GET", "/pay", "", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("X-Card"), "tok_") || string(body) != "charged "+testPAN {
		t.Fatalf("filter applied: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	tv.persistent.Close()
	resp, body = g.do(t, "GET", "/pay", "", nil, nil)
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	if resp.StatusCode != 200 || resp.Header.Get(FilterFailedHeader) != "card-header" || resp.Header.Get("X-Card") != masked ||
		string(body) != "charged "+masked {
		t.Fatalf("filter failed: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}
