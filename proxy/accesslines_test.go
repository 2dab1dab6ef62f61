package proxy

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// requestsCounted sums aliasgate_http_requests_total over every label set.
func requestsCounted(t *testing.T, m *obs.Metrics) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "aliasgate_http_requests_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			n += counterOf(mt)
		}
	}
	return n
}

func counterOf(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

// accessLines returns the access lines captured so far.
func accessLines(c *obstest.Capture) []map[string]any { return c.Messages("request") }

// waitLines waits until n access lines were written (an intercepted
// request's line is written once goproxy finished writing its response,
// on another goroutine than the client's read).
func waitLines(t *testing.T, c *obstest.Capture, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := accessLines(c)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOneAccessLinePerRequest: every kind of request through the proxies
// writes exactly one access line and counts once in
// aliasgate_http_requests_total: inbound, CONNECT, each request inside an
// intercepted tunnel, plain HTTP, and refused ones of each.
func TestOneAccessLinePerRequest(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"authorized"}`)
	})
	plain := newUpstream(t, nil)
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())

	type step struct {
		name   string
		do     func(t *testing.T)
		lines  int // access lines the step adds
		status []int
	}
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger, metrics: m,
		passthrough: []string{"pass.test"}})
	panA, _ := aliases(t, g.vault)
	base := "https://psp.example.com:" + psp.port()

	in := newGateway(t, parseRoutes(t, testRoutes, plain.URL), g.vault, gwOptions{logger: c.Logger})
	steps := []step{
		{"inbound", func(t *testing.T) {
			if resp, _ := in.do(t, "GET", "/plain/x", "", nil, nil); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}, 1, nil},
		{"inbound refused", func(t *testing.T) {
			if resp, _ := in.do(t, "POST", "/json", "text/plain", strings.NewReader("x=1"), nil); resp.StatusCode != 422 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}, 1, nil},
		{"CONNECT and three intercepted requests on one tunnel", func(t *testing.T) {
			cl := g.client()
			defer cl.CloseIdleConnections()
			for i := 0; i < 3; i++ {
				resp, body := post(t, cl, base+"/v1/charges", "application/json", `{"card":{"number":"`+panA+`"}}`)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
			}
		}, 4, nil},
		{"intercepted request refused (unknown alias)", func(t *testing.T) {
			cl := g.client()
			defer cl.CloseIdleConnections()
			resp, _ := post(t, cl, base+"/v1/charges", "application/json", `{"card":{"number":"tok_test_1111111111111111111111"}}`)
			if resp.StatusCode != 422 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}, 2, nil},
		{"plain HTTP", func(t *testing.T) {
			// (to a host without a revealing route: those serve HTTPS only)
			cl := g.client()
			defer cl.CloseIdleConnections()
			resp, body := post(t, cl, "http://pass.test:"+pport+"/pay", "application/json", `{"amount":1}`)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		}, 1, nil},
		{"CONNECT refused (no route)", func(t *testing.T) {
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "unrouted.test:443", "cli", "s3cret")
			conn.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}, 1, nil},
		{"CONNECT refused (no credentials)", func(t *testing.T) {
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:443", "", "")
			conn.Close()
			if resp.StatusCode != 407 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}, 1, nil},
	}
	lines := 0
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := requestsCounted(t, m) + requestsCounted(t, in.metrics)
			s.do(t)
			lines += s.lines
			got := waitLines(t, c, lines)
			time.Sleep(50 * time.Millisecond) // a second line for the same request would come now
			if got = accessLines(c); len(got) != lines {
				t.Fatalf("%d access lines after this step, want %d", len(got), lines)
			}
			after := requestsCounted(t, m) + requestsCounted(t, in.metrics)
			if after-before != float64(s.lines) {
				t.Fatalf("requests counted %v, want %d", after-before, s.lines)
			}
		})
	}
}

// TestInterceptedAccessLineStatusAndBytes: the access line of a request
// inside an intercepted tunnel (written when goproxy closes the response
// body) names the status the client got and the body bytes written to it,
// whether the length was known, unknown (chunked), changed by the
// response phase, absent (HEAD, 204) or the proxy's own answer.
func TestInterceptedAccessLineStatusAndBytes(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/len":
			_, _ = io.WriteString(w, `{"status":"authorized"}`)
		case "/chunked":
			for i := 0; i < 3; i++ {
				_, _ = io.WriteString(w, `{"part":1}`)
				w.(http.Flusher).Flush()
			}
		case "/echo": // the response phase redacts echo.pan: a new body
			_, _ = io.WriteString(w, `{"echo":{"pan":"`+testPAN+`"}}`)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := obstest.NewCapture(t)
	// pay.example.com: no leak guard and no response filter, so a body of
	// unknown length streams through as it came.
	doc := withStreamRoute()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger, routes: doc})
	panA, _ := aliases(t, g.vault)
	cl := g.client()
	defer cl.CloseIdleConnections()

	cases := []struct {
		name, host, method, path, body string
		route                          string
		status                         int
		empty                          bool // the client gets no body bytes
	}{
		{"known length", "psp", "POST", "/len", `{"card":{"number":"` + panA + `"}}`, "psp", 200, false},
		{"known length, streamed", "pay", "POST", "/len", `{"card":{"number":"` + panA + `"}}`, "stream", 200, false},
		{"unknown length, buffered by the leak guard", "psp", "POST", "/chunked", `{"amount":1}`, "psp", 200, false},
		{"unknown length, streamed", "pay", "POST", "/chunked", `{"card":{"number":"` + panA + `"}}`, "stream", 200, false},
		{"body changed by the response phase", "psp", "POST", "/echo", `{"amount":1}`, "psp", 200, false},
		{"HEAD", "psp", "HEAD", "/len", "", "psp", 200, true},
		{"HEAD, streamed", "pay", "HEAD", "/len", "", "stream", 200, true},
		{"no content", "pay", "POST", "/nocontent", `{"amount":1}`, "stream", 204, true},
		{"the proxy's own answer", "psp", "POST", "/len", `{"card":{"number":"tok_test_1111111111111111111111"}}`, "psp", 422, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := "https://" + tc.host + ".example.com:" + psp.port() + tc.path
			req, err := http.NewRequest(tc.method, u, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (len(got) == 0) != tc.empty {
				t.Fatalf("status %d, %d body bytes", resp.StatusCode, len(got))
			}
			lines := waitLines(t, c, i+1)
			if len(lines) != i+1 {
				t.Fatalf("%d access lines, want %d", len(lines), i+1)
			}
			l := lines[i]
			if l["status"] != float64(tc.status) || l["bytes"] != float64(len(got)) || l["path"] != tc.path || l["route"] != tc.route {
				t.Fatalf("line %v; the client got status %d and %d bytes", l, resp.StatusCode, len(got))
			}
		})
	}
}
