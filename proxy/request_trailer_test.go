package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// TestRequestTrailerValuesDoNotReachTheUpstream is regression cover for a
// promise no test held (docs/DECISIONS.md, "header targets and
// trailers"): a request's trailer fields reach the upstream by name only,
// never with their values, over HTTP/1.1 and HTTP/2 from the client and
// to the upstream, on a route whose request body streams unread (the guard
// off, a filter with a header target only): the filters never read a
// request's trailers, so a card number in one would reach the upstream in
// clear if the proxy forwarded them (ReverseProxy's copy of the request
// holds the names the client announced, whose values arrive later in the
// original's map).
func TestRequestTrailerValuesDoNotReachTheUpstream(t *testing.T) {
	seen := make(chan string, 1)
	record := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var s strings.Builder
		s.Write(b)
		for k, vs := range r.Trailer {
			s.WriteString(k + ": " + strings.Join(vs, ","))
		}
		seen <- s.String()
	}
	h2up := httptest.NewUnstartedServer(http.HandlerFunc(record))
	h2up.EnableHTTP2 = true
	h2up.StartTLS()
	t.Cleanup(h2up.Close)
	h1up := httptest.NewServer(http.HandlerFunc(record))
	t.Cleanup(h1up.Close)
	route := "routes:\n" + inboundRoute("streamed", "streamed", "    leak_guard: \"off\"\n"+
		"    filters:\n      - id: card-header\n        phase: request\n        operation: redact\n        targets: [{header: X-Card}]\n")
	for _, up := range []struct {
		name, url string
		rt        http.RoundTripper
	}{{"HTTP/2 upstream", h2up.URL, h2up.Client().Transport}, {"HTTP/1.1 upstream", h1up.URL, nil}} {
		in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(t, route, up.url)), Tokenizer: newTestVault(t).tok,
			Transport: up.rt, Logger: obstest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		for _, h2 := range []bool{false, true} {
			g := httptest.NewUnstartedServer(in)
			g.EnableHTTP2 = h2
			g.StartTLS()
			pr, pw := io.Pipe()
			req, err := http.NewRequest("POST", g.URL+"/streamed/x", pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Trailer = http.Header{"X-Card": nil}
			go func() {
				_, _ = pw.Write([]byte("body"))
				req.Trailer.Set("X-Card", testPAN) // sent after the body
				_ = pw.Close()
			}()
			resp, err := g.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s, client HTTP/2 %v: status %d", up.name, h2, resp.StatusCode)
			}
			if got := <-seen; !strings.HasPrefix(got, "body") || strings.Contains(got, testPAN) {
				t.Errorf("%s, client HTTP/2 %v: the upstream got %q", up.name, h2, got)
			}
			g.Close()
		}
	}
}
