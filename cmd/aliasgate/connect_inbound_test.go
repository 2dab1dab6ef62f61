package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestInboundRefusesConnect: a CONNECT sent to the inbound listener was
// forwarded to the route's upstream as a request of that method, body and
// all (an upstream that is itself a proxy would open a tunnel no route
// reads). Every spelling of the request target is refused with 405 and
// the upstream sees nothing; the connection still serves a next request.
func TestInboundRefusesConnect(t *testing.T) {
	var reached atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			reached.Add(1)
		}
		io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte("routes:\n  - {id: r, direction: inbound, host: '*', upstream: '"+upstream.URL+
		"', filters: [{id: f, phase: request, operation: redact, targets: [{json: card}]}]}\n"), 0o600)
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}), "--data-dir", filepath.Join(dir, "data"))
	body := `{"card":"4111111111111111"}`
	for _, target := range []string{"example.com:443", "127.0.0.1:1", "/", "/cards", "http://example.com/"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.inbound, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", target, len(body), body)
		fmt.Fprintf(c, "GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("CONNECT %s: %v", target, err)
			c.Close()
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(b), "connect_refused") {
			t.Errorf("CONNECT %s: %d %s, want 405 connect_refused", target, res.StatusCode, b)
		}
		if next, err := http.ReadResponse(br, nil); err != nil {
			t.Errorf("after CONNECT %s the connection served no next request: %v", target, err)
		} else {
			nb, _ := io.ReadAll(next.Body)
			next.Body.Close()
			if next.StatusCode != 200 || string(nb) != "ok" {
				t.Errorf("after CONNECT %s the next request got %d %q", target, next.StatusCode, nb)
			}
		}
		c.Close()
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the upstream received %d CONNECT requests", n)
	}
}
