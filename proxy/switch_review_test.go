package proxy

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
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
