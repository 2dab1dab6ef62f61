package proxy

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// budgetRoutes: on plain.example.com, a request filter that redacts
// card.number (the outbound proxy reads such a request's body; plain HTTP,
// as it reveals nothing) and the psp's routes.
const budgetRoutes = `routes:
  - id: plain
    direction: outbound
    host: plain.example.com
    filters:
      - id: redact-json
        phase: request
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number}
  - id: psp
    direction: outbound
    host: psp.example.com
    filters:
      - id: reveal-json
        phase: request
        match: {content_type: json}
        operation: reveal
        targets:
          - {json: card.number}
`

// waitGivenBack waits until the budget holds nothing (an exchange's bytes
// go back when its handler is done, which may be after its client read
// the answer).
func waitGivenBack(t *testing.T, b *bodybudget.Budget, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.Used() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the budget still holds %d bytes", what, b.Used())
		}
	}
}

// redactedLen returns the length of cardJSON as testRoutes' filters
// rewrite it (the CVC's alias is longer than the CVC: the rewritten body
// is held of the budget), sent once through a gateway without a budget.
func redactedLen(t *testing.T, up *upstream) int64 {
	t.Helper()
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{})
	if resp, body := g.do(t, "POST", "/json", "application/json", strings.NewReader(cardJSON), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("cardJSON without a budget: %d %s", resp.StatusCode, obstestMask(string(body)))
	}
	n := int64(len(up.last(t).Body))
	if n < int64(len(cardJSON)) {
		t.Fatalf("cardJSON rewritten is %d bytes, fewer than its %d", n, len(cardJSON))
	}
	return n
}

// TestBodyBudgetRefusesWhatDoesNotFit: both proxies reserve a body's bytes
// of limits.max_buffered_bytes before they read it. A request whose body
// does not fit is refused with 503 gateway_busy and Retry-After, the
// access line saying why, and nothing is forwarded; a response that does
// not fit is withheld with 502, marked delivered, as any response the
// phase refuses. Whatever was reserved is given back.
func TestBodyBudgetRefusesWhatDoesNotFit(t *testing.T) {
	busy := func(t *testing.T, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "gateway_busy") ||
			resp.Header.Get("Retry-After") != "1" {
			t.Errorf("want 503 gateway_busy with Retry-After: 1, got %d %v %s", resp.StatusCode, resp.Header, obstestMask(body))
		}
	}

	t.Run("inbound request", func(t *testing.T) {
		up := newUpstream(t, nil)
		b := bodybudget.New(int64(len(cardJSON))-1, 0)
		c := obstest.NewCapture(t)
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b, logger: c.Logger})
		resp, body := g.do(t, "POST", "/json", "application/json", strings.NewReader(cardJSON), nil)
		busy(t, resp, string(body))
		if n := len(up.requests()); n != 0 {
			t.Errorf("the upstream received %d requests", n)
		}
		waitGivenBack(t, b, "refused request")
		if !strings.Contains(c.String(), `"refused":"gateway_busy"`) {
			t.Errorf("no access line says refused gateway_busy:\n%s", c.String())
		}
	})

	t.Run("inbound chunked request", func(t *testing.T) {
		up := newUpstream(t, nil)
		b := bodybudget.New(heldStep+1000, 0) // room for the first step, not for 100 KiB
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b})
		big := `{"card":{"number":"` + testPAN + `"},"pad":"` + strings.Repeat("x", 100<<10) + `"}`
		body := struct{ io.Reader }{strings.NewReader(big)} // no length: sent chunked
		resp, got := g.do(t, "POST", "/json", "application/json", body, nil)
		busy(t, resp, string(got))
		if n := len(up.requests()); n != 0 {
			t.Errorf("the upstream received %d requests", n)
		}
		waitGivenBack(t, b, "refused chunked request")
	})

	t.Run("inbound response", func(t *testing.T) {
		// An answer longer than the request sent.
		answer := `{"ok":"` + strings.Repeat("x", len(cardJSON)+50) + `"}`
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, answer)
		})
		// Room for the request read and as the filters rewrote it (both
		// held of the budget until the body read is dropped), not for
		// the answer.
		b := bodybudget.New(redactedLen(t, newUpstream(t, nil))+int64(len(cardJSON))+5, 0)
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b})
		resp, body := g.do(t, "POST", "/json", "application/json", strings.NewReader(cardJSON), nil)
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(DeliveredHeader) != "true" ||
			!strings.Contains(string(body), "gateway_busy") || resp.Header.Get("Retry-After") != "" {
			t.Errorf("want 502 gateway_busy, delivered, no Retry-After; got %d %v %s", resp.StatusCode, resp.Header, obstestMask(string(body)))
		}
		if n := len(up.requests()); n != 1 {
			t.Errorf("the upstream received %d requests, want 1", n)
		}
		waitGivenBack(t, b, "refused response")
	})

	t.Run("outbound tunnel", func(t *testing.T) {
		psp := newTLSUpstream(t, nil)
		b := bodybudget.New(10, 0)
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
			routes: budgetRoutes, budget: b})
		resp, body := post(t, g.client(), "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json",
			`{"card":{"number":"tok_x"},"amount":100}`)
		busy(t, resp, body)
		if n := len(psp.requests()); n != 0 {
			t.Errorf("the processor received %d requests", n)
		}
		waitGivenBack(t, b, "refused request in a tunnel")
	})

	t.Run("outbound plain HTTP", func(t *testing.T) {
		up := newUpstream(t, nil)
		_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
		b := bodybudget.New(10, 0)
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, routes: budgetRoutes, budget: b})
		resp, body := post(t, g.client(), "http://plain.example.com:"+port+"/v1/charges", "application/json", cardJSON)
		busy(t, resp, body)
		if n := len(up.requests()); n != 0 {
			t.Errorf("the destination received %d requests", n)
		}
		waitGivenBack(t, b, "refused plain request")
	})
}

// TestBodyBudgetIsGivenBackOnEveryPath: what an exchange reserved goes
// back once it is over, whichever way it ends: forwarded and answered, a
// body that does not parse (400), a panic in a filter (500), a client that
// leaves in the middle of its body; on the inbound proxy, in an
// intercepted tunnel and over plain HTTP through the outbound one.
func TestBodyBudgetIsGivenBackOnEveryPath(t *testing.T) {
	t.Run("inbound", func(t *testing.T) {
		up := newUpstream(t, nil)
		b := bodybudget.New(1<<20, 0)
		tv := newTestVault(t)
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{budget: b})
		panics := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{budget: b, tok: panickingTokenizer{tv.tok},
			logger: obstest.NewCapture(t).Logger})
		for _, c := range []struct {
			name   string
			g      *gateway
			body   string
			status int
		}{
			{"forwarded", g, cardJSON, http.StatusOK},
			{"malformed", g, `{"card":{"number":`, http.StatusBadRequest},
			{"panic", panics, cardJSON, http.StatusInternalServerError},
		} {
			resp, body := c.g.do(t, "POST", "/json", "application/json", strings.NewReader(c.body), nil)
			if resp.StatusCode != c.status {
				t.Errorf("%s: status %d %s, want %d", c.name, resp.StatusCode, obstestMask(string(body)), c.status)
			}
			waitGivenBack(t, b, c.name)
		}
		if b.Peak() == 0 {
			t.Error("nothing was ever reserved")
		}
		// A client that declares 1000 bytes, sends 10 and goes away.
		conn, err := net.Dial("tcp", g.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte("POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"card\":{"))
		for deadline := time.Now().Add(10 * time.Second); b.Used() != 1000; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the body's declared 1000 bytes were not reserved (%d held)", b.Used())
			}
		}
		conn.Close()
		waitGivenBack(t, b, "client gone mid-body")
	})

	t.Run("outbound", func(t *testing.T) {
		psp := newTLSUpstream(t, nil)
		up := newUpstream(t, nil)
		_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
		b := bodybudget.New(1<<20, 0)
		tv := newTestVault(t)
		panA, _ := aliases(t, tv)
		g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
			routes: budgetRoutes, budget: b, metrics: obs.NewMetrics()})
		panics := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
			routes: budgetRoutes, budget: b, tok: panickingTokenizer{tv.tok}, logger: obstest.NewCapture(t).Logger})
		tunnel := "https://psp.example.com:" + psp.port() + "/v1/charges"
		for _, c := range []struct {
			name, url, body string
			g               *outGateway
			status          int
		}{
			{"tunnel forwarded", tunnel, `{"card":{"number":"` + panA + `"}}`, g, http.StatusOK},
			{"tunnel malformed", tunnel, `{"card":{"number":`, g, http.StatusBadRequest},
			{"tunnel panic", tunnel, `{"card":{"number":"` + panA + `"}}`, panics, http.StatusInternalServerError},
			{"plain forwarded", "http://plain.example.com:" + port + "/x", cardJSON, g, http.StatusOK},
			{"plain malformed", "http://plain.example.com:" + port + "/x", `{"card":{"number":`, g, http.StatusBadRequest},
		} {
			resp, body := post(t, c.g.client(psp.Certificate()), c.url, "application/json", c.body)
			if resp.StatusCode != c.status {
				t.Errorf("%s: status %d %s, want %d", c.name, resp.StatusCode, obstestMask(body), c.status)
			}
			waitGivenBack(t, b, c.name)
		}
		if b.Peak() < int64(len(cardJSON)) {
			t.Errorf("peak %d: the bodies were not reserved", b.Peak())
		}
	})
}

// TestBodyBudgetSourceShare: one sender's bodies may hold its share of
// the budget, no more (429 source_busy with Retry-After), while another
// sender is served; a body of unknown length is reserved as it is read.
func TestBodyBudgetSourceShare(t *testing.T) {
	b := bodybudget.New(1000, 400)
	if err := b.Reserve("a", 400); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve("a", 1); err != bodybudget.ErrSourceFull {
		t.Fatalf("over the share: %v, want ErrSourceFull", err)
	}
	if err := b.Reserve("b", 400); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve("c", 201); err != bodybudget.ErrFull {
		t.Fatalf("over the budget: %v, want ErrFull", err)
	}
	b.Release("a", 400)
	b.Release("b", 400)
	if b.Used() != 0 || b.Sources() != 0 || b.Peak() != 800 {
		t.Fatalf("used %d, sources %d, peak %d; want 0, 0, 800", b.Used(), b.Sources(), b.Peak())
	}

	up := newUpstream(t, nil)
	// The request read and as rewritten (both held until the body read is
	// dropped), then the rewritten one and its answer, {"ok":true}.
	share := bodybudget.New(1<<20, redactedLen(t, newUpstream(t, nil))+int64(len(cardJSON))+20)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: share})
	// 127.0.0.1 holds a body of its own: the next one is over its share.
	if err := share.Reserve("127.0.0.1", 30); err != nil {
		t.Fatal(err)
	}
	resp, body := g.do(t, "POST", "/json", "application/json", strings.NewReader(cardJSON), nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "source_busy") || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("want 429 source_busy with Retry-After: 1, got %d %v %s", resp.StatusCode, resp.Header, obstestMask(string(body)))
	}
	share.Release("127.0.0.1", 30)
	resp, body = g.do(t, "POST", "/json", "application/json", strings.NewReader(cardJSON), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the share free: %d %s", resp.StatusCode, obstestMask(string(body)))
	}

	// Chunked (no length): what it sent, reserved as it is read (as the
	// buffer reading it grows, heldStep at the least), not max_body.
	chunked := bodybudget.New(4<<20, 0)
	g = newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: chunked, maxBody: 1 << 20})
	got := rawExchange(t, g.Listener.Addr().String(), "POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+
		"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+strconv.FormatInt(int64(len(cardJSON)), 16)+"\r\n"+cardJSON+"\r\n0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("chunked: %q", obstestMask(got))
	}
	waitGivenBack(t, chunked, "chunked")
	if p := chunked.Peak(); p == 0 || p > heldStep+int64(len(`{"ok":true}`)) {
		t.Errorf("a %d-byte body of unknown length reserved up to %d bytes at once, want at most %d and its answer",
			len(cardJSON), p, heldStep)
	}
}

// TestCapturesCountInTheBodyBudget: with the inspector on, the proxy
// keeps a copy of every exchange's bodies (up to its capture limit per
// body and side) until the exchange is over, on routes that stream their
// bodies too: copies no budget bounded, so streams × sides × the limit of
// them. The bytes a capture keeps are reserved of the body budget, all
// captures together counting as one sender; past it the capture is kept
// partial and the exchange goes on untouched, and everything goes back
// once the exchange is handed to the Capturer.
func TestCapturesCountInTheBodyBudget(t *testing.T) {
	up := newUpstream(t, nil)
	const streamRoute = `routes:
  - id: stream
    direction: inbound
    host: "*"
    path_prefix: /stream
    upstream: {{UP}}
    leak_guard: "off"
`
	b := bodybudget.New(100, 0)
	c := &recCapturer{limit: 1 << 10}
	tv := newTestVault(t)
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(t, streamRoute, up.URL)), Tokenizer: tv.tok,
		Capturer: c, Budget: b})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(obs.AccessLog(nil, nil, "inbound", in))
	t.Cleanup(srv.Close)
	body := strings.Repeat("x", 1000)
	res, err := http.Post(srv.URL+"/stream/x", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: the capture's budget must not refuse traffic", res.StatusCode)
	}
	if got := up.requests(); len(got) != 1 || string(got[0].Body) != body {
		t.Fatalf("the upstream did not get the whole body")
	}
	x := c.wait(t, 1)
	kept := len(x.Request.Received.Body) + len(x.Request.Sent.Body) + len(x.Response.Received.Body) + len(x.Response.Sent.Body)
	if kept > 100 || !x.Request.Received.Partial {
		t.Errorf("the capture kept %d bytes (request partial: %v), more than the 100-byte budget", kept, x.Request.Received.Partial)
	}
	if b.Peak() == 0 {
		t.Error("the capture reserved nothing")
	}
	waitGivenBack(t, b, "capture")
}

// TestHoldBodiesCountsAnAPIsDocuments: HoldBodies reserves a request's
// declared length (what it sent without one) while the handler runs, refuses what
// does not fit as a phase does, and gives it back when the handler
// returns; a request without a body reserves nothing.
func TestHoldBodiesCountsAnAPIsDocuments(t *testing.T) {
	b := bodybudget.New(100, 0)
	inside := make(chan int64, 1)
	h := HoldBodies(b, 80, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the API reads its document
		inside <- b.Used()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		name   string
		body   string
		length int64 // -1: chunked
		status int
		held   int64
	}{
		{"declared", strings.Repeat("x", 50), 50, http.StatusNoContent, 50},
		{"chunked", strings.Repeat("x", 10), -1, http.StatusNoContent, 10}, // as read (apiBody)
		{"declared past max", strings.Repeat("x", 101), 101, http.StatusNoContent, 80},
		{"none", "", 0, http.StatusNoContent, 0},
	} {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(c.body))
		req.ContentLength = c.length
		if c.length < 0 {
			req.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(c.body)}) // no length known
			req.ContentLength = -1
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.status)
		}
		if got := <-inside; got != c.held {
			t.Errorf("%s: %d bytes held while the handler ran, want %d", c.name, got, c.held)
		}
		waitGivenBack(t, b, c.name)
	}
	if err := b.Reserve("someone", 50); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(strings.Repeat("x", 60)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "gateway_busy") {
		t.Errorf("with the budget taken: %d %v %s, want 503 gateway_busy with Retry-After", resp.StatusCode, resp.Header, body)
	}
}
