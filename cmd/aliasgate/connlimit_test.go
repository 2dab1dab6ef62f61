package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr (host:port) from the loopback
// address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	c, err := loopbackDialer(ip).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// served reports whether a keep-alive GET of path on c gets an answer (any
// status); the connection stays open after it.
func served(c net.Conn, host, path string) bool {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		return false
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return true
}

// TestConnectionsPerSourceAreBounded: one source address holds
// limits.max_conns_per_source keep-alive connections open on each
// listener (inbound, outbound, admin);
// past it a new connection is closed before anything is read and counted,
// while another address is served, and a place freed by a closed
// connection is taken again. Before, nothing bounded them: one address
// held as many connections as it opened (each a goroutine, buffers and a
// file descriptor; a request every idle_timeout keeps one alive).
func TestConnectionsPerSourceAreBounded(t *testing.T) {
	const limit = 8
	g, _, _ := abuseGateway(t, map[string]string{"ALIASGATE_LIMITS_MAX_CONNS_PER_SOURCE": fmt.Sprint(limit),
		"ALIASGATE_OUTBOUND_REQUIRE_AUTH": "false"})
	for _, l := range []struct{ name, url, path string }{
		{"inbound", g.inbound, "/nothing-here"},
		{"outbound", g.outbound, "http://127.0.0.1:1/"},
		{"admin", g.admin, "/healthz"},
	} {
		t.Run(l.name, func(t *testing.T) {
			addr := strings.TrimPrefix(l.url, "http://")
			var held []net.Conn
			for i := range limit {
				c := dialFrom(t, "127.0.0.2", addr)
				if !served(c, addr, l.path) {
					t.Fatalf("connection %d of %d from one address was not served", i+1, limit)
				}
				held = append(held, c)
			}
			over := dialFrom(t, "127.0.0.2", addr)
			if served(over, addr, l.path) {
				t.Fatalf("connection %d from one address was served with limits.max_conns_per_source %d", limit+1, limit)
			}
			if !served(dialFrom(t, "127.0.0.3", addr), addr, l.path) {
				t.Fatal("another address was refused")
			}
			held[limit-1].Close()
			// The place is free once the gateway has seen the close: a
			// new connection is taken then (the loop ends on the first
			// one served; each attempt is a connection of its own).
			deadline := time.Now().Add(10 * time.Second)
			for !served(dialFrom(t, "127.0.0.2", addr), addr, l.path) {
				if time.Now().After(deadline) {
					t.Fatal("a place freed by a closed connection was not taken again")
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
			if !strings.Contains(string(metrics), `aliasgate_conns_refused_total{listener="`+l.name+`"}`) {
				t.Errorf("metrics count no refused connection on %s", l.name)
			}
		})
	}
}

// TestTrustedProxiesAreBoundedWhereTheyAreNotProxies: limits.trusted_proxies
// names the load balancers in front of the inbound listener (only there is
// X-Forwarded-For read), so only there are their connections left out of
// limits.max_conns_per_source. Before, an address in trusted_proxies (often
// a whole private range) held as many connections as it opened on the
// outbound and admin listeners too, where nothing treats it as a proxy.
func TestTrustedProxiesAreBoundedWhereTheyAreNotProxies(t *testing.T) {
	const limit = 4
	g, _, _ := abuseGateway(t, map[string]string{"ALIASGATE_LIMITS_MAX_CONNS_PER_SOURCE": fmt.Sprint(limit),
		"ALIASGATE_OUTBOUND_REQUIRE_AUTH": "false", "ALIASGATE_LIMITS_TRUSTED_PROXIES": "127.0.0.0/29"})
	for _, l := range []struct {
		name, url, path string
		exempt          bool
	}{
		{"inbound", g.inbound, "/nothing-here", true},
		{"outbound", g.outbound, "http://127.0.0.1:1/", false},
		{"admin", g.admin, "/healthz", false},
	} {
		t.Run(l.name, func(t *testing.T) {
			addr := strings.TrimPrefix(l.url, "http://")
			for i := range limit {
				if !served(dialFrom(t, "127.0.0.5", addr), addr, l.path) {
					t.Fatalf("connection %d of %d from a trusted proxy was not served", i+1, limit)
				}
			}
			if got := served(dialFrom(t, "127.0.0.5", addr), addr, l.path); got != l.exempt {
				t.Fatalf("connection %d from an address of limits.trusted_proxies: served %v, want %v", limit+1, got, l.exempt)
			}
		})
	}
}
