package obs_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestAccessLineKeepsIPAddressHosts: a Host that is an IP address literal
// with a port (10.123.145.167:8443, [2001:db8::1]:8443) is what a gateway
// behind a load balancer or in a container logs for most requests; read
// as a reader reads text (every run of other characters a separator), about
// one address in seven spelled a Luhn-valid card number and was masked in
// every access line (r14's measure: 15.5 % of 10.a.b.c:port). No card number
// is written as a valid address (an octet is at most 255, a port 65535):
// such a Host is logged as it is. Failed before: the host came out masked.
// A Host that is not a valid address is still masked (regression cover).
func TestAccessLineKeepsIPAddressHosts(t *testing.T) {
	// An address the reader's reading masks.
	var host string
	for b := 100; b < 256 && host == ""; b++ {
		for c := 100; c < 256 && host == ""; c++ {
			if h := fmt.Sprintf("10.%d.%d.167:8443", b, c); pan.MaskShown(h) != h {
				host = h
			}
		}
	}
	if host == "" {
		t.Fatal("no address of 10.b.c.167:8443 reads as a card number: the test needs another shape")
	}
	capture := obstest.NewCapture(t)
	srv := httptest.NewServer(obs.AccessLog(capture.Logger, nil, "inbound", http.NotFoundHandler()))
	defer srv.Close()
	others := []string{"4111.1111.1111.1111:8443", "4111_1111_1111_1111", "fe80::1%4111_1111_1111_1111"}
	for _, h := range append([]string{host}, others...) {
		req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		req.Host = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close()
	lines := capture.Messages("request")
	if len(lines) != 1+len(others) {
		t.Fatalf("lines:\n%s", capture.String())
	}
	if got := lines[0]["host"]; got != host {
		t.Errorf("address host %q logged as %q", host, got)
	}
	for i, l := range lines[1:] {
		if h, _ := l["host"].(string); h == others[i] || !strings.Contains(h, "****") {
			t.Errorf("a host that is no address (or has a zone) logged in clear: %q", h)
		}
	}
}
