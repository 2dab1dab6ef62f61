package proxy

import (
	"bufio"
	"crypto/x509"
	"io"
	"net/http"
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
