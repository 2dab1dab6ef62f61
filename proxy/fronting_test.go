package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestForwardedHostIsTheNameChecked: the Host check compares the request's
// Host with the CONNECT host in their one normalised form (IDNA mapping:
// full-width letters, ignored characters such as the soft hyphen, the
// ideographic full stop as a dot), but the request went out with the Host
// as the client wrote it, which the transport turns into its Punycode as
// it stands: "ｐｓｐ.example.com" was sent as "xn--1i7cai.example.com",
// "psp\u00ad.example.com" as "xn--psp-ifa.example.com". The card number
// the route revealed for psp.example.com reached, behind the processor's
// address and (wildcard) certificate, a virtual host no route names, one
// that anyone holding that name on a shared front end gets. The same over
// plain HTTP, where the absolute URL's host is the Host. The destination
// now gets the name that was checked and routed (the port kept as written).
func TestForwardedHostIsTheNameChecked(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: strings.ReplaceAll(tlsOnlyRoutes, "{{PORT}}", psp.port())})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	revealed := `{"card":{"number":"` + testPAN + `"}}`
	port := psp.port()
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	send := func(t *testing.T, conn net.Conn, w io.Writer, br *bufio.Reader, line, host string) int {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.WriteString(w, line+" HTTP/1.1\r\nHost: "+host+"\r\nContent-Type: application/json\r\nConnection: close\r\n"+
			"Proxy-Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("cli:s3cret"))+"\r\n"+
			"Content-Length: "+itoa(len(body))+"\r\n\r\n"+body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return resp.StatusCode
	}
	for _, tc := range []struct{ name, host, want string }{
		{"full-width letters", "ｐａｙ.example.com:" + port, "pay.example.com:" + port},
		{"soft hyphen", "pay\u00ad.example.com", "pay.example.com"},
		{"ideographic full stop", "pay.example\u3002com:" + port, "pay.example.com:" + port},
		{"upper case, trailing dot", "PAY.Example.COM.:" + port, "pay.example.com:" + port},
		{"as routed", "pay.example.com:" + port, "pay.example.com:" + port},
	} {
		t.Run("tunnel, "+tc.name, func(t *testing.T) {
			before := len(psp.requests())
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "pay.example.com:"+port, "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			tlc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "pay.example.com"})
			code := send(t, conn, tlc, bufio.NewReader(tlc), "POST /v1", tc.host)
			got := psp.requests()[before:]
			switch {
			case code == http.StatusForbidden && len(got) == 0:
			case code != http.StatusOK || len(got) != 1:
				t.Fatalf("status %d, the processor got %d requests", code, len(got))
			case got[0].Host != tc.want || string(got[0].Body) != revealed:
				t.Fatalf("the card number went to Host %q (want %q): %s", got[0].Host, tc.want, obstestMask(string(got[0].Body)))
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		code := send(t, conn, conn, bufio.NewReader(conn), "POST http://ｐｌａｉｎ.example.com:"+pport+"/v1", "plain.example.com:"+pport)
		got := plain.requests()
		switch {
		case code == http.StatusForbidden && len(got) == 0:
		case code != http.StatusOK || len(got) != 1:
			t.Fatalf("status %d, the destination got %d requests", code, len(got))
		case got[0].Host != "plain.example.com:"+pport || string(got[0].Body) != revealed:
			t.Fatalf("the card number went to Host %q: %s", got[0].Host, obstestMask(string(got[0].Body)))
		}
	})
}

// TestForwardedHostPortIsTheRoutedNumber: routes match a port by its number
// (ports: [N] takes "0N" too), and the transport dials "0N" as N, but the
// Host went out with the port as the client spelled it: a tunnel opened
// to pay.example.com:0N (the pinned route's port N) sent the revealed card
// number with Host "pay.example.com:0N", and an absolute-form
// http://plain.example.com:0N/ likewise, a name:port no route names, which
// a front end that matches the Host with its port (Envoy's domains without
// strip_any_host_port) takes for another virtual host. The destination now
// gets the port as routed, in decimal.
func TestForwardedHostPortIsTheRoutedNumber(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: strings.ReplaceAll(tlsOnlyRoutes, "{{PORT}}", psp.port())})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	revealed := `{"card":{"number":"` + testPAN + `"}}`
	port := psp.port()
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	send := func(t *testing.T, conn net.Conn, w io.Writer, br *bufio.Reader, line, host string) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.WriteString(w, line+" HTTP/1.1\r\nHost: "+host+"\r\nContent-Type: application/json\r\nConnection: close\r\n"+
			"Proxy-Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("cli:s3cret"))+"\r\n"+
			"Content-Length: "+itoa(len(body))+"\r\n\r\n"+body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	for _, tc := range []struct{ name, connect, host, want string }{
		{"leading zero", "pay.example.com:0" + port, "pay.example.com:0" + port, "pay.example.com:" + port},
		{"leading zeros, no port in the Host", "pay.example.com:00" + port, "pay.example.com", "pay.example.com"},
		{"as routed", "pay.example.com:" + port, "pay.example.com:" + port, "pay.example.com:" + port},
	} {
		t.Run("tunnel, "+tc.name, func(t *testing.T) {
			before := len(psp.requests())
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), tc.connect, "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			tlc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "pay.example.com"})
			send(t, conn, tlc, bufio.NewReader(tlc), "POST /v1", tc.host)
			got := psp.requests()[before:]
			if len(got) != 1 {
				t.Fatalf("the processor got %d requests", len(got))
			}
			if got[0].Host != tc.want || string(got[0].Body) != revealed {
				t.Fatalf("the card number went to Host %q, want %q: %s", got[0].Host, tc.want, obstestMask(string(got[0].Body)))
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		send(t, conn, conn, bufio.NewReader(conn), "POST http://plain.example.com:0"+pport+"/v1", "plain.example.com:"+pport)
		got := plain.requests()
		if len(got) != 1 {
			t.Fatalf("the destination got %d requests", len(got))
		}
		if got[0].Host != "plain.example.com:"+pport || string(got[0].Body) != revealed {
			t.Fatalf("the card number went to Host %q: %s", got[0].Host, obstestMask(string(got[0].Body)))
		}
	})
}
