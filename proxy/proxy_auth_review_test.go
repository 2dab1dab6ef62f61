package proxy

import (
	"bufio"
	"context"
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

	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// TestProxyAuthorizationCannotBeSwitched: regression cover (passed before)
// for Proxy-Authorization. A CONNECT or a plain-HTTP request is refused
// 407 for any scheme but Basic and when its first Proxy-Authorization
// does not pass (a second, good one is not looked at); inside a tunnel a
// request's own Proxy-Authorization, naming another client, neither
// switches the account its reveals reach (the CONNECT's client's) nor
// reaches the processor.
func TestProxyAuthorizationCannotBeSwitched(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	tv := newTestVault(t)
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: accountRoutes})
	addr := g.srv.Listener.Addr().String()
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	target := "psp.example.com:" + psp.port()

	for _, tc := range []struct {
		name string
		auth []string
	}{
		{"bearer", []string{"Bearer s3cret"}},
		{"digest", []string{`Digest username="cli", response="s3cret"`}},
		{"basic without a password", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("cli"))}},
		{"a bad one, then a good one", []string{basic("cli", "wrong"), basic("cli", "s3cret")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := ""
			for _, a := range tc.auth {
				hdr += "Proxy-Authorization: " + a + "\r\n"
			}
			for _, head := range []string{
				"CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n",
				"GET http://plain.example.com:" + pport + "/ HTTP/1.1\r\nHost: plain.example.com:" + pport + "\r\n",
			} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, head+hdr+"\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(head)[0]})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusProxyAuthRequired {
					t.Errorf("%s: status %d, want 407", strings.Fields(head)[0], resp.StatusCode)
				}
			}
		})
	}
	if n := len(psp.requests()) + len(plain.requests()); n != 0 {
		t.Fatalf("the destinations got %d requests", n)
	}

	t.Run("inside a tunnel", func(t *testing.T) {
		own, err := tv.tok.Redact(vault.WithAccount(context.Background(), "acct_other"), []rewrite.RedactItem{{Value: testPAN2}})
		if err != nil {
			t.Fatal(err)
		}
		resp, conn, _ := rawConnect(t, addr, target, "cli", "s3cret") // the default account
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		pool := x509.NewCertPool()
		pool.AddCert(g.ca.Certificate())
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
		body := `{"card":{"number":"` + own[0] + `"}}`
		if _, err := io.WriteString(tc, "POST /v1 HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+basic("other", "s3cret")+
			"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(string(b), testPAN2) {
			t.Fatalf("another account's alias, with its client's credentials inside the tunnel: %d %s", r.StatusCode, b)
		}
		if n := len(psp.requests()); n != 0 {
			t.Fatalf("the processor got %d requests", n)
		}
		// And a request that passes does not carry them on.
		if _, err := io.WriteString(tc, "GET /v1 HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+basic("other", "s3cret")+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if r, err = http.ReadResponse(bufio.NewReader(tc), nil); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("GET: %v %v", r, err)
		}
		r.Body.Close()
		if got := psp.last(t).Header.Get("Proxy-Authorization"); got != "" {
			t.Fatalf("the processor got Proxy-Authorization %q", got)
		}
	})
}
