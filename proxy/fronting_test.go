package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestRevealFollowsTheConnectedHost: regression cover (passed before) for
// domain fronting inside an intercepted tunnel. Whatever a request inside
// the tunnel names (its Host, an absolute-form target, a second Host
// header, a request pipelined behind one that passes), it reaches only the
// CONNECT's host or is refused 403 host_mismatch before any reveal; only
// the requests that name the CONNECT's host (in any spelling of it: case,
// trailing dot, port omitted) reach the processor, with their card data.
func TestRevealFollowsTheConnectedHost(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, _ := aliases(t, g.vault)
	port := psp.port()
	target := "psp.example.com:" + port
	body := `{"card":{"number":"` + panA + `"}}`
	req := func(line, host string, extra ...string) string {
		h := line + " HTTP/1.1\r\n"
		if host != "" {
			h += "Host: " + host + "\r\n"
		}
		for _, e := range extra {
			h += e + "\r\n"
		}
		return h + "Content-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
	}
	for _, tc := range []struct {
		name  string
		sni   string
		reqs  []string
		codes []int // what each request is answered
	}{
		{"spellings of the host", "PSP.Example.COM.", []string{
			req("POST /v1", "PSP.EXAMPLE.COM:"+port),
			req("POST /v1", "psp.example.com.:"+port),
			req("POST /v1", "psp.example.com"),
		}, []int{200, 200, 200}},
		{"another host in Host", "psp.example.com", []string{req("POST /v1", "other.example.com:"+port)}, []int{403}},
		{"another port in Host", "psp.example.com", []string{req("POST /v1", "psp.example.com:443")}, []int{403}},
		{"userinfo in Host", "psp.example.com", []string{req("POST /v1", "psp.example.com@other.example.com:"+port)}, []int{403}},
		{"IP literal in Host", "psp.example.com", []string{req("POST /v1", "127.0.0.1:"+port)}, []int{403}},
		{"absolute-form to another host", "psp.example.com", []string{
			req("POST https://other.example.com:"+port+"/v1", "psp.example.com:"+port)}, []int{403}},
		{"no Host", "psp.example.com", []string{req("POST /v1", "")}, []int{403}},
		{"pipelined, the second to another host", "psp.example.com", []string{
			req("POST /v1", target), req("POST /v1", "other.example.com:"+port)}, []int{200, 403}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(psp.requests())
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), target, "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			pool := x509.NewCertPool()
			pool.AddCert(g.ca.Certificate())
			tlc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: tc.sni})
			// All of them in one write: pipelined.
			if _, err := io.WriteString(tlc, strings.Join(tc.reqs, "")); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(tlc)
			for i, want := range tc.codes {
				r, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode != want || (want == 403 && !strings.Contains(string(b), "host_mismatch")) {
					t.Fatalf("request %d: status %d, want %d: %s", i, r.StatusCode, want, b)
				}
			}
			got := psp.requests()[before:]
			if want := count(tc.codes, 200); len(got) != want {
				t.Fatalf("the processor got %d requests, want %d", len(got), want)
			}
			for _, r := range got {
				if !strings.Contains(string(r.Body), testPAN) {
					t.Errorf("the processor got %s", r.Body)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}
