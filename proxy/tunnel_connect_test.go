package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOutboundRefusesConnectInsideARequest: a CONNECT read from an
// intercepted tunnel was routed, filtered and revealed like any request,
// then forwarded as a CONNECT: to an HTTP/2 processor the transport sends
// a CONNECT with no path (its target is the authority), so the route's
// filter bound to ^/v1$ revealed a card number that went out on a CONNECT
// stream for pay.example.com, the tunnel request a front end that proxies
// opens and no route reads; "Connect" (another method to net/http, the
// same to a parser that folds case) went out as sent, in a tunnel or in
// plain HTTP. The proxy answers 405 connect_refused, as the inbound
// listener does: CONNECT opens the proxy's own tunnels, it is never
// forwarded.
func TestOutboundRefusesConnectInsideARequest(t *testing.T) {
	var mu sync.Mutex
	var got []string
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Proto+" "+r.Method+" "+r.RequestURI+" "+obstestMask(string(b)))
		mu.Unlock()
	})
	psp := httptest.NewUnstartedServer(record)
	psp.EnableHTTP2 = true
	psp.StartTLS()
	t.Cleanup(psp.Close)
	plain := httptest.NewServer(record)
	t.Cleanup(plain.Close)
	_, port, _ := net.SplitHostPort(psp.Listener.Addr().String())
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: `routes:
  - id: psp
    direction: outbound
    host: pay.example.com
    filters:
      - {id: reveal-v1, phase: request, operation: reveal, match: {path: "^/v1$"}, targets: [{json: card.number}]}
  - id: cleartext
    direction: outbound
    host: plain.example.com
    unsafe_reveal_over_plain_http: true
    filters:
      - {id: reveal-v1, phase: request, operation: reveal, match: {path: "^/v1$"}, targets: [{json: card.number}]}
`})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	check := func(t *testing.T, br *bufio.Reader) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		answer := readAll(t, resp)
		mu.Lock()
		defer mu.Unlock()
		for _, g := range got {
			t.Errorf("the destination got %s", g)
		}
		got = nil
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get(ErrorHeader) != "connect_refused" {
			t.Fatalf("status %d: %s", resp.StatusCode, answer)
		}
	}
	for _, line := range []string{"CONNECT /v1", "CONNECT pay.example.com:" + port, "Connect /v1"} {
		t.Run("tunnel, "+line, func(t *testing.T) {
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "pay.example.com:"+port, "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			tlc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "pay.example.com"})
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := io.WriteString(tlc, line+" HTTP/1.1\r\nHost: pay.example.com:"+port+"\r\nContent-Type: application/json\r\n"+
				"Connection: close\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
			if err != nil {
				t.Fatal(err)
			}
			check(t, bufio.NewReader(tlc))
		})
	}
	t.Run("plain HTTP, Connect", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.WriteString(conn, "Connect http://plain.example.com:"+pport+"/v1 HTTP/1.1\r\nHost: plain.example.com:"+pport+"\r\n"+
			"Proxy-Authorization: Basic Y2xpOnMzY3JldA==\r\nContent-Type: application/json\r\nConnection: close\r\n"+
			"Content-Length: "+itoa(len(body))+"\r\n\r\n"+body)
		if err != nil {
			t.Fatal(err)
		}
		check(t, bufio.NewReader(conn))
	})
	// A POST /v1 in the tunnel is revealed as before.
	resp, b := post(t, g.client(psp.Certificate()), "https://pay.example.com:"+port+"/v1", "application/json", body)
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != http.StatusOK || len(got) != 1 || !strings.Contains(got[0], "POST /v1 ") || strings.Contains(got[0], panA) {
		t.Fatalf("status %d %s; the processor got %q", resp.StatusCode, b, got)
	}
}
