package proxy

import (
	"bytes"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// streamRoutes: a response phase that passes what it cannot read
// (on_error: pass, leak_guard: log), so a body past the limit streams on.
const streamRoutes = `routes:
  - id: stream
    direction: outbound
    host: "*.example.com"
    leak_guard: log
    filters:
      - id: redact-echo
        phase: response
        on_error: pass
        match: {content_type: json}
        operation: redact
        targets:
          - {json: echo.pan}
`

// TestOutboundOversizedChunkedResponseStreams: a response of unknown
// length larger than the body limit, on a route whose response phase lets
// it pass, reaches the client whole through an intercepted tunnel (the
// phase read the first max+1 bytes and hands back a reader that joins
// them to the rest; the body goproxy knows must not end up reading
// itself), with one access line counting every byte.
func TestOutboundOversizedChunkedResponseStreams(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), (DefaultMaxBody+4096)/16)
	reply := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // no Content-Length: chunked
		_, _ = w.Write(want)
	}
	psp := newTLSUpstream(t, reply)
	plain := newUpstream(t, reply)
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())
	c := obstest.NewCapture(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: c.Logger, metrics: obs.NewMetrics(), routes: streamRoutes})
	get := func(t *testing.T, u string) {
		t.Helper()
		resp, err := g.client(psp.Certificate()).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading the response: %v (%d bytes)", err, len(got))
		}
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("status %d, %d bytes, want 200 and %d bytes", resp.StatusCode, len(got), len(want))
		}
	}
	t.Run("tunnel", func(t *testing.T) {
		get(t, "https://psp.example.com:"+psp.port()+"/big")
		lines := waitLines(t, c, 2) // the CONNECT and the request
		n := 0
		for _, l := range lines {
			if l["path"] == "/big" {
				n++
				if l["status"] != float64(200) || l["bytes"] != float64(len(want)) {
					t.Errorf("access line %v, want status 200 and %d bytes", l, len(want))
				}
			}
		}
		if n != 1 {
			t.Errorf("%d access lines for the request, want 1: %v", n, lines)
		}
	})
	t.Run("plain HTTP", func(t *testing.T) {
		get(t, "http://plain.example.com:"+plainPort+"/big")
	})
}

// TestUnreachableUpstreamLoggedAsSuch: a routed request whose upstream
// cannot be reached is answered 502 and logged as an upstream failure
// (WARN), not as a client that went away, inbound and through an
// intercepted tunnel: the transport's failure must not cancel the
// request's own context, which upstreamFailure reads to tell the two
// apart.
func TestUnreachableUpstreamLoggedAsSuch(t *testing.T) {
	closed := newUpstream(t, nil)
	closedURL := closed.URL
	_, closedPort, _ := net.SplitHostPort(closed.Listener.Addr().String())
	closed.Close()
	check := func(t *testing.T, c *obstest.Capture, status int) {
		t.Helper()
		if status != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", status)
		}
		if got := c.Messages("proxy: upstream unavailable"); len(got) != 1 || got[0]["level"] != "WARN" {
			t.Fatalf("upstream unavailable lines %v, want one WARN; gone: %v", got, c.Messages("proxy: client went away"))
		}
	}
	t.Run("inbound", func(t *testing.T) {
		c := obstest.NewCapture(t)
		g := newGateway(t, parseRoutes(t, testRoutes, closedURL), nil, gwOptions{logger: c.Logger})
		resp, _ := g.do(t, "POST", "/json", "application/json", strings.NewReader(`{"amount":1}`), nil)
		check(t, c, resp.StatusCode)
	})
	t.Run("outbound", func(t *testing.T) {
		c := obstest.NewCapture(t)
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, logger: c.Logger})
		cl := g.client()
		defer cl.CloseIdleConnections()
		resp, _ := post(t, cl, "https://psp.example.com:"+closedPort+"/v1/charges", "application/json", `{"amount":1}`)
		check(t, c, resp.StatusCode)
	})
}

// TestClientGoneCancelsUpstream: a client that gives up while the upstream
// of an inbound routed request has not answered cancels the upstream
// request (well before the upstream timeout). The outbound proxy's calls
// to processors are not cancelled so (docs/DECISIONS.md, a client that
// leaves mid-call; TestProcessorCallOutlivesAClientThatLeaves): its plain
// HTTP was, until that decision.
func TestClientGoneCancelsUpstream(t *testing.T) {
	gone := make(chan struct{}, 4)
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			gone <- struct{}{}
		case <-time.After(4 * time.Second):
		}
	})
	wait := func(t *testing.T) {
		t.Helper()
		select {
		case <-gone:
		case <-time.After(2 * time.Second):
			t.Fatal("the upstream request was not cancelled when the client went away")
		}
	}
	t.Run("inbound", func(t *testing.T) {
		g := newGateway(t, parseRoutes(t, testRoutes, slow.URL), nil, gwOptions{timeout: 10 * time.Second})
		cl := &http.Client{Timeout: 200 * time.Millisecond}
		if _, err := cl.Post(g.URL+"/json", "application/json", strings.NewReader(`{"amount":1}`)); err == nil {
			t.Fatal("the client got an answer")
		}
		wait(t)
	})
}

// TestInterceptedLinesWhenExchangesBreak: inside an intercepted tunnel,
// an upstream that breaks off its body, a client that leaves in the middle
// of a long response and a 304 each still end in exactly one access line
// (with the status the client was sent), and once the exchanges are over
// no goroutine or timer of theirs is left.
func TestInterceptedLinesWhenExchangesBreak(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/broken":
			_, _ = io.WriteString(w, `{"part":`)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection is cut mid-body
		case "/long":
			for i := 0; i < 2000; i++ {
				if _, err := w.Write(bytes.Repeat([]byte("x"), 4096)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(time.Millisecond)
			}
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		}
	})
	c := obstest.NewCapture(t)
	doc := streamRouteDoc
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger, routes: doc})
	base := "https://pay.example.com:" + psp.port()
	run := func(i int) {
		cl := g.client()
		defer cl.CloseIdleConnections()
		for _, p := range []string{"/broken", "/long", "/notmodified"} {
			resp, err := cl.Get(base + p + "?i=" + strconv.Itoa(i))
			if err != nil {
				continue // the broken body may fail the client's read of the head
			}
			if p == "/long" {
				_, _ = io.CopyN(io.Discard, resp.Body, 8192) // and leave
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
		}
	}
	run(0) // warm up what lives as long as the gateway
	waitLines(t, c, 3)
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 10
	for i := 1; i <= n; i++ {
		run(i)
	}
	lines := waitLines(t, c, 3*(n+1))
	count := map[string]int{}
	for _, l := range lines {
		p, _ := l["path"].(string)
		count[p]++
		want := map[string]float64{"/broken": 200, "/long": 200, "/notmodified": 304}[p]
		if want != 0 && l["status"] != want {
			t.Errorf("line %v, want status %v", l, want)
		}
	}
	for _, p := range []string{"/broken", "/long", "/notmodified"} {
		if count[p] != n+1 {
			t.Errorf("%d access lines for %s, want %d", count[p], p, n+1)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the lines' late ones settle
	if again := accessLines(c); len(again) != 3*(n+1) {
		t.Errorf("%d access lines in the end, want %d", len(again), 3*(n+1))
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after %d rounds, %d before:\n%s", after, n, before, buf[:runtime.Stack(buf, true)])
	}
}
