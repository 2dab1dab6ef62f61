package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/netguard"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
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

// newTLSUpstream is a recording processor over TLS (its certificate names
// 127.0.0.1, example.com and *.example.com).
func newTLSUpstream(t testing.TB, reply http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{reply: reply}
	u.Server = httptest.NewTLSServer(u.handler())
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) port() string {
	_, p, _ := net.SplitHostPort(u.Listener.Addr().String())
	return p
}

const outRoutes = `routes:
  - id: lenient
    direction: outbound
    host: lenient.example.com
    filters:
      - id: reveal-pass
        phase: request
        operation: reveal
        on_error: pass
        targets:
          - {json: card.number}
          - {json: card.cvc}
  - id: psp
    direction: outbound
    host: "*.example.com"
    filters:
      - id: reveal-json
        phase: request
        match: {content_type: json}
        operation: reveal
        targets:
          - {json: card.number}
          - {json: card.cvc}
      - id: reveal-form
        phase: request
        match: {content_type: form}
        operation: reveal
        targets:
          - {form: card_number}
          - {form: cvc}
      - id: redact-echo
        phase: response
        match: {content_type: json}
        operation: redact
        targets:
          - {json: echo.pan}
`

type outGateway struct {
	srv     *httptest.Server
	ob      *Outbound
	ca      *CA
	vault   *testVault
	proxied *url.URL
}

type outOpts struct {
	allowPrivate bool
	passthrough  []string
	roots        []*x509.Certificate
	logger       *slog.Logger
	routes       string
	// metrics, when set, counts requests, and the proxy is served behind
	// obs.AccessLog as serve wires it.
	metrics *obs.Metrics
	// tok, when set, is the Tokenizer instead of the vault's.
	tok rewrite.Tokenizer
	// noAuth serves without proxy credentials (outbound.require_auth off).
	noAuth bool
	// timeout is the UpstreamTimeout; 0: 5 s.
	timeout time.Duration
	// payments resolves the card references of network_token filters.
	payments CardPayments
	// resolver, when set, resolves destinations instead of testResolver.
	resolver netguard.Resolver
	// authenticate, when set, checks proxy credentials instead of the
	// fixed cli and other clients.
	authenticate func(ctx context.Context, user, pass string) (ProxyClient, error)
	// maxHeaderBytes is the MaxHeaderBytes; 0: the default.
	maxHeaderBytes int
	// tunnelIdle is the TunnelIdleTimeout; 0: none.
	tunnelIdle time.Duration
	// budget is the Budget; nil: none.
	budget *bodybudget.Budget
	// tunnelHeader is the TunnelHeaderTimeout; 0: none.
	tunnelHeader time.Duration
	// tunnelRead is the TunnelReadTimeout; 0: none.
	tunnelRead time.Duration
	// limit is the Limit; nil: none.
	limit func(key string) (bool, time.Duration)
	// misses is the Misses; nil: none.
	misses MissBudget
}

var testResolver = mapResolver{
	"psp.example.com": "127.0.0.1", "bad.example.com": "127.0.0.1", "other.example.com": "127.0.0.1",
	"lenient.example.com": "127.0.0.1", "plain.example.com": "127.0.0.1", "pass.test": "127.0.0.1",
	"unrouted.test": "127.0.0.1", "pay.example.com": "127.0.0.1", "a1.example.com": "127.0.0.1",
	// names whose only address embeds an IPv4 address (TestOutboundEmbeddedV4Refused)
	"nat64.example.com": "64:ff9b::7f00:1", "nat64local.example.com": "64:ff9b:1::a9fe:a9fe",
	"sixtofour.example.com": "2002:7f00:1::1", "teredo.example.com": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
	"compat.example.com": "::7f00:1", "classe.example.com": "240.0.0.1",
}

func newOutGateway(t testing.TB, tv *testVault, o outOpts) *outGateway {
	t.Helper()
	if tv == nil {
		tv = newTestVault(t)
	}
	if o.logger == nil {
		o.logger = obstest.Logger(t)
	}
	if o.routes == "" {
		o.routes = outRoutes
	}
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, c := range o.roots {
		roots.AddCert(c)
	}
	var tok rewrite.Tokenizer = tv.tok
	if o.tok != nil {
		tok = o.tok
	}
	authenticate := func(_ context.Context, user, pass string) (ProxyClient, error) {
		switch {
		case user == "cli" && pass == "s3cret":
			return ProxyClient{ID: "cli"}, nil // the default account
		case user == "other" && pass == "s3cret":
			return ProxyClient{ID: "other", Account: "acct_other"}, nil
		case user == "unreadable":
			return ProxyClient{}, fmt.Errorf("auth: look up client: %w", vault.ErrUnavailable)
		}
		return ProxyClient{}, errors.New("bad credentials")
	}
	if o.authenticate != nil {
		authenticate = o.authenticate
	}
	if o.noAuth {
		authenticate = nil
	}
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	if o.resolver == nil {
		o.resolver = testResolver
	}
	ob, err := NewOutbound(OutboundOptions{
		Table: routes.NewTable(parseRoutes(t, o.routes, "")), Tokenizer: tok, Known: tv.tok, CA: ca,
		Authenticate: authenticate,
		Passthrough:  o.passthrough, AllowPrivate: o.allowPrivate, RootCAs: roots,
		Logger: o.logger, Metrics: o.metrics, Resolver: o.resolver, UpstreamTimeout: o.timeout,
		Payments: o.payments, MaxHeaderBytes: o.maxHeaderBytes, TunnelIdleTimeout: o.tunnelIdle, Budget: o.budget,
		TunnelHeaderTimeout: o.tunnelHeader, TunnelReadTimeout: o.tunnelRead, Limit: o.limit, Misses: o.misses,
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = ob
	if o.metrics != nil {
		h = obs.AccessLog(o.logger, o.metrics, "outbound", ob)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); ob.Close() })
	pu, _ := url.Parse(srv.URL)
	if !o.noAuth {
		pu.User = url.UserPassword("cli", "s3cret")
	}
	return &outGateway{srv: srv, ob: ob, ca: ca, vault: tv, proxied: pu}
}

// client trusts the gateway CA (and extra roots) and goes through the proxy.
func (g *outGateway) client(extra ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	for _, c := range extra {
		pool.AddCert(c)
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(g.proxied),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}, Timeout: 10 * time.Second}
}

func post(t testing.TB, c *http.Client, u, ctype, body string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Post(u, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func aliases(t testing.TB, tv *testVault) (panAlias, cvcAlias string) {
	t.Helper()
	got, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN}, {Value: testCVC, Storage: "VOLATILE"}})
	if err != nil {
		t.Fatal(err)
	}
	return got[0], got[1]
}

func TestOutboundRevealJSONAndForm(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"echo":{"pan":"`+testPAN+`"},"status":"authorized"}`)
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, cvcA := aliases(t, g.vault)
	c := g.client()
	base := "https://psp.example.com:" + psp.port()

	resp, body := post(t, c, base+"/v1/charges", "application/json",
		`{"amount":100,"card":{"number":"`+panA+`","cvc":"`+cvcA+`"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := psp.last(t)
	if want := `{"amount":100,"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"}}`; string(got.Body) != want {
		t.Fatalf("processor got %q", got.Body)
	}
	if got.Header.Get("Proxy-Authorization") != "" {
		t.Fatal("proxy credentials forwarded")
	}
	if strings.Contains(body, testPAN) || !strings.Contains(body, `"status":"authorized"`) || !strings.Contains(body, `"pan":"tok_`) {
		t.Fatalf("response not redacted: %s", body)
	}

	resp, body = post(t, c, base+"/v1/form", "application/x-www-form-urlencoded",
		"card_number="+url.QueryEscape(panA)+"&cvc="+url.QueryEscape(cvcA)+"&x=1")
	if resp.StatusCode != 200 {
		t.Fatalf("form status %d: %s", resp.StatusCode, body)
	}
	if got := string(psp.last(t).Body); got != "card_number="+testPAN+"&cvc="+testCVC+"&x=1" {
		t.Fatalf("processor got form %q", got)
	}

	// Plain-HTTP absolute-form request to a routed host that reveals:
	// refused, nothing sent (TLS only; TestOutboundRevealsOverTLSOnly).
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	resp, body = post(t, c, "http://plain.example.com:"+pport+"/pay", "application/json", `{"card":{"number":"`+panA+`"}}`)
	if resp.StatusCode != 403 || !strings.Contains(body, "reveal_needs_tls") {
		t.Fatalf("plain status %d: %s", resp.StatusCode, body)
	}
	if n := len(plain.requests()); n != 0 {
		t.Fatalf("plain processor received %d requests", n)
	}
}

func TestOutboundUnknownAlias(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, _ := aliases(t, g.vault)
	c := g.client()
	missing := "tok_test_1111111111111111111111"
	resp, body := post(t, c, "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json",
		`{"card":{"number":"`+panA+`","cvc":"`+missing+`"}}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `card.cvc`) || strings.Contains(body, missing) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("processor received %d requests", n)
	}
	// on_error: pass reveals what is known and forwards the rest.
	resp, body = post(t, c, "https://lenient.example.com:"+psp.port()+"/v1/charges", "application/json",
		`{"card":{"number":"`+panA+`","cvc":"`+missing+`"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("lenient status %d: %s", resp.StatusCode, body)
	}
	if got := string(psp.last(t).Body); got != `{"card":{"number":"`+testPAN+`","cvc":"`+missing+`"}}` {
		t.Fatalf("lenient processor got %q", got)
	}
}

// countingTokenizer counts the Reveal calls made through it.
type countingTokenizer struct {
	rewrite.Tokenizer
	reveals atomic.Int64
}

func (c *countingTokenizer) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	c.reveals.Add(1)
	return c.Tokenizer.Reveal(ctx, aliases)
}

// TestOutboundOneRevealPerMessage: a request whose reveal targets hold a
// known and an unknown alias costs one Reveal call, refused or passed.
func TestOutboundOneRevealPerMessage(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	tv := newTestVault(t)
	ct := &countingTokenizer{Tokenizer: tv.tok}
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, tok: ct})
	panA, _ := aliases(t, tv)
	c := g.client()
	missing := "tok_test_1111111111111111111111"
	for _, host := range []string{"psp.example.com", "lenient.example.com"} {
		before := ct.reveals.Load()
		resp, body := post(t, c, "https://"+host+":"+psp.port()+"/v1/charges", "application/json",
			`{"card":{"number":"`+panA+`","cvc":"`+missing+`"}}`)
		if resp.StatusCode != 422 && resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", host, resp.StatusCode, body)
		}
		if n := ct.reveals.Load() - before; n != 1 {
			t.Errorf("%s: %d Reveal calls for one message, want 1", host, n)
		}
	}
}

// rawConnect sends a CONNECT and returns the response and the connection.
func rawConnect(t testing.TB, proxyAddr, target, user, pass string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if user != "" {
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	return resp, conn, br
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestOutboundRefusals(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	addr := g.srv.Listener.Addr().String()

	t.Run("connect to unlisted host", func(t *testing.T) {
		resp, _, _ := rawConnect(t, addr, "unrouted.test:"+psp.port(), "cli", "s3cret")
		if body := readAll(t, resp); resp.StatusCode != 403 || !strings.Contains(body, "destination_not_allowed") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		resp, _, _ := rawConnect(t, addr, "psp.example.com:"+psp.port(), "", "")
		body := readAll(t, resp)
		if resp.StatusCode != 407 || resp.Header.Get("Proxy-Authenticate") != `Basic realm="aliasgate"` || !strings.Contains(body, "proxy_auth_required") {
			t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		resp, _, _ := rawConnect(t, addr, "psp.example.com:"+psp.port(), "cli", "wrong")
		if resp.StatusCode != 407 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// Plain HTTP too.
		pu := *g.proxied
		pu.User = url.UserPassword("cli", "wrong")
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&pu)}}
		r, err := c.Get("http://plain.example.com:" + psp.port() + "/")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 407 {
			t.Fatalf("plain status %d", r.StatusCode)
		}
	})
	t.Run("inner host differs from connect host", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "https://psp.example.com:"+psp.port()+"/v1", strings.NewReader(`{}`))
		req.Host = "other.example.com:" + psp.port()
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 403 || !strings.Contains(body, "host_mismatch") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		resp.Body.Close()
	})
	t.Run("sni differs from connect host", func(t *testing.T) {
		resp, conn, _ := rawConnect(t, addr, "psp.example.com:"+psp.port(), "cli", "s3cret")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		pool := x509.NewCertPool()
		pool.AddCert(g.ca.Certificate())
		tc := tls.Client(conn, &tls.Config{ServerName: "other.example.com", RootCAs: pool})
		if err := tc.Handshake(); err == nil {
			t.Fatal("handshake with another SNI succeeded")
		}
	})
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("processor received %d requests", n)
	}
}

// TestOutboundCredentialsThatCannotBeChecked: a client store that fails
// refuses the CONNECT with 407, as wrong credentials are
// (docs/DECISIONS.md, outbound auth failures), and the log line says why,
// so that an operator tells an outage from wrong credentials; nothing
// reaches the destination.
func TestOutboundCredentialsThatCannotBeChecked(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	c := obstest.NewCapture(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger})
	resp, _, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port(), "unreadable", "s3cret")
	if body := readAll(t, resp); resp.StatusCode != 407 {
		t.Fatalf("CONNECT: %d: %s", resp.StatusCode, body)
	}
	found := false
	for _, l := range c.Lines() {
		if l["msg"] == "proxy: proxy credentials refused" {
			reason, _ := l["reason"].(string)
			found = strings.Contains(reason, vault.ErrUnavailable.Error())
		}
	}
	if !found {
		t.Fatalf("no log line says the client store failed:\n%s", c.String())
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("the destination received %d requests", n)
	}
}

func TestOutboundUntrustedDestination(t *testing.T) {
	// The processor's certificate comes from a CA the gateway does not trust.
	other, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := other.Leaf("bad.example.com")
	if err != nil {
		t.Fatal(err)
	}
	psp := &upstream{}
	psp.Server = httptest.NewUnstartedServer(psp.handler())
	psp.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	psp.StartTLS()
	t.Cleanup(psp.Close)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true})
	panA, _ := aliases(t, g.vault)
	resp, body := post(t, g.client(), "https://bad.example.com:"+psp.port()+"/v1", "application/json", `{"card":{"number":"`+panA+`"}}`)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "destination_certificate_invalid") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("processor received %d requests", n)
	}
}

func TestOutboundPrivateDestinationRefused(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: false, roots: []*x509.Certificate{psp.Certificate()}, passthrough: []string{"pass.test"}})
	resp, _, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port(), "cli", "s3cret")
	if body := readAll(t, resp); resp.StatusCode != 403 || !strings.Contains(body, "forbidden_destination") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	// Through a Go client the CONNECT fails too.
	if _, err := g.client().Post("https://psp.example.com:"+psp.port()+"/v1", "application/json", strings.NewReader(`{}`)); err == nil {
		t.Fatal("request to a loopback destination succeeded")
	}
	// Plain HTTP: the dialer refuses.
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	r, body := post(t, g.client(), "http://pass.test:"+pport+"/pay", "application/json", `{}`)
	if r.StatusCode != 403 || !strings.Contains(body, "forbidden_destination") {
		t.Fatalf("plain status %d: %s", r.StatusCode, body)
	}
	if n := len(psp.requests()) + len(plain.requests()); n != 0 {
		t.Fatalf("destinations received %d requests", n)
	}
}

func TestOutboundPassthroughAndClose(t *testing.T) {
	// A TLS server that is not routed but passed through: the client sees
	// the server's own certificate, not one of the gateway CA.
	srv := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, passthrough: []string{"pass.test"}})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(g.proxied),
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
	resp, err := c.Get("https://pass.test:" + srv.port() + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.TLS.PeerCertificates[0].Equal(srv.Certificate()) {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := srv.last(t); got.Path != "/hello" {
		t.Fatalf("server got %+v", got)
	}

	// Close ends an open tunnel (passthrough) and an intercepted one.
	_, conn1, br1 := rawConnect(t, g.srv.Listener.Addr().String(), "pass.test:"+srv.port(), "cli", "s3cret")
	psp := newTLSUpstream(t, nil)
	r2, conn2, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port(), "cli", "s3cret")
	if r2.StatusCode != 200 {
		t.Fatalf("connect status %d", r2.StatusCode)
	}
	time.Sleep(50 * time.Millisecond)
	if err := g.ob.Close(); err != nil {
		t.Fatal(err)
	}
	for i, rd := range []io.Reader{br1, conn2} {
		if cc, ok := rd.(net.Conn); ok {
			cc.SetReadDeadline(time.Now().Add(3 * time.Second))
		} else {
			conn1.SetReadDeadline(time.Now().Add(3 * time.Second))
		}
		_, err := rd.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("tunnel %d still open after Close: %v", i, err)
		}
	}
	// New CONNECTs after Close are not served.
	resp3, _, _ := rawConnect(t, g.srv.Listener.Addr().String(), "pass.test:"+srv.port(), "cli", "s3cret")
	if resp3.StatusCode == 200 {
		t.Fatal("CONNECT served after Close")
	}
}

func TestCALoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	ca, err := LoadOrCreateCA(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{cp: 0o644, kp: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	again, err := LoadOrCreateCA(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.CertPEM()) != string(ca.CertPEM()) {
		t.Fatal("second load made another CA")
	}
	if err := os.Remove(kp); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(cp, kp); err == nil {
		t.Fatal("certificate without key accepted")
	}

	// Leaves: one signing per host under concurrency, verifiable, IP SANs.
	var wg sync.WaitGroup
	certs := make([]*tls.Certificate, 32)
	for i := range certs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			certs[i], _ = ca.Leaf("psp.example.com")
		}()
	}
	wg.Wait()
	for _, c := range certs {
		if c == nil || c != certs[0] {
			t.Fatal("concurrent Leaf calls signed more than once")
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	if _, err := certs[0].Leaf.Verify(x509.VerifyOptions{DNSName: "psp.example.com", Roots: pool}); err != nil {
		t.Fatal(err)
	}
	if d := certs[0].Leaf.NotAfter.Sub(certs[0].Leaf.NotBefore); d > 25*time.Hour {
		t.Fatalf("leaf valid for %v", d)
	}
	ipLeaf, err := ca.Leaf("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ipLeaf.Leaf.IPAddresses) != 1 || len(ipLeaf.Leaf.DNSNames) != 0 {
		t.Fatalf("IP leaf SANs %v %v", ipLeaf.Leaf.IPAddresses, ipLeaf.Leaf.DNSNames)
	}
	// The cache is bounded.
	ca.max = 4
	for i := range 10 {
		if _, err := ca.Leaf(fmt.Sprintf("h%d.example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ca.lru.Len(); n != 4 {
		t.Fatalf("cache holds %d", n)
	}
}

// TestCAKeyOthersMayReadIsRefused: the gateway CA's private key signs
// certificates the merchant's backend trusts for every processor, so a key
// file its group or others may read is refused at load, as the master key
// is (internal/secretfile); it was loaded.
func TestCAKeyOthersMayReadIsRefused(t *testing.T) {
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if _, err := LoadOrCreateCA(cp, kp); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kp, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(cp, kp); !errors.Is(err, secretfile.ErrExposed) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("CA key mode 0644: %v, want secretfile.ErrExposed", err)
	}
	if err := os.Chmod(kp, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(cp, kp); err != nil {
		t.Fatalf("CA key mode 0600: %v", err)
	}
}
