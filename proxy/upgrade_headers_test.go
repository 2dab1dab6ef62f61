package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestProtocolSwitchHeadersPassTheResponseFilters: the response phase
// skipped a 101 Switching Protocols whole, so on a route whose response
// filters redact a header (no body target: the upgrade is allowed) the
// upstream's 101 carried the header's card number to the client in clear,
// and the leak guard never looked at its headers. The 101's headers go
// through the route's response header filters and the guard as any
// response's do; its body (the frames) is still not read.
func TestProtocolSwitchHeadersPassTheResponseFilters(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"X-Card-Number: " + testPAN + "\r\nX-Note: " + testPAN + "\r\n\r\n")
		_ = brw.Flush()
	})
	const rt = `routes:
  - id: resphdr
    direction: inbound
    host: "*"
    path_prefix: /resphdr
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - id: card-out-header
        phase: response
        operation: redact
        targets: [{header: X-Card-Number}]
  - id: loggedhdr
    direction: inbound
    host: "*"
    path_prefix: /loggedhdr
    upstream: {{UP}}
    leak_guard: log
`
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, rt, up.URL), nil, gwOptions{logger: c.Logger})
	upgrade := func(path string) *http.Response {
		t.Helper()
		conn, err := net.Dial("tcp", g.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := upgrade("/resphdr/ws")
	if v := resp.Header.Get("X-Card-Number"); strings.Contains(v, testPAN) {
		t.Errorf("status %d: the 101's X-Card-Number reached the client in clear past the route's response filter", resp.StatusCode)
	} else if resp.StatusCode != http.StatusSwitchingProtocols || v == "" {
		t.Errorf("status %d, X-Card-Number %q: want 101 with the header redacted", resp.StatusCode, v)
	}
	if resp := upgrade("/loggedhdr/ws"); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("/loggedhdr/ws: status %d, want 101", resp.StatusCode)
	}
	if n := len(c.Messages("proxy: leak guard found card-like numbers no filter redacted")); n != 1 {
		t.Errorf("%d leak guard lines for the card numbers in a 101's headers on a leak_guard: log route, want 1", n)
	}
}
