package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestInboundRefusesConnectInAnyCase: the inbound listener refused CONNECT
// (405 connect_refused) but forwarded "Connect" and "connect" to the
// route's upstream as sent: net/http reads them as other methods, and an
// upstream proxy whose parser folds case would read the tunnel the
// refusal keeps out. Every case of the method is refused, nothing reaches
// the upstream.
func TestInboundRefusesConnectInAnyCase(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("all", "", ""), up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for _, line := range []string{"Connect /x", "connect /x", "cOnNeCt /", "CONNECT /x", "Connect http://example.com:443/"} {
		c, err := net.Dial("tcp", g.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 0\r\n\r\n", line)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", line, resp.StatusCode)
		}
	}
	if got := up.requests(); len(got) != 0 {
		t.Errorf("the upstream received %d requests, the first %s %s", len(got), got[0].Method, got[0].Path)
	}
}
