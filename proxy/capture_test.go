package proxy

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// recCapturer keeps what the proxy captures.
type recCapturer struct {
	limit int
	mu    sync.Mutex
	got   []*Exchange
}

func (c *recCapturer) CaptureLimit() int { return c.limit }

func (c *recCapturer) Capture(x *Exchange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, x)
}

// wait returns the n-th capture (from 1), waiting for it: Capture runs
// after the response went out.
func (c *recCapturer) wait(t *testing.T, n int) *Exchange {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if len(c.got) >= n {
			x := c.got[n-1]
			c.mu.Unlock()
			return x
		}
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("capture %d never came", n)
	return nil
}

const captureRoutes = `routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /shop
    upstream: {{UP}}
    filters:
      - id: card-in
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
  - id: ws
    direction: inbound
    host: "*"
    path_prefix: /ws
    upstream: {{UP}}
`

func captureGateway(t *testing.T, up string, c Capturer, fallback http.Handler) *httptest.Server {
	t.Helper()
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(t, captureRoutes, up)), Tokenizer: newTestVault(t).tok,
		Fallback: fallback, Capturer: c})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(obs.AccessLog(nil, nil, "inbound", in))
	t.Cleanup(srv.Close)
	return srv
}

func TestCaptureSeesBothSidesOfAnInboundExchange(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	c := &recCapturer{limit: 1 << 10}
	srv := captureGateway(t, up.URL, c, nil)
	body := `{"card":{"number":"` + testPAN + `"}}`
	res, err := http.Post(srv.URL+"/shop/pay?x=1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	x := c.wait(t, 1)
	if x.Direction != routes.Inbound || x.Method != "POST" || x.Path != "/shop/pay" || x.RawQuery != "x=1" || x.Status != 200 ||
		x.RouteName != "shop" || x.Route == nil || x.Route.ID != "shop" || strings.Join(x.Filters, ",") != "card-in" || x.Duration <= 0 {
		t.Fatalf("exchange %+v", x)
	}
	rq := x.Request
	if !rq.Received.Seen || string(rq.Received.Body) != body || rq.Received.Partial {
		t.Errorf("request as received: %+v", rq.Received)
	}
	sent := string(up.last(t).Body)
	if !rq.Sent.Seen || string(rq.Sent.Body) != sent || strings.Contains(sent, testPAN) || rq.Sent.Header.Get("X-Forwarded-For") == "" {
		t.Errorf("request as sent: %q (upstream got %q)", rq.Sent.Body, sent)
	}
	if len(x.Made) != 1 || !strings.Contains(sent, `"number":"`+x.Made[0]+`"`) {
		t.Errorf("aliases made %q, the upstream got %q", x.Made, sent)
	}
	rs := x.Response
	if !rs.Received.Seen || string(rs.Received.Body) != `{"ok":true}` || !rs.Sent.Seen || string(rs.Sent.Body) != `{"ok":true}` ||
		rs.Sent.Header.Get("Content-Type") != "application/json" {
		t.Errorf("response: %+v", rs)
	}
}

func TestCaptureOfARefusedRequestHasNothingSent(t *testing.T) {
	up := newUpstream(t, nil)
	c := &recCapturer{limit: 1 << 10}
	srv := captureGateway(t, up.URL, c, nil)
	res, err := http.Post(srv.URL+"/shop/pay", "application/json", strings.NewReader(`{"card":{"number":`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	x := c.wait(t, 1)
	if x.Status != 400 || x.Request.Sent.Seen || x.Response.Received.Seen || !x.Response.Sent.Seen {
		t.Fatalf("refused exchange: %+v", x)
	}
	// Not forwarded, the route is found by its id for the masks.
	if x.Route == nil || x.Route.ID != "shop" || len(up.requests()) != 0 {
		t.Fatalf("route %v, upstream got %d", x.Route, len(up.requests()))
	}
}

func TestCaptureKeepsBodiesUpToTheLimit(t *testing.T) {
	up := newUpstream(t, nil)
	c := &recCapturer{limit: 16}
	srv := captureGateway(t, up.URL, c, nil)
	body := `{"note":"` + strings.Repeat("a", 100) + `"}`
	res, err := http.Post(srv.URL+"/shop/upload", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	x := c.wait(t, 1)
	if got := x.Request.Received; string(got.Body) != body[:16] || !got.Partial {
		t.Errorf("received %q partial %v", got.Body, got.Partial)
	}
	if string(up.last(t).Body) != body {
		t.Error("the upstream did not get the whole body")
	}
}

func TestCaptureOfBuiltInMounts(t *testing.T) {
	c := &recCapturer{limit: 1 << 10}
	mount := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.SetRoute(r.Context(), "internal:test")
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(201)
		w.Write(append([]byte("got "), b...))
	})
	srv := captureGateway(t, "http://127.0.0.1:1", c, mount)
	res, err := http.Post(srv.URL+"/elsewhere", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	x := c.wait(t, 1)
	if x.RouteName != "internal:test" || x.Route != nil || x.Status != 201 ||
		string(x.Request.Sent.Body) != "hello" || string(x.Response.Received.Body) != "got hello" || string(x.Response.Sent.Body) != "got hello" {
		t.Fatalf("built-in mount: %+v", x)
	}
}

func TestNoCapturerAddsNoHooks(t *testing.T) {
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(nil), Tokenizer: newTestVault(t).tok,
		Internal: map[string]http.Handler{routes.UpstreamCards: http.NotFoundHandler()}})
	if err != nil {
		t.Fatal(err)
	}
	if in.capture != nil {
		t.Fatal("capture set")
	}
	if _, ok := in.rp.Transport.(*timeoutTransport); !ok {
		t.Fatalf("transport %T", in.rp.Transport)
	}
	if _, ok := in.internal[routes.UpstreamCards].(captureUpstreamHandler); ok {
		t.Fatal("internal upstream wrapped")
	}
}

// TestOutboundCaptureInsideAnInterceptedTunnel: the request as received
// holds the alias, as sent the revealed card number.
func TestOutboundCaptureInsideAnInterceptedTunnel(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	tv := newTestVault(t)
	panA, _ := aliases(t, tv)
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(psp.Certificate())
	c := &recCapturer{limit: 1 << 10}
	ob, err := NewOutbound(OutboundOptions{
		Table: routes.NewTable(parseRoutes(t, outRoutes, "")), Tokenizer: tv.tok, CA: ca, AllowPrivate: true, RootCAs: roots,
		Logger: obstest.Logger(t), Resolver: testResolver, UpstreamTimeout: 5 * time.Second, Capturer: c,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ob)
	t.Cleanup(func() { srv.Close(); ob.Close() })
	g := &outGateway{srv: srv, ob: ob, ca: ca, vault: tv}
	g.proxied, _ = url.Parse(srv.URL)
	res, body := post(t, g.client(), "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json", `{"card":{"number":"`+panA+`"}}`)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	x := c.wait(t, 1)
	if x.Direction != routes.Outbound || x.Host != "psp.example.com:"+psp.port() || x.RouteName != "psp" || len(x.Filters) == 0 || x.Filters[0] != "reveal-json" {
		t.Fatalf("exchange %+v", x)
	}
	if got := string(x.Request.Received.Body); got != `{"card":{"number":"`+panA+`"}}` {
		t.Errorf("received %q", got)
	}
	if got := string(x.Request.Sent.Body); got != `{"card":{"number":"`+testPAN+`"}}` {
		t.Errorf("sent %q", got)
	}
	if len(x.Made) != 0 {
		t.Errorf("a reveal made aliases %q", x.Made)
	}
}

func TestCaptureOfAnUpgrade(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi\n")
		brw.Flush()
	})
	c := &recCapturer{limit: 1 << 10}
	srv := captureGateway(t, up.URL, c, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /ws/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	var got []byte
	buf := make([]byte, 1024)
	for !strings.HasSuffix(string(got), "hi\n") {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("got %q: %v", got, err)
		}
		got = append(got, buf[:n]...)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 101") {
		t.Fatalf("got %q", got)
	}
	conn.Close() // the exchange ends when both sides have closed
	if x := c.wait(t, 1); x.Status != http.StatusSwitchingProtocols || !x.Request.Sent.Seen {
		t.Fatalf("upgrade: %+v", x)
	}
}

// TestOutboundCapturesDoNotCross: concurrent requests inside intercepted
// tunnels whose bodies the request phase rewrites (their buffers go back to
// the pool while the captures are still kept) each leave a capture that
// holds only their own bodies, as received, sent and answered.
func TestOutboundCapturesDoNotCross(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"i":"`+r.URL.Query().Get("i")+`"}`)
	})
	tv := newTestVault(t)
	panA, _ := aliases(t, tv)
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(psp.Certificate())
	c := &recCapturer{limit: 64 << 10}
	ob, err := NewOutbound(OutboundOptions{
		Table: routes.NewTable(parseRoutes(t, outRoutes, "")), Tokenizer: tv.tok, CA: ca, AllowPrivate: true, RootCAs: roots,
		Logger: obstest.Logger(t), Resolver: testResolver, UpstreamTimeout: 5 * time.Second, Capturer: c,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ob)
	t.Cleanup(func() { srv.Close(); ob.Close() })
	g := &outGateway{srv: srv, ob: ob, ca: ca, vault: tv}
	g.proxied, _ = url.Parse(srv.URL)
	cl := g.client()
	defer cl.CloseIdleConnections()
	const n = 32
	doc := func(i int, number string) string {
		return fmt.Sprintf(`{"card":{"number":%q},"i":%d,"pad":%q}`, number, i, strings.Repeat(fmt.Sprintf("%03d", i), 200+20*i))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, body := post(t, cl, "https://psp.example.com:"+psp.port()+"/v1/charges?i="+strconv.Itoa(i), "application/json", doc(i, panA))
			if res.StatusCode != 200 {
				t.Errorf("status %d: %s", res.StatusCode, body)
			}
		})
	}
	wg.Wait()
	c.wait(t, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[int]bool{}
	for _, x := range c.got {
		i, err := strconv.Atoi(strings.TrimPrefix(x.RawQuery, "i="))
		if err != nil || seen[i] {
			t.Fatalf("capture of query %q: twice or unreadable", x.RawQuery)
		}
		seen[i] = true
		if got := string(x.Request.Received.Body); got != doc(i, panA) {
			t.Errorf("capture %d: received %.60q…", i, got)
		}
		if got := string(x.Request.Sent.Body); got != doc(i, testPAN) {
			t.Errorf("capture %d: sent %.60q…", i, got)
		}
		if got, want := string(x.Response.Sent.Body), `{"i":"`+strconv.Itoa(i)+`"}`; got != want {
			t.Errorf("capture %d: answered %q, want %q", i, got, want)
		}
	}
}
