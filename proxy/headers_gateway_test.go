package proxy

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
)

// TestHopByHopNotForwarded: through an intercepted tunnel and the outbound
// proxy's plain HTTP, the upstream gets none of the hop-by-hop headers nor
// those the Connection header names (whatever their case and spacing),
// and an h2c upgrade is not passed on; the other headers arrive.
// hopRoutes route every *.example.com destination with a response filter,
// so that the hop-by-hop tests go through the routed path.
const hopRoutes = `routes:
  - id: hop
    direction: outbound
    host: "*.example.com"
    leak_guard: log
    filters:
      - id: redact-echo
        phase: response
        match: {content_type: json}
        operation: redact
        targets:
          - {json: echo.pan}
`

func TestHopByHopNotForwarded(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: hopRoutes})
	cl := g.client()
	defer cl.CloseIdleConnections()
	send := func(t *testing.T, u string) {
		t.Helper()
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{
			"Connection": "keep-alive , x-SECRET,,  Upgrade , http2-settings", "X-Secret": "4111111111111111",
			"Upgrade": "h2c", "Http2-Settings": "AAMAAABkAAQ", "Keep-Alive": "timeout=5", "Te": "trailers",
			"Proxy-Connection": "keep-alive", "Trailer": "X-T", "X-Kept": "yes",
		} {
			req.Header.Set(k, v)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	check := func(t *testing.T, got []received) {
		t.Helper()
		if len(got) != 1 {
			t.Fatalf("the upstream got %d requests", len(got))
		}
		h := got[0].Header
		for _, k := range []string{"X-Secret", "Upgrade", "Http2-Settings", "Keep-Alive", "Te", "Proxy-Connection", "Trailer", "Proxy-Authorization"} {
			if v, ok := h[k]; ok {
				t.Errorf("the upstream got %s: %q", k, v)
			}
		}
		if c := strings.ToLower(strings.Join(h["Connection"], ",")); strings.Contains(c, "secret") || strings.Contains(c, "upgrade") {
			t.Errorf("the upstream got Connection: %q", c)
		}
		if h.Get("X-Kept") != "yes" {
			t.Errorf("X-Kept did not arrive: %v", h)
		}
	}
	t.Run("tunnel", func(t *testing.T) {
		send(t, "https://psp.example.com:"+psp.port()+"/h")
		check(t, psp.requests())
	})
	t.Run("plain HTTP", func(t *testing.T) {
		_, port, _ := strings.Cut(strings.TrimPrefix(plain.URL, "http://"), ":")
		send(t, "http://plain.example.com:"+port+"/h")
		check(t, plain.requests())
	})
}

// TestMediaTypeSpellingsStillFiltered: a card number in a JSON body is
// replaced (or the body refused) whatever the spelling of its
// Content-Type: the fast path for bare lower-case types and mime's parse
// for every other spelling give routes and the leak guard the same type.
func TestMediaTypeSpellingsStillFiltered(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{})
	for _, ct := range []string{"application/json", "Application/JSON", "application/json;", "application/json ; charset=utf-8",
		" application/json", "application/json ,x", "application/json\t", "application/jsonx", "application/json/x", "text/plain",
		"application/ json", "applicatioN/json", "application/json; charset=\"utf-8\"", "application/vnd.api+json", "*/*", "json", "application/\u0130son"} {
		t.Run(ct, func(t *testing.T) {
			before := len(up.requests())
			resp, _ := g.do(t, "POST", "/json", ct, strings.NewReader(`{"card":{"number":"`+testPAN+`"}}`), nil)
			got := up.requests()
			if resp.StatusCode == 200 && len(got) == before+1 {
				if bytes.Contains(got[len(got)-1].Body, []byte(testPAN)) {
					t.Fatalf("Content-Type %q: the upstream got the card number", ct)
				}
				return
			}
			if resp.StatusCode < 400 || len(got) != before {
				t.Fatalf("Content-Type %q: status %d, %d requests upstream", ct, resp.StatusCode, len(got)-before)
			}
		})
	}
}
