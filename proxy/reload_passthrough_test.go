package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestPassthroughTunnelEndsWhenAReloadRoutesItsHost: a reload that gives a
// passthrough host an outbound route (its response filters, its leak
// guard) makes every new CONNECT to it intercepted, but a passthrough
// tunnel opened before went on carrying raw bytes — the destination's
// answers unfiltered, card numbers included — for as long as the client
// kept it, while an intercepted tunnel of a route a reload removed is
// ended (TestRouteRemovedByAReloadEndsItsInterceptedTunnels). Now a
// passthrough tunnel follows the set in force as it carries bytes: once
// its host is routed, the next bytes end it and never reach the
// destination (the client's next CONNECT is intercepted). A reload that
// leaves its host unrouted leaves it open.
func TestPassthroughTunnelEndsWhenAReloadRoutesItsHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var got bytes.Buffer // what the destination received
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						mu.Lock()
						got.Write(buf[:n])
						mu.Unlock()
						_, _ = c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cl := &switchedClient{state: "ok"}
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, passthrough: []string{"echo.test"},
		resolver: mapResolver{"echo.test": "127.0.0.1"}, authenticate: cl.authenticate})
	resp, conn, br := rawConnect(t, g.srv.Listener.Addr().String(), "echo.test:"+port, "cli", "s3cret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	echo := func(s string) error {
		if _, err := conn.Write([]byte(s)); err != nil {
			return err
		}
		buf := make([]byte, len(s))
		_, err := io.ReadFull(br, buf)
		if err == nil && string(buf) != s {
			return fmt.Errorf("echoed %q", buf)
		}
		return err
	}
	if err := echo("one;"); err != nil {
		t.Fatalf("before: %v", err)
	}
	// A reload that routes another host only: the tunnel stays.
	g.ob.table.Store(parseRoutes(t, `routes:
  - id: other
    direction: outbound
    host: other.test
    filters:
      - {id: r, phase: request, operation: reveal, targets: [{json: card.number}]}
`, ""))
	if err := echo("two;"); err != nil {
		t.Fatalf("after a reload that leaves its host unrouted: %v (the tunnel must stay open)", err)
	}
	// A reload that routes its host: the tunnel ends.
	g.ob.table.Store(parseRoutes(t, `routes:
  - id: echo
    direction: outbound
    host: echo.test
    filters:
      - {id: r, phase: response, operation: redact, targets: [{json: card.number}]}
`, ""))
	_, _ = conn.Write([]byte("three;"))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the passthrough tunnel stayed open after a reload routed its host")
	}
	mu.Lock()
	defer mu.Unlock()
	if got.String() != "one;two;" {
		t.Fatalf("the destination received %q, want only what was sent before the reload", got.String())
	}
}
