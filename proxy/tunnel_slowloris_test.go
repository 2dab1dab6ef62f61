package proxy

import (
	"bufio"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestTunnelRequestHeadersHaveAReadTimeout: the listener cuts off a client
// that does not send a request's line and headers within
// limits.read_header_timeout, but inside an intercepted tunnel (hijacked:
// http.Server's timeouts end there) only the idle timeout held, which any
// byte resets: a client that opened a tunnel and trickled a request's
// headers a byte at a time (or a TLS handshake) held the tunnel and its
// goroutines for as long as it liked, and a tunnel that went quiet after
// its handshake was held for the whole idle timeout (120 s by default).
// TunnelHeaderTimeout bounds the wait for each request's headers as
// http.Server.ReadHeaderTimeout does: from the CONNECT for the first
// (handshake included), from its first byte for the next; a keep-alive
// tunnel quiet between requests is still the idle timeout's.
func TestTunnelRequestHeadersHaveAReadTimeout(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	psp := newTLSUpstream(t, nil)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: obstest.Logger(t), metrics: m, tunnelIdle: time.Minute, tunnelHeader: headerTimeout})
	addr := g.srv.Listener.Addr().String()
	target := "psp.example.com:" + psp.port()
	head := "GET /pay HTTP/1.1\r\nHost: " + target + "\r\n"

	t.Run("no handshake", func(t *testing.T) {
		resp, conn, br := rawConnect(t, addr, target, "cli", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		if !closedWithin(conn, br, 10*headerTimeout) {
			t.Fatal("a tunnel whose client never starts TLS is still open")
		}
	})
	t.Run("quiet after the handshake", func(t *testing.T) {
		tc := tunnelTLS(t, g, target)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(tc, tc, 10*headerTimeout) {
			t.Fatal("a tunnel quiet after its handshake is still open")
		}
	})
	t.Run("headers trickled", func(t *testing.T) {
		tc := tunnelTLS(t, g, target)
		rest := "X-Slow: " + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
		if _, err := io.WriteString(tc, head); err != nil {
			t.Fatal(err)
		}
		cut := false
		for i := 0; i < len(rest) && !cut; i++ {
			time.Sleep(headerTimeout / 6) // 60 bytes: 10 header timeouts
			if _, err := tc.Write([]byte{rest[i]}); err != nil {
				cut = true
			}
		}
		if !cut {
			resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("a request whose headers took 10 header timeouts was answered %d", resp.StatusCode)
			}
		}
		if n := len(psp.requests()); n != 0 {
			t.Fatalf("the processor got %d requests", n)
		}
	})
	t.Run("keep-alive pause between requests", func(t *testing.T) {
		// Regression cover: quiet between requests is the idle
		// timeout's, and a request sent at once after it is served.
		tc := tunnelTLS(t, g, target)
		br := bufio.NewReader(tc)
		for i := range 2 {
			if i > 0 {
				time.Sleep(3 * headerTimeout)
			}
			if _, err := io.WriteString(tc, head+"\r\n"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
		}
	})
}

// TestTunnelRequestBodiesHaveAReadTimeout: the listener's
// limits.read_timeout bounds the reading of a whole request, body
// included, but inside an intercepted tunnel only the idle timeout held:
// a body trickled a byte under it (up to limits.max_body, 10 MiB) held the
// tunnel and, on a route that reads bodies, its buffer, for as long as the
// client liked. TunnelReadTimeout bounds each request inside a tunnel from
// the start of its headers' wait to the end of its body: the body's read
// fails (408 where it streams, 400 body_unreadable where the route reads
// it, as for the listener's read_timeout) and the tunnel ends; the
// processor never gets the whole body.
func TestTunnelRequestBodiesHaveAReadTimeout(t *testing.T) {
	const readTimeout = 400 * time.Millisecond
	psp := newTLSUpstream(t, nil)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: obstest.Logger(t), metrics: m, tunnelIdle: time.Minute, tunnelRead: readTimeout})
	target := "psp.example.com:" + psp.port()
	body := `{"card":{"number":"tok_test_1111111111111111111111","pad":"` + strings.Repeat("a", 30) + `"}}`
	for _, tc := range []struct{ name, ctype, before string }{
		{"a route that reads bodies", "application/json", ""},
		{"a body streamed", "application/octet-stream", ""},
		// The slow request's headers come in the write of a request
		// before: read from goproxy's buffer, no wait for them is seen.
		{"pipelined behind a request", "application/octet-stream", "GET /pay HTTP/1.1\r\nHost: " + target + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc2 := tunnelTLS(t, g, target)
			if _, err := io.WriteString(tc2, tc.before+"POST /pay HTTP/1.1\r\nHost: "+target+"\r\nContent-Type: "+tc.ctype+
				"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			answered := make(chan int, 1)
			go func() {
				br := bufio.NewReader(tc2)
				if tc.before != "" {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						answered <- 0
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					answered <- 0
					return
				}
				resp.Body.Close()
				answered <- resp.StatusCode
			}()
			status := -1
		trickle:
			for i := 0; i < len(body); i++ { // 80 bytes: 10 read timeouts
				select {
				case status = <-answered:
					break trickle
				case <-time.After(readTimeout / 8):
				}
				if _, err := tc2.Write([]byte{body[i]}); err != nil {
					break
				}
			}
			if status == -1 {
				status = <-answered
			}
			if status != 0 && status != http.StatusRequestTimeout && status != http.StatusBadRequest {
				t.Fatalf("a body that took 10 read timeouts was answered %d, want 408 or 400 (or the tunnel closed)", status)
			}
			for _, r := range psp.requests() {
				if len(r.Body) == len(body) {
					t.Fatalf("the processor got the whole body")
				}
			}
			// The request was answered: the end of its tunnel is not a
			// request goproxy could not read.
			_, _ = io.ReadAll(tc2)
			if n := counterValue(m.Unserved.WithLabelValues("outbound")); n != 0 {
				t.Errorf("%v requests counted as not served, want 0", n)
			}
		})
	}
	t.Run("bodies sent at once, a pause between them", func(t *testing.T) {
		// Regression cover: a request read in time is served, and the
		// bound is each request's, not the tunnel's.
		tc := tunnelTLS(t, g, target)
		br := bufio.NewReader(tc)
		for i := range 2 {
			if i > 0 {
				time.Sleep(2 * readTimeout)
			}
			if _, err := io.WriteString(tc, "POST /pay HTTP/1.1\r\nHost: "+target+"\r\nContent-Type: application/octet-stream"+
				"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
		}
		if got := psp.last(t); string(got.Body) != body {
			t.Fatalf("the processor got %q", got.Body)
		}
	})
}
