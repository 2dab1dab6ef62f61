package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// tunnelTLS opens an intercepted tunnel to target through g and returns
// its TLS connection.
func tunnelTLS(t *testing.T, g *outGateway, target string) *tls.Conn {
	t.Helper()
	resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), target, "cli", "s3cret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	return tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "psp.example.com"})
}

// TestTunnelRequestHeadersAreBounded: goproxy reads the requests of an
// intercepted tunnel with http.ReadRequest, which has no size limit (the
// listener's limits.max_header_bytes ends at the CONNECT): one 200 MiB
// header line from an authenticated client took the gateway to 772 MB
// and was forwarded. A request's line and headers inside a tunnel are
// held to max_header_bytes (431, the tunnel closed), and what the proxy
// reads while waiting for them is bounded (the tunnel is dropped); bodies
// and requests under the limit pass as before.
func TestTunnelRequestHeadersAreBounded(t *testing.T) {
	const maxHeader = 16 << 10
	psp := newTLSUpstream(t, nil)
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: c.Logger, metrics: m, maxHeaderBytes: maxHeader})
	target := "psp.example.com:" + psp.port()
	head := "GET /pay HTTP/1.1\r\nHost: " + target + "\r\n"

	for _, first := range []string{"", "HEAD", "GET"} {
		t.Run("endless header line after "+first, func(t *testing.T) {
			tc := tunnelTLS(t, g, target)
			if first != "" {
				// An exchange before, with a body and without.
				br := bufio.NewReader(tc)
				if _, err := io.WriteString(tc, first+" /pay HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: first})
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			endlessHeader(t, tc, head)
		})
	}

	t.Run("headers over max_header_bytes", func(t *testing.T) {
		before := len(psp.requests())
		tc := tunnelTLS(t, g, target)
		req := head + "X-Big: " + strings.Repeat("a", maxHeader+4096) + "\r\n\r\n"
		if _, err := io.WriteString(tc, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !resp.Close {
			t.Errorf("status %d close %v, want 431 and the tunnel closed", resp.StatusCode, resp.Close)
		}
		if n := len(psp.requests()) - before; n != 0 {
			t.Errorf("%d requests forwarded", n)
		}
	})

	t.Run("bodies and headers under the limit", func(t *testing.T) {
		before := len(psp.requests())
		tc := tunnelTLS(t, g, target)
		br := bufio.NewReader(tc)
		body := `{"note":"` + strings.Repeat("b", 2<<20) + `"}`
		reqs := []string{
			"POST /pay HTTP/1.1\r\nHost: " + target + "\r\nContent-Type: application/json\r\nContent-Length: " +
				strconv.Itoa(len(body)) + "\r\n\r\n" + body,
			head + "X-Fill: " + strings.Repeat("c", maxHeader-200) + "\r\n\r\n",
			"POST /pay HTTP/1.1\r\nHost: " + target + "\r\nContent-Type: application/json\r\nContent-Length: " +
				strconv.Itoa(len(body)) + "\r\n\r\n" + body,
			head + "\r\n",
		}
		for i, req := range reqs {
			if _, err := io.WriteString(tc, req); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
		}
		if n := len(psp.requests()) - before; n != len(reqs) {
			t.Errorf("%d requests forwarded, want %d", n, len(reqs))
		}
	})
}

// TestTunnelThatEndsBetweenRequestsIsNotAnUnservedRequest: goproxy's
// "cannot read request" message was counted as a request not served
// whatever ended the read, so every tunnel a client's pool kept open past
// idle_timeout, or that the gateway closed when it stopped, counted in
// aliasgate_http_unserved_total{listener="outbound"} with a "request not
// served" line, though no request had begun (the listeners count only
// requests begun, as net/http's idle timeout is not counted). A request
// begun and left unfinished is still counted.
func TestTunnelThatEndsBetweenRequestsIsNotAnUnservedRequest(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: c.Logger, metrics: m, tunnelIdle: 300 * time.Millisecond})
	target := "psp.example.com:" + psp.port()
	// served sends one request through a new tunnel and reads its answer.
	served := func(then string) *tls.Conn {
		tc := tunnelTLS(t, g, target)
		br := bufio.NewReader(tc)
		if _, err := io.WriteString(tc, "GET /pay HTTP/1.1\r\nHost: "+target+"\r\n\r\n"+then); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return tc
	}
	unserved := func() float64 { return counterValue(m.Unserved.WithLabelValues("outbound")) }

	// Quiet past idle_timeout: the gateway closes the tunnel.
	tc := served("")
	_, _ = io.ReadAll(tc)
	if n := unserved(); n != 0 {
		t.Errorf("a tunnel closed for idleness between requests: %v unserved, want 0", n)
	}
	// A request begun and not finished before idle_timeout is counted.
	tc = served("GET /pay HTTP/1.1\r\nHost: ")
	_, _ = io.ReadAll(tc)
	if n := unserved(); n != 1 {
		t.Errorf("a request cut off by idle_timeout: %v unserved, want 1", n)
	}
	// The gateway stops with a tunnel open between requests.
	tc = served("")
	g.ob.Close()
	_, _ = io.ReadAll(tc)
	if n := unserved(); n != 1 {
		t.Errorf("after a tunnel closed at shutdown: %v unserved, want 1", n)
	}
}

// endlessHeader sends a request with a 64 MiB header line through tc and
// checks that the proxy drops the tunnel before reading it whole.
func endlessHeader(t *testing.T, tc *tls.Conn, head string) {
	t.Helper()
	const total = 64 << 20
	wrote := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(tc, head+"X-Big: "); err != nil {
			wrote <- err
			return
		}
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for n := 0; n < total; n += len(chunk) {
			if _, err := tc.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
		_, err := io.WriteString(tc, "\r\n\r\n")
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err == nil {
		resp.Body.Close()
		t.Errorf("the tunnel answered %d to a 64 MiB header", resp.StatusCode)
	}
	tc.Close()
	if err := <-wrote; err == nil {
		t.Error("the proxy read the whole 64 MiB header line")
	}
}

// TestClientBodyFailureInATunnelIsNotAnUpstreamFailure: inside an
// intercepted tunnel, a request whose body the client sent too slowly (the
// tunnel's idle timeout) or left unfinished was logged and counted as the
// destination's failure (504 upstream_timeout, 502 upstream_unavailable):
// the transport's error reading the client's body was taken for the
// destination's. It is 408 request_timeout, or 499 when the client went
// away.
func TestClientBodyFailureInATunnelIsNotAnUpstreamFailure(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) })
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()},
		logger: c.Logger, metrics: m, tunnelIdle: 500 * time.Millisecond})
	target := "psp.example.com:" + psp.port()
	send := func(then func(tc *tls.Conn)) {
		tc := tunnelTLS(t, g, target)
		if _, err := io.WriteString(tc, "POST /pay HTTP/1.1\r\nHost: "+target+
			"\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nab"); err != nil {
			t.Fatal(err)
		}
		then(tc)
		_, _ = io.ReadAll(tc) // until the proxy ends the tunnel
	}
	send(func(*tls.Conn) {})                         // quiet past the idle timeout
	send(func(tc *tls.Conn) { _ = tc.CloseWrite() }) // gone halfway
	lines := waitLines(t, c, 4)                      // two CONNECTs, two requests
	var got []float64
	for _, l := range lines {
		if l["method"] == "POST" {
			got = append(got, l["status"].(float64))
		}
	}
	if len(got) != 2 || got[0] != http.StatusRequestTimeout || got[1] != 499 {
		t.Errorf("statuses %v, want [408 499]", got)
	}
}
