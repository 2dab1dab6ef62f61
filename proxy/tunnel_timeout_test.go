package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// tcpEcho is a plain TCP server that echoes every byte back.
func tcpEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// closedWithin reports whether the peer closes conn (EOF or reset) within
// d; a read that times out (ours, d) means the tunnel is still open.
func closedWithin(conn net.Conn, r io.Reader, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := r.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestTunnelIdleTimeout: http.Server's timeouts end when a CONNECT hijacks
// the connection, so the outbound proxy bounds tunnels itself: a tunnel
// (passed through or intercepted) with no byte either way for
// TunnelIdleTimeout is closed; one with traffic stays open.
func TestTunnelIdleTimeout(t *testing.T) {
	const idle = 400 * time.Millisecond
	tv := newTestVault(t)
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	ob, err := NewOutbound(OutboundOptions{
		Table: routes.NewTable(parseRoutes(t, outRoutes, "")), Tokenizer: tv.tok, CA: ca,
		Authenticate: func(_ context.Context, user, pass string) (ProxyClient, error) { return ProxyClient{ID: user}, nil },
		Passthrough:  []string{"pass.test"}, AllowPrivate: true, Resolver: testResolver,
		Logger: obstest.Logger(t), TunnelIdleTimeout: idle, TunnelWriteTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ob)
	t.Cleanup(func() { srv.Close(); ob.Close() })
	addr := srv.Listener.Addr().String()
	echo := tcpEcho(t)

	t.Run("passthrough with traffic stays open, then idles out", func(t *testing.T) {
		resp, conn, br := rawConnect(t, addr, "pass.test:"+echo, "cli", "x")
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		start := time.Now()
		var last time.Time // the last byte through the tunnel
		for time.Since(start) < 3*idle {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Write([]byte("p")); err != nil {
				t.Fatalf("write after %s: %v", time.Since(start), err)
			}
			if b, err := br.ReadByte(); err != nil || b != 'p' {
				t.Fatalf("echo after %s: %q %v", time.Since(start), b, err)
			}
			last = time.Now()
			time.Sleep(idle / 4)
		}
		if !closedWithin(conn, br, 5*idle) {
			t.Fatalf("idle tunnel still open after %s", 5*idle)
		}
		if d := time.Since(last); d < idle/2 {
			t.Errorf("tunnel closed %s after its last byte, well before the idle timeout (%s)", d, idle)
		}
	})

	t.Run("intercepted tunnel without a TLS handshake", func(t *testing.T) {
		resp, conn, br := rawConnect(t, addr, "psp.example.com:443", "cli", "x")
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		if !closedWithin(conn, br, 5*idle) {
			t.Fatal("a tunnel whose client never starts TLS is still open")
		}
	})

	t.Run("intercepted tunnel with a handshake trickled byte by byte", func(t *testing.T) {
		resp, conn, br := rawConnect(t, addr, "psp.example.com:443", "cli", "x")
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		// A TLS record header, one byte at a time, slower than the idle
		// timeout: cut off at the first long gap.
		hello := []byte{0x16, 0x03, 0x01, 0x00, 0x40}
		closed := false
		for _, b := range hello {
			if _, err := conn.Write([]byte{b}); err != nil {
				closed = true
				break
			}
			if closedWithin(conn, bufio.NewReader(br), 2*idle) {
				closed = true
				break
			}
		}
		if !closed {
			t.Fatal("a trickled handshake kept the tunnel open")
		}
	})
}
