package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPipelinedTunnelRequestsAreEachRechecked: requests a client pipelines
// into an intercepted tunnel (all written before the first answer, so
// goproxy has them buffered) are each rechecked when read, not once per
// buffer: a client refused after the first request gets 407 with
// Connection: close for the second, the tunnel ends, and neither the
// second nor the third reaches the processor. Passing as found
// (regression cover of the per-request recheck).
func TestPipelinedTunnelRequestsAreEachRechecked(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	var checks atomic.Int32
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		authenticate: func(_ context.Context, user, pass string) (ProxyClient, error) {
			if user != "cli" || pass != "s3cret" {
				return ProxyClient{}, errors.New("bad credentials")
			}
			return ProxyClient{ID: "cli", Recheck: func(context.Context) error {
				if checks.Add(1) > 1 { // revoked once the first request is checked
					return errors.New("revoked")
				}
				return nil
			}}, nil
		}})
	panA, _ := aliases(t, g.vault)
	resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port(), "cli", "s3cret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	tc := tls.Client(conn, &tls.Config{ServerName: "psp.example.com", RootCAs: pool})
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var batch bytes.Buffer
	var reqs []*http.Request
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, "https://psp.example.com:"+psp.port()+"/v1", strings.NewReader(`{"card":{"number":"`+panA+`"}}`))
		req.Header.Set("Content-Type", "application/json")
		if err := req.Write(&batch); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	if _, err := tc.Write(batch.Bytes()); err != nil { // one write: pipelined
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	read := func(req *http.Request) *http.Response {
		t.Helper()
		r, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r
	}
	if r := read(reqs[0]); r.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", r.StatusCode)
	}
	if r := read(reqs[1]); r.StatusCode != http.StatusProxyAuthRequired || !r.Close {
		t.Fatalf("second request, after the refusal: %d close=%v", r.StatusCode, r.Close)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the tunnel answered after the 407: the third request was served")
	}
	if n := len(psp.requests()); n != 1 {
		t.Errorf("the processor got %d requests, want 1", n)
	}
}
