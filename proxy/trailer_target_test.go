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

// TestTrailersAfterAnEmptyBodyAreRead: an HTTP/2 upstream's answer with no
// content (a HEADERS frame with content-length: 0, or a 204 or 304, without
// END_STREAM) followed by trailers got a card number in a trailer to an
// HTTP/2 client through a filter that redacts that field and through
// leak_guard: block: the phase reads the trailers once the body's end is
// read, and it read no body that had no length. The empty body is now read
// to its end first, so the trailers are redacted, masked or refused as
// after a body.
func TestTrailersAfterAnEmptyBodyAreRead(t *testing.T) {
	var status int
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Card")
		w.WriteHeader(status)
		w.Header().Set("X-Card", testPAN)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	doc := trailerRoutes + inboundRoute("block", "block", "    leak_guard: block\n")
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(t, doc, up.URL)), Tokenizer: newTestVault(t).tok,
		Transport: up.Client().Transport, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	g := httptest.NewUnstartedServer(in)
	g.EnableHTTP2 = true
	g.StartTLS()
	t.Cleanup(g.Close)
	for _, status = range []int{http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusNotModified} {
		for _, route := range []string{"/buffered", "/streamed", "/block"} {
			resp, err := g.Client().Get(g.URL + route + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.ProtoMajor != 2 {
				t.Fatalf("%s: %s, want HTTP/2", route, resp.Proto)
			}
			if strings.Contains(string(body), testPAN) || strings.Contains(resp.Trailer.Get("X-Card"), testPAN) {
				t.Errorf("status %d through %s: the client got the card number (trailer X-Card %q)", status, route, resp.Trailer.Get("X-Card"))
				continue
			}
			switch route {
			case "/block":
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "card_data_leak") {
					t.Errorf("status %d through %s: got %d %q, want 502 card_data_leak", status, route, resp.StatusCode, body)
				}
			default:
				if resp.StatusCode != status || !strings.HasPrefix(resp.Trailer.Get("X-Card"), "tok_") {
					t.Errorf("status %d through %s: got %d, trailer X-Card %q, want an alias", status, route, resp.StatusCode, resp.Trailer.Get("X-Card"))
				}
			}
		}
	}
}

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
