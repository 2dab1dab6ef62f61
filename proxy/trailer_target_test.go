package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// trailerRoutes redact the response header X-Card: with the guard at its
// default (log), which buffers the body, and with the guard off, where the
// body streams unread.
var trailerRoutes = "routes:\n" +
	inboundRoute("buffered", "buffered", headerRedact) +
	inboundRoute("streamed", "streamed", "    leak_guard: \"off\"\n"+headerRedact)

// headerRedact is the filters key of a route whose one filter redacts the
// response header X-Card.
const headerRedact = "    filters:\n      - id: card-header\n        phase: response\n        operation: redact\n        targets: [{header: X-Card}]\n"

// TestHeaderTargetsReachTrailers: a response filter that redacts the header
// X-Card let the same field through in clear when the upstream sent it as a
// trailer (announced in Trailer or not, any spelling of its name, after a
// body of any size): the filters read the header section only. A trailer
// is a header field sent after the body (RFC 9110 §6.5), and clients read
// it as one. The field is redacted as in the header section when the body
// was read, and dropped when it streamed (the guard off, or a body over
// max_body): the filter cannot be applied after the body went out.
func TestHeaderTargetsReachTrailers(t *testing.T) {
	const maxBody = 4 << 10
	type answer struct {
		name      string
		announce  bool
		trailer   string // the field's name as the upstream writes it
		bodyBytes int
	}
	answers := []answer{
		{"announced", true, "X-Card", 10},
		{"not announced", false, "X-Card", 10},
		{"lower case, not announced", false, "x-card", 10},
		{"announced, body over max_body", true, "X-Card", 2 * maxBody},
		{"not announced, body over max_body", false, "X-Card", 2 * maxBody},
	}
	var a answer
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if a.announce {
			w.Header().Set("Trailer", a.trailer)
		}
		_, _ = w.Write([]byte(strings.Repeat("x", a.bodyBytes)))
		w.(http.Flusher).Flush() // chunked
		name := a.trailer
		if !a.announce {
			name = http.TrailerPrefix + name
		}
		w.Header()[name] = []string{testPAN}
	})
	tv := newTestVault(t)
	g := newGateway(t, parseRoutes(t, trailerRoutes, up.URL), tv, gwOptions{maxBody: maxBody, logger: obstest.Logger(t)})
	// The same gateway over HTTP/2 (TLS, ALPN h2), whose trailers are a
	// HEADERS frame after the body.
	h2 := httptest.NewUnstartedServer(g.in)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	get := func(base string, c *http.Client, path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	for _, a = range answers {
		for _, x := range []struct {
			route, base string
			c           *http.Client
		}{{"/buffered", g.URL, g.Client()}, {"/streamed", g.URL, g.Client()}, {"/buffered", h2.URL, h2.Client()}, {"/streamed", h2.URL, h2.Client()}} {
			route := x.route
			resp, body := get(x.base, x.c, route+"/x")
			if resp.StatusCode != 200 || len(body) != a.bodyBytes {
				t.Errorf("%s through %s (%s): status %d, %d bytes", a.name, route, resp.Proto, resp.StatusCode, len(body))
			}
			if x.base == h2.URL && resp.ProtoMajor != 2 {
				t.Errorf("%s through %s: %s, want HTTP/2", a.name, route, resp.Proto)
			}
			for k, vs := range resp.Trailer {
				for _, v := range vs {
					if strings.Contains(v, testPAN) {
						t.Errorf("%s through %s (%s): the client got the card number in the trailer %s", a.name, route, resp.Proto, k)
					}
				}
			}
			got := resp.Trailer.Get("X-Card")
			if route == "/buffered" && a.bodyBytes <= maxBody && !strings.HasPrefix(got, "tok_") {
				t.Errorf("%s through %s (%s): trailer X-Card %q, want an alias", a.name, route, resp.Proto, got)
			}
		}
	}

	// The vault down: the filter fails on the trailer, and the guard masks
	// it (as a response filter's failure on the header section).
	tv.persistent.Close()
	a = answers[0]
	resp, _ := g.do(t, "GET", "/buffered/x", "", nil, nil)
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	if resp.StatusCode != 200 || resp.Trailer.Get("X-Card") != masked || resp.Header.Get(FilterFailedHeader) != "card-header" {
		t.Errorf("vault down: status %d, trailer %q, %s %q", resp.StatusCode, resp.Trailer.Get("X-Card"), FilterFailedHeader, resp.Header.Get(FilterFailedHeader))
	}
}
