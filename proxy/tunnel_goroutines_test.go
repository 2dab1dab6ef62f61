package proxy

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestTunnelsLeaveNoGoroutineBehind (regression cover, passed before):
// 1,000 exchanges inside intercepted tunnels with the read-header and
// read timeouts set (one timer a tunnel, guardedConn.watch; a guardBody
// a request) and a body budget (a body of unknown length reserved as it
// is read) leave no goroutine behind once their tunnels are closed, and
// give every reserved byte back: nothing is started per request or per
// tunnel that outlives it.
func TestTunnelsLeaveNoGoroutineBehind(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"status":"authorized"}`)
	})
	b := bodybudget.New(16<<20, 0)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: obstest.Logger(t), budget: b, tunnelIdle: time.Minute, tunnelHeader: time.Minute, tunnelRead: time.Minute})
	target := "psp.example.com:" + psp.port()
	body := `{"amount":1000,"currency":"EUR"}`
	tunnel := func(requests int) {
		t.Helper()
		tc := tunnelTLS(t, g, target)
		defer tc.Close()
		br := bufio.NewReader(tc)
		for i := range requests {
			req := "POST /pay HTTP/1.1\r\nHost: " + target + "\r\nContent-Type: application/json\r\nContent-Length: " +
				strconv.Itoa(len(body)) + "\r\n\r\n" + body
			if i%2 == 1 { // a body of unknown length
				req = "POST /pay HTTP/1.1\r\nHost: " + target + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
					fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			}
			if _, err := io.WriteString(tc, req); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(rb), "authorized") {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
		}
	}
	tunnel(10) // warm-up: the transport's connection to the processor
	waitGivenBack(t, b, "warm-up")
	settle := func(max int) int {
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(10 * time.Second); n > max && time.Now().Before(deadline); n = runtime.NumGoroutine() {
			time.Sleep(10 * time.Millisecond)
		}
		return n
	}
	base := runtime.NumGoroutine()
	for range 40 {
		tunnel(25)
	}
	waitGivenBack(t, b, "1,000 exchanges")
	// A goroutine left per tunnel would be 40 more, per request 1,000.
	if n := settle(base + 10); n > base+10 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after 40 tunnels of 25 exchanges, %d before:\n%s", n, base, buf)
	}
}
