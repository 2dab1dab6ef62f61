package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestClientsThatLeaveGiveEverythingBack (regression cover, passed
// before): routed calls outlive a client that leaves (docs/DECISIONS.md,
// a client that leaves mid-call), so what they hold must be given back
// once they end: many clients, inside tunnels and over plain HTTP, each
// sending a body the route reads and leaving while the processor holds
// its call. Once the processor answers, every call ended: each request
// reached it once, each has one access line, the body budget is back to
// 0, no tunnel is tracked, and the goroutines are back to what they were.
func TestClientsThatLeaveGiveEverythingBack(t *testing.T) {
	const routesDoc = leaveRoutes
	const each = 25
	arrived := make(chan struct{}, 2*each)
	release := make(chan struct{})
	reply := func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, `{"status":"authorized"}`)
	}
	psp := newTLSUpstream(t, reply)
	plain := newUpstream(t, reply)
	c := obstest.NewCapture(t)
	budget := bodybudget.New(0, 0)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		routes: routesDoc, timeout: 30 * time.Second, logger: c.Logger, metrics: obs.NewMetrics(), budget: budget,
		tunnelIdle: time.Minute, tunnelHeader: 10 * time.Second, tunnelRead: 20 * time.Second})
	panA, _ := aliases(t, g.vault)
	body := `{"card":{"number":"` + panA + `"}}`
	head := func(target, host string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n"
	}
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	before := runtime.NumGoroutine()

	var conns []net.Conn
	for range each {
		target := "psp.example.com:" + psp.port()
		resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), target, "cli", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
		if _, err := io.WriteString(tc, head("/v1/charges", target)+"\r\n"+body); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, tc)

		pc, err := net.Dial("tcp", g.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ptarget := "plain.example.com:" + plainPort
		if _, err := io.WriteString(pc, head("http://"+ptarget+"/v1/charges", ptarget)+
			"Proxy-Authorization: Basic Y2xpOnMzY3JldA==\r\n\r\n"+body); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, pc)
	}
	for range 2 * each {
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("not every request reached the processor")
		}
	}
	for _, conn := range conns {
		conn.Close() // every client leaves while the processor works
	}
	close(release)

	poll := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s", what)
			}
		}
	}
	poll("the access lines of the POSTs", func() bool {
		n := 0
		for _, l := range accessLines(c) {
			if l["method"] == "POST" {
				n++
			}
		}
		return n >= 2*each
	})
	poll("the body budget is not given back", func() bool { return budget.Used() == 0 })
	poll("tunnels are still tracked", func() bool {
		g.ob.tunnels.mu.Lock()
		defer g.ob.tunnels.mu.Unlock()
		return len(g.ob.tunnels.conns) == 0
	})
	poll("goroutines are not given back", func() bool {
		g.ob.transport.CloseIdleConnections()
		psp.CloseClientConnections()
		plain.CloseClientConnections()
		return runtime.NumGoroutine() <= before+5
	})
	if budget.Peak() == 0 {
		t.Error("no body was held in the budget while the calls ran")
	}
	if n := len(psp.requests()) + len(plain.requests()); n != 2*each {
		t.Errorf("the processors got %d requests, want %d", n, 2*each)
	}
	posts := 0
	for _, l := range accessLines(c) {
		if l["method"] == "POST" {
			posts++
			if l["status"] != float64(http.StatusOK) {
				t.Errorf("access line status %v, want 200 (the processor's)", l["status"])
			}
		}
	}
	if posts != 2*each {
		t.Errorf("%d access lines of POSTs, want %d", posts, 2*each)
	}
}
