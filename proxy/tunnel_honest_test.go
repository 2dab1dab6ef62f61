package proxy

import (
	"bufio"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestTunnelTimeoutsLeaveHonestExchangesAlone (regression cover, passed
// before): the read-header and read timeouts inside an intercepted tunnel
// bound the client's sending, not the exchange: a processor that answers
// long after both (a long poll), a tunnel quiet between requests for
// longer than both, and a body sent at once behind headers sent at once
// are served, on the same tunnel, each counted once.
func TestTunnelTimeoutsLeaveHonestExchangesAlone(t *testing.T) {
	const bound = 300 * time.Millisecond
	var calls atomic.Int32
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			time.Sleep(3 * bound) // a processor slower than every bound
		}
		_, _ = io.WriteString(w, `{"status":"authorized"}`)
	})
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: obstest.Logger(t), metrics: m, tunnelIdle: time.Minute, tunnelHeader: bound, tunnelRead: bound})
	target := "psp.example.com:" + psp.port()
	body := `{"amount":1000,"currency":"EUR"}`
	for _, ctype := range []string{"application/json", "application/octet-stream"} {
		t.Run(ctype, func(t *testing.T) {
			calls.Store(0)
			tc := tunnelTLS(t, g, target)
			br := bufio.NewReader(tc)
			for i := range 3 {
				if i > 0 {
					time.Sleep(2 * bound) // quiet between requests: the idle timeout's
				}
				if _, err := io.WriteString(tc, "POST /pay HTTP/1.1\r\nHost: "+target+"\r\nContent-Type: "+ctype+
					"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "authorized") {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
			}
			tc.Close()
		})
	}
	if n := counterValue(m.Unserved.WithLabelValues("outbound")); n != 0 {
		t.Errorf("%v requests counted as not served, want 0", n)
	}
	if got := len(psp.requests()); got != 6 {
		t.Errorf("the processor got %d requests, want 6", got)
	}
}
