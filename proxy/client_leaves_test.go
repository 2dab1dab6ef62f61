package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// leaveRoutes reveal card.number towards psp.example.com (inside a
// tunnel) and plain.example.com (plain HTTP): the routes of the tests of a
// client that leaves mid-call.
const leaveRoutes = `routes:
  - id: psp
    direction: outbound
    host: psp.example.com
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
  - id: plain
    direction: outbound
    host: plain.example.com
    unsafe_reveal_over_plain_http: true
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
`

// TestProcessorCallOutlivesAClientThatLeaves: a client that goes away
// while its request is at the processor does not cancel the processor's
// call (docs/DECISIONS.md, "a client that leaves mid-call"): the charge is
// decided by the processor once it has the request, and cutting the call
// would not undo it, only leave its outcome unknown to the processor's
// side too, while the merchant retries. The processor gets the request
// once, whole, and its call runs to its end (bounded by the upstream
// timeout), inside a tunnel and for a plain-HTTP request alike.
func TestProcessorCallOutlivesAClientThatLeaves(t *testing.T) {
	const routesDoc = leaveRoutes
	type outcome struct{ canceled bool }
	arrived := make(chan struct{}, 1)
	release := make(chan struct{}, 1)
	ended := make(chan outcome, 1)
	reply := func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
			ended <- outcome{}
		case <-r.Context().Done():
			ended <- outcome{canceled: true}
			return
		}
		_, _ = io.WriteString(w, `{"status":"authorized"}`)
	}
	psp := newTLSUpstream(t, reply)
	plain := newUpstream(t, reply)
	c := obstest.NewCapture(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: routesDoc, timeout: 30 * time.Second, logger: c.Logger, metrics: obs.NewMetrics()})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	head := func(target, host string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n"
	}
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())

	posts := 0
	for _, tc := range []struct {
		name string
		up   *upstream
		send func(t *testing.T) net.Conn
	}{
		{"intercepted tunnel", psp, func(t *testing.T) net.Conn {
			target := "psp.example.com:" + psp.port()
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), target, "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			pool := x509.NewCertPool()
			pool.AddCert(g.ca.Certificate())
			tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
			if _, err := io.WriteString(tc, head("/v1/charges", target)+"\r\n"+body); err != nil {
				t.Fatal(err)
			}
			return tc
		}},
		{"plain HTTP", plain, func(t *testing.T) net.Conn {
			conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			target := "plain.example.com:" + plainPort
			auth := "Proxy-Authorization: Basic Y2xpOnMzY3JldA==\r\n" // cli:s3cret
			if _, err := io.WriteString(conn, head("http://"+target+"/v1/charges", target)+auth+"\r\n"+body); err != nil {
				t.Fatal(err)
			}
			return conn
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := tc.send(t)
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the request did not reach the processor")
			}
			conn.Close() // the client leaves while the processor works
			// Give the proxy the time to see it (net/http's background
			// read sees a closed connection at once).
			time.Sleep(200 * time.Millisecond)
			release <- struct{}{}
			var o outcome
			select {
			case o = <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the processor's call did not end")
			}
			if o.canceled {
				t.Error("the client's leaving canceled the processor's call")
			}
			got := tc.up.requests()
			if len(got) != 1 || !strings.Contains(string(got[0].Body), testPAN) {
				t.Errorf("the processor got %d requests: %+v", len(got), got)
			}
			// The access line has the processor's answer: the payment
			// was made.
			posts++
			var status []any
			for deadline := time.Now().Add(5 * time.Second); len(status) < posts && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				status = status[:0]
				for _, l := range accessLines(c) {
					if l["method"] == "POST" {
						status = append(status, l["status"])
					}
				}
			}
			if len(status) != posts || status[posts-1] != float64(http.StatusOK) {
				t.Errorf("access line statuses of the POSTs %v, want the last 200", status)
			}
		})
	}
}
