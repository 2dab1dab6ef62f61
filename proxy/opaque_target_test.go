package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawProcessor is a TLS destination that records each POST as it arrived
// on the wire (its request target and body), whatever a server would make
// of it, and answers 200.
type rawProcessor struct {
	cert *x509.Certificate
	port string
	mu   sync.Mutex
	got  []string
}

func newRawProcessor(t *testing.T) *rawProcessor {
	t.Helper()
	s := httptest.NewUnstartedServer(nil) // for its certificate (127.0.0.1, *.example.com)
	s.StartTLS()
	p := &rawProcessor{cert: s.Certificate()}
	certs := s.TLS.Certificates
	s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, p.port, _ = net.SplitHostPort(ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, &tls.Config{Certificates: certs})
				tr := textproto.NewReader(bufio.NewReader(tc))
				line, err := tr.ReadLine()
				if err != nil {
					return
				}
				h, err := tr.ReadMIMEHeader()
				if err != nil {
					return
				}
				n, _ := strconv.Atoi(h.Get("Content-Length"))
				b := make([]byte, n)
				if _, err := io.ReadFull(tr.R, b); err != nil {
					return
				}
				target, _, _ := strings.Cut(strings.TrimPrefix(line, "POST "), " ")
				p.mu.Lock()
				p.got = append(p.got, target+" "+string(b))
				p.mu.Unlock()
				_, _ = io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			}(c)
		}
	}()
	return p
}

func (p *rawProcessor) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// TestOpaqueTargetInATunnelIsRefused: a request inside an intercepted
// tunnel whose target is an absolute URI without "//" ("https:v1/charges",
// an opaque URI, which no HTTP request may be) was routed and filtered as
// the path "/" (the URL has no path: canonicalize read "" as "/"), and sent
// to the processor with its opaque part as the request target: the route
// revealed for "/" (match.path ^/$) a card number the processor received
// for "v1/charges", or "%2F%2Fevil/v1", an encoded slash the canonical
// path refuses. Such a target has no canonical path: 400 unsafe_path,
// nothing sent.
func TestOpaqueTargetInATunnelIsRefused(t *testing.T) {
	psp := newRawProcessor(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.cert}, routes: `routes:
  - id: psp
    direction: outbound
    host: psp.example.com
    filters:
      - {id: reveal-root, phase: request, operation: reveal, match: {path: "^/$"}, targets: [{json: card.number}]}
`})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	for _, target := range []string{"https:v1/charges", "https:%2F%2Fevil/v1", "https:v1/charges?x=1"} {
		t.Run(target, func(t *testing.T) {
			before := len(psp.requests())
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port, "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			tlc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := io.WriteString(tlc, "POST "+target+" HTTP/1.1\r\nHost: psp.example.com:"+psp.port+"\r\nContent-Type: application/json\r\n"+
				"Connection: close\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
			if err != nil {
				t.Fatal(err)
			}
			r, err := http.ReadResponse(bufio.NewReader(tlc), nil)
			if err != nil {
				t.Fatal(err)
			}
			answer := readAll(t, r)
			got := psp.requests()[before:]
			for _, g := range got {
				t.Errorf("the processor got %q", strings.ReplaceAll(g, testPAN, "<PAN>"))
			}
			if r.StatusCode != http.StatusBadRequest || r.Header.Get(ErrorHeader) != "unsafe_path" {
				t.Fatalf("status %d: %s", r.StatusCode, answer)
			}
		})
	}
	// An ordinary request for "/" is revealed as before.
	resp, body2 := post(t, g.client(psp.cert), "https://psp.example.com:"+psp.port+"/", "application/json", body)
	if got := psp.requests(); resp.StatusCode != http.StatusOK || len(got) != 1 || got[0] != `/ {"card":{"number":"`+testPAN+`"}}` {
		t.Fatalf("status %d %s; the processor got %d requests", resp.StatusCode, body2, len(got))
	}
}
