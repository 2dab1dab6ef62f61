package proxy

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// hopHeaders are hop-by-hop and proxy headers, in the spellings a client
// may send, with the names of the extra headers Connection lists.
var hopHeaders = http.Header{
	"proxy-authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("cli:s3cret"))},
	"PROXY-AUTHENTICATE":  {"Basic realm=x"},
	"proxy-connection":    {"keep-alive"},
	"connection":          {"keep-alive, X-Foo"},
	"Connection":          {"x-bar ,  X-BAZ"},
	"x-foo":               {"4111111111111111"},
	"X-Bar":               {"2"},
	"x-baz":               {"3"},
	"keep-alive":          {"timeout=5"},
	"te":                  {"trailers"},
	"UPGRADE":             {"websocketx"},
	"trailer":             {"X-T"},
	"http2-settings":      {"AAMAAABkAAQ"},
	"X-Kept":              {"yes"},
}

func checkNoHop(t *testing.T, got []received) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("the upstream got %d requests", len(got))
	}
	h := got[0].Header
	for k, v := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Proxy-Authorization", "Proxy-Authenticate", "Proxy-Connection", "Connection", "X-Foo", "X-Bar", "X-Baz",
			"Keep-Alive", "Te", "Upgrade", "Trailer", "Http2-Settings":
			t.Errorf("the upstream got %s: %q", k, v)
		}
		for _, s := range v {
			if strings.Contains(s, "s3cret") || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte("cli:s3cret"))) {
				t.Errorf("the upstream got the proxy credential in %s", k)
			}
		}
	}
	if h.Get("X-Kept") != "yes" {
		t.Errorf("X-Kept did not arrive: %v", h)
	}
}

// TestHopByHopNotForwardedAnySpelling: with goproxy's KeepHeader on, no
// hop-by-hop or proxy header (any case, several Connection lines and
// tokens) nor the proxy credential reaches the processor, plain HTTP (raw
// bytes on the proxy's socket) or inside a tunnel, routed or not.
func TestHopByHopNotForwardedAnySpelling(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, passthrough: []string{"unrouted.test"}, roots: []*x509.Certificate{psp.Certificate()}, routes: hopRoutes})
	_, pport, _ := strings.Cut(strings.TrimPrefix(plain.URL, "http://"), ":")
	for _, host := range []string{"plain.example.com", "unrouted.test"} {
		t.Run("plain HTTP "+host, func(t *testing.T) {
			before := len(plain.requests())
			c, err := net.Dial("tcp", g.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var b strings.Builder
			fmt.Fprintf(&b, "POST http://%s:%s/h HTTP/1.1\r\nHost: %s:%s\r\n", host, pport, host, pport)
			for k, vs := range hopHeaders {
				for _, v := range vs {
					fmt.Fprintf(&b, "%s: %s\r\n", k, v)
				}
			}
			b.WriteString("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
			if _, err := io.WriteString(c, b.String()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			checkNoHop(t, plain.requests()[before:])
		})
	}
	t.Run("tunnel", func(t *testing.T) {
		cl := g.client()
		defer cl.CloseIdleConnections()
		req, err := http.NewRequest("POST", "https://psp.example.com:"+psp.port()+"/h", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hopHeaders {
			req.Header[k] = v
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		checkNoHop(t, psp.requests())
	})
}

// hangingUpstream answers nothing until its request's context ends, then
// reports that on done; started, when not nil, hears of each request.
func hangingUpstream(t *testing.T, h2 bool, started ...chan struct{}) (*httptest.Server, chan struct{}) {
	done := make(chan struct{}, 64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for _, c := range started {
			c <- struct{}{}
		}
		<-r.Context().Done()
		done <- struct{}{}
	}))
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, done
}

// TestUpstreamTimeoutWithoutTransportTimer: with
// no ResponseHeaderTimeout on the transport, an upstream that never sends
// response headers (HTTP/1 and HTTP/2, in a tunnel and plain HTTP) ends
// the request with 504 upstream_timeout and its upstream request is
// cancelled; the vault still sees the route and client inside the
// tunnel; and once the connections are closed no goroutine is left.
func TestUpstreamTimeoutWithoutTransportTimer(t *testing.T) {
	h1, done1 := hangingUpstream(t, false)
	h2, done2 := hangingUpstream(t, true)
	plainDone := make(chan struct{}, 64)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		plainDone <- struct{}{}
	}))
	t.Cleanup(plain.Close)
	tv := newTestVault(t)
	tok := &ctxTokenizer{Tokenizer: tv.tok}
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{h1.Certificate(), h2.Certificate()},
		tok: tok, timeout: 200 * time.Millisecond, passthrough: []string{"unrouted.test"}})
	panA, _ := aliases(t, tv)
	body := `{"card":{"number":"` + panA + `"}}`
	port := func(s *httptest.Server) string { _, p, _ := net.SplitHostPort(s.Listener.Addr().String()); return p }
	cases := []struct {
		name string
		url  string
		done chan struct{}
	}{
		{"tunnel HTTP/1", "https://psp.example.com:" + port(h1) + "/v1/charges", done1},
		{"tunnel HTTP/2", "https://psp.example.com:" + port(h2) + "/v1/charges", done2},
		{"plain HTTP", "http://unrouted.test:" + port(plain) + "/v1/charges", plainDone},
	}
	cl := g.client()
	settle := func() int {
		cl.CloseIdleConnections()
		g.ob.transport.CloseIdleConnections()
		h1.CloseClientConnections()
		h2.CloseClientConnections()
		plain.CloseClientConnections()
		n := runtime.NumGoroutine()
		for range 100 {
			time.Sleep(20 * time.Millisecond)
			if m := runtime.NumGoroutine(); m < n {
				n = m
			}
		}
		return n
	}
	run := func(t *testing.T, url string, done chan struct{}) {
		resp, got := post(t, cl, url, "application/json", body)
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(got, "upstream_timeout") {
			t.Fatalf("status %d: %s", resp.StatusCode, got)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the upstream request was not cancelled", url)
		}
	}
	for _, tc := range cases {
		run(t, tc.url, tc.done) // warm up: the pools and the CA's certificates
	}
	before := settle()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 5 {
				run(t, tc.url, tc.done)
			}
			tok.mu.Lock()
			ctx := tok.ctxs[len(tok.ctxs)-1]
			tok.mu.Unlock()
			if a := vault.ActorFrom(ctx); strings.HasPrefix(tc.name, "tunnel") && (a.Route != "psp" || a.Client != "cli") {
				t.Fatalf("the vault saw actor %+v", a)
			}
		})
	}
	// A leak stays; goroutines that are only slow to end (a loaded machine)
	// do not: look again, up to a minute (a bound on a hang, not a timing),
	// before calling what is left a leak.
	after := settle()
	for end := time.Now().Add(time.Minute); after > before && time.Now().Before(end); {
		after = settle()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after, %d before:\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestClientHangUpCancelsUpstream: a client that hangs up cancels the
// upstream request: plain HTTP at once (well before the 30 s upstream
// timeout); inside a tunnel nothing reads the client's connection while
// goproxy's loop waits for the upstream, so the hang-up goes unseen there
// and the upstream timeout (1 s here) ends the request: the tunnel's
// context, a cancelCtx under Background, is cancelled by the timer.
func TestClientHangUpCancelsUpstream(t *testing.T) {
	started := make(chan struct{}, 8)
	h1, done1 := hangingUpstream(t, false, started)
	plainDone := make(chan struct{}, 8)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		started <- struct{}{}
		<-r.Context().Done()
		plainDone <- struct{}{}
	}))
	t.Cleanup(plain.Close)
	port := func(s *httptest.Server) string { _, p, _ := net.SplitHostPort(s.Listener.Addr().String()); return p }
	for _, tc := range []struct {
		name    string
		url     string
		timeout time.Duration
		done    chan struct{}
	}{
		{"plain HTTP", "http://unrouted.test:" + port(plain) + "/v1/charges", 30 * time.Second, plainDone},
		{"tunnel", "https://psp.example.com:" + port(h1) + "/v1/charges", time.Second, done1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{h1.Certificate()}, timeout: tc.timeout,
				passthrough: []string{"unrouted.test"}})
			panA, _ := aliases(t, g.vault)
			cl := g.client()
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", tc.url, strings.NewReader(`{"card":{"number":"`+panA+`"}}`))
			req.Header.Set("Content-Type", "application/json")
			errc := make(chan error, 1)
			go func() {
				resp, err := cl.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			<-started // the request reached the upstream
			cancel()
			<-errc
			cl.CloseIdleConnections()
			select {
			case <-tc.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("the client hung up; the upstream request was not cancelled within 10 s (timeout %s)", tc.timeout)
			}
		})
	}
}
