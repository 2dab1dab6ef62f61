package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// upgradingUpstream answers every request with 101 Switching Protocols
// and then keeps the connection, writing nothing, until the gateway
// closes it; each end is sent on ended.
func upgradingUpstream(t *testing.T, ended chan<- struct{}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, brw)
		ended <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// openUpgrade upgrades a connection to the gateway's inbound listener on
// path and returns it once the 101 is read.
func openUpgrade(t *testing.T, inbound, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(inbound, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("want 101, got %d", resp.StatusCode)
	}
	return c, br
}

// closedByGateway reads c until the gateway closes it; a connection still
// open after limit fails the test.
func closedByGateway(t *testing.T, what string, c net.Conn, br *bufio.Reader, limit time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: the upgraded connection is still open after %s", what, limit)
	}
}

// TestUpgradedConnectionIsHeldToTheListenerLimits: an upgraded (WebSocket)
// connection through the inbound proxy is hijacked, and http.Server's
// timeouts and Shutdown no longer see it: a client and an upstream that
// answered 101 could hold it open, quiet, for ever (past
// limits.idle_timeout, and on after the gateway stopped, where the
// outbound proxy's tunnels are closed on both counts). It is closed after
// limits.idle_timeout without a byte either way, and when the gateway
// stops, and the upstream's side with it.
func TestUpgradedConnectionIsHeldToTheListenerLimits(t *testing.T) {
	ended := make(chan struct{}, 2)
	up := upgradingUpstream(t, ended)
	upstreamEnded := func(what string) {
		t.Helper()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the upstream's connection is still open", what)
		}
	}
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: ws
    direction: inbound
    host: "*"
    path_prefix: /ws
    upstream: `+up.URL+`
    leak_guard: "off"
`)

	t.Run("idle", func(t *testing.T) {
		g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}),
			"--data-dir", filepath.Join(t.TempDir(), "data"))
		c, br := openUpgrade(t, g.inbound, "/ws")
		closedByGateway(t, "idle 1s", c, br, 10*time.Second)
		upstreamEnded("idle")
	})

	t.Run("shutdown", func(t *testing.T) {
		g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_LIMITS_IDLE_TIMEOUT": "1h"}),
			"--data-dir", filepath.Join(t.TempDir(), "data"))
		c, br := openUpgrade(t, g.inbound, "/ws")
		g.stop(t)
		closedByGateway(t, "stopped", c, br, 10*time.Second)
		upstreamEnded("shutdown")
	})
}
