package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// switchingDestination answers every request with 101 Switching Protocols
// (Upgrade: websocket), writes a card number after it and keeps the
// connection until the other side closes it, then sends on closed.
func switchingDestination(closed chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
			`{"card":{"number":"` + testPAN + `"}}`)
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, brw)
		closed <- struct{}{}
	}
}

// TestDestinationProtocolSwitchIsRefused: the outbound proxy never
// forwards Upgrade (a hop-by-hop header), so a destination that answers
// 101 Switching Protocols switches on its own. goproxy then failed to use
// the connection: on plain HTTP it wrote the 101 to the client and left
// the hijacked client connection open with nothing behind it (the client
// waited for ever, and the gateway kept one descriptor per such request
// until shutdown); inside a tunnel the client's connection was dropped
// with no answer while the access line said 101. The proxy answers 502
// (upstream_unavailable) instead, once, and closes the destination's
// connection; nothing the destination wrote after its 101 reaches the
// client.
func TestDestinationProtocolSwitchIsRefused(t *testing.T) {
	closed := make(chan struct{}, 4)
	psp := newTLSUpstream(t, switchingDestination(closed))
	plain := newUpstream(t, switchingDestination(closed))
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())
	c := obstest.NewCapture(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: c.Logger, metrics: obs.NewMetrics(), routes: streamRoutes})
	destinationClosed := func(what string) {
		t.Helper()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the destination's connection is still open", what)
		}
	}

	t.Run("plain HTTP", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		target := "plain.example.com:" + plainPort
		_, _ = io.WriteString(conn, "GET http://"+target+"/ws HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: Basic "+
			base64.StdEncoding.EncodeToString([]byte("cli:s3cret"))+"\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upstream_unavailable") {
			t.Errorf("want 502 upstream_unavailable, got %d %q", resp.StatusCode, obstestMask(string(body)))
		}
		if strings.Contains(string(body), testPAN) {
			t.Error("what the destination wrote after its 101 reached the client")
		}
		destinationClosed("plain HTTP")
	})

	t.Run("tunnel", func(t *testing.T) {
		resp, err := g.client(psp.Certificate()).Get("https://psp.example.com:" + psp.port() + "/ws")
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upstream_unavailable") {
			t.Errorf("want 502 upstream_unavailable, got %d %q", resp.StatusCode, obstestMask(string(body)))
		}
		destinationClosed("tunnel")
	})

	for _, l := range waitLines(t, c, 3) { // the plain request, the CONNECT, the request in the tunnel
		if l["path"] == "/ws" && l["status"] != float64(http.StatusBadGateway) {
			t.Errorf("access line %v, want status 502", l)
		}
	}
}

// panickingTokenizer panics in Reveal (a stand-in for any bug in a filter,
// the vault or a body reader), with a value that quotes what it was given.
type panickingTokenizer struct{ rewrite.Tokenizer }

func (panickingTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	panic(fmt.Sprintf("cannot reveal %v: card %s cvc %s", aliases, testPAN, testCVC))
}

func (panickingTokenizer) Redact(_ context.Context, items []rewrite.RedactItem) ([]string, error) {
	panic(fmt.Sprintf("cannot redact %d items: card %s cvc %s", len(items), testPAN, testCVC))
}

// TestPanicInAFilterDoesNotEndTheGateway: goproxy serves the requests of
// an intercepted tunnel in a goroutine of its own, which nothing
// recovers: a panic in a filter there ended the whole process (every
// listener, every tunnel), with its value, card data and all, written
// to stderr past the log's scrubber. A panic in a phase refuses the
// message with 500 internal_error, is logged with its stack and without
// its value, and the gateway goes on serving; on the inbound proxy the
// client gets the same answer instead of a dropped connection, and
// nothing reaches the upstream.
func TestPanicInAFilterDoesNotEndTheGateway(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	tv := newTestVault(t)
	c := obstest.NewCapture(t)
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: c.Logger, tok: panickingTokenizer{tv.tok}})
	panA, _ := aliases(t, tv)
	cl := g.client()
	for i := range 2 { // the second request: the gateway still serves
		resp, body := post(t, cl, "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json",
			`{"card":{"number":"`+panA+`"}}`)
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "internal_error") {
			t.Errorf("request %d: want 500 internal_error, got %d %s", i, resp.StatusCode, body)
		}
	}
	if n := len(psp.requests()); n != 0 {
		t.Errorf("the processor received %d requests", n)
	}
	log := c.String()
	if !strings.Contains(log, "panic") || !strings.Contains(log, "goroutine") {
		t.Errorf("the panic is not logged with its stack:\n%s", log)
	}
	if strings.Contains(log, "cvc "+testCVC) || strings.Contains(log, panA) {
		t.Errorf("the panic's value was logged:\n%s", log)
	}

	up := newUpstream(t, nil)
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(t, testRoutes, up.URL)),
		Tokenizer: panickingTokenizer{tv.tok}, Known: tv.tok, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(obs.AccessLog(obstest.Logger(t), obs.NewMetrics(), "inbound", in))
	t.Cleanup(srv.Close)
	got := rawExchange(t, srv.Listener.Addr().String(), "POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+
		"Content-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(cardJSON))+"\r\n\r\n"+cardJSON)
	if !strings.HasPrefix(got, "HTTP/1.1 500 ") || !strings.Contains(got, "internal_error") {
		t.Errorf("inbound: want 500 internal_error, got %q", obstestMask(got))
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestClientThatLeavesIsNotCountedAsAnUpstreamFailure: a client that
// closes its connection before the upstream answers was logged and counted
// as 502 upstream_unavailable on its route, so anyone could make a healthy
// upstream look down in aliasgate_http_requests_total (and page whoever
// alerts on 502s) by sending requests and hanging up. Such a request is
// logged and counted with 499 (client closed request), as nginx does.
func TestClientThatLeavesIsNotCountedAsAnUpstreamFailure(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // the proxy cancels the upstream request when its client leaves
	})
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: c.Logger})
	leaveOnceArrived(t, g.Listener.Addr().String(), "GET /plain/x HTTP/1.1\r\nHost: x\r\n\r\n", arrived, "upstream", c)
	if n := counterValue(g.metrics.HTTPRequests.WithLabelValues("inbound", "plain", "GET", "502")); n != 0 {
		t.Errorf("%v requests counted as 502", n)
	}
	if n := counterValue(g.metrics.HTTPRequests.WithLabelValues("inbound", "plain", "GET", "499")); n != 1 {
		t.Errorf("%v requests counted as 499, want 1", n)
	}
}

// TestGoproxyMessagesDoNotQuoteTheRequest: goproxy's own messages (the
// debug log) quote what a client sent inside an intercepted tunnel when
// it cannot read it: a header line without a colon whole (a secret, a CVC,
// an Authorization value), a request line or URL with its query. They are
// logged without the text the peer sent.
func TestGoproxyMessagesDoNotQuoteTheRequest(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	c := obstest.NewCapture(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger})
	target := "psp.example.com:" + psp.port()
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	for _, req := range []string{
		"GET /pay HTTP/1.1\r\nHost: " + target + "\r\nAuthorization Bearer sk_live_HEADERSECRET cvc=" + testCVC + "\r\n\r\n",
		"GET /pay?cvc=" + testCVC + "&key=sk_live_QUERYSECRET HTTP/1.1 junk\r\nHost: " + target + "\r\n\r\n",
		"GET http://[::1/pay?cvc=" + testCVC + "&key=sk_live_URLSECRET HTTP/1.1\r\nHost: " + target + "\r\n\r\n",
	} {
		resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), target, "cli", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(tc, req); err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(tc) // the proxy drops the tunnel
	}
	if !strings.Contains(c.String(), "goproxy:") {
		t.Fatal("goproxy logged nothing: the test no longer reaches its messages")
	}
	for _, secret := range []string{"sk_live_HEADERSECRET", "sk_live_QUERYSECRET", "sk_live_URLSECRET", "cvc=" + testCVC} {
		if strings.Contains(c.String(), secret) {
			t.Errorf("the log quotes %q from the request:\n%s", secret, c.String())
		}
	}
}

// TestUnreadableTunnelRequestsAreCounted: a request inside an intercepted
// tunnel that goproxy cannot read (a header line without a colon, a bad
// request line, a URL that does not parse) ended the tunnel without an
// access line or a count: the outbound twin of what net/http refuses
// before any handler. Each is logged ("request not served") and counted
// in aliasgate_http_unserved_total{listener="outbound"}.
func TestUnreadableTunnelRequestsAreCounted(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger, metrics: m})
	target := "psp.example.com:" + psp.port()
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	bad := []string{
		"GET /pay HTTP/1.1\r\nHost: " + target + "\r\nNo colon here\r\n\r\n",
		"GET /pay HTTP/1.1 junk\r\nHost: " + target + "\r\n\r\n",
		"GET http://[::1/pay HTTP/1.1\r\nHost: " + target + "\r\n\r\n",
	}
	for _, req := range bad {
		resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), target, "cli", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(tc, req); err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(tc) // the proxy drops the tunnel
	}
	if n := counterValue(m.Unserved.WithLabelValues("outbound")); n != float64(len(bad)) {
		t.Errorf("aliasgate_http_unserved_total{listener=\"outbound\"} %v, want %d", n, len(bad))
	}
	if n := len(c.Messages("request not served")); n != len(bad) {
		t.Errorf("%d \"request not served\" lines, want %d", n, len(bad))
	}
}

// TestRefusedUpgradeIsCountedUnderItsRoute: an upgrade refused on a route
// (403 upgrade_refused) was logged and counted with route "-", as if no
// route had matched, so the route's dashboards never saw it.
func TestRefusedUpgradeIsCountedUnderItsRoute(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	got := rawExchange(t, g.Listener.Addr().String(), "GET /leakblock/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 403 ") {
		t.Fatalf("want 403, got %q", obstestMask(got))
	}
	if n := counterValue(g.metrics.HTTPRequests.WithLabelValues("inbound", "leakblock", "GET", "403")); n != 1 {
		t.Errorf("%v refusals counted under route leakblock, want 1", n)
	}
}

// TestHandlerThatAnswersNothingToAClientThatLeftIsNot200: a handler that
// writes nothing because its client went away (the vault API does so when
// the vault call is canceled) was logged and counted as 200, a success.
// Such a request has status 499 too.
func TestHandlerThatAnswersNothingToAClientThatLeftIsNot200(t *testing.T) {
	arrived := make(chan struct{}, 1)
	internal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // writes nothing: nobody to answer
	})
	up := newUpstream(t, nil)
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: c.Logger,
		internal: map[string]http.Handler{routes.UpstreamCards: internal}})
	leaveOnceArrived(t, g.Listener.Addr().String(), "GET /cards/card_1 HTTP/1.1\r\nHost: x\r\n\r\n", arrived, "handler", c)
	if n := counterValue(g.metrics.HTTPRequests.WithLabelValues("inbound", "cards", "GET", "200")); n != 0 {
		t.Errorf("%v requests counted as 200", n)
	}
}

// leaveOnceArrived sends req on a new connection to addr, closes the
// connection once arrived says the request reached its upstream or handler
// (named by what), and checks that the gateway logged it once, with status
// 499 (client closed request).
func leaveOnceArrived(t *testing.T, addr, req string, arrived <-chan struct{}, what string, c *obstest.Capture) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, req)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the " + what)
	}
	conn.Close()
	lines := waitLines(t, c, 1)
	if len(lines) != 1 || lines[0]["status"] != float64(499) {
		t.Fatalf("access lines %v, want one with status 499", lines)
	}
}
