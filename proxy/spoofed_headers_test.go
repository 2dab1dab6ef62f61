package proxy

import (
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The gateway writes Aliasgate-Route-Account and Aliasgate-Reveal-Route
// on the requests its routes forward (MarkForwarded) and
// Aliasgate-Redacted on those its leak guard masked; an app behind it may
// take them as the gateway's word. A client's own copies, in any spelling
// an app's framework reads as the same name (case, underscores: nginx with
// underscores_in_headers, CGI, WSGI and Rack map both to
// HTTP_ALIASGATE_ROUTE_ACCOUNT), in the header or in the trailer, never
// reach the upstream: it sees the gateway's values only.

// gatewaySpellings are the fields of the gateway's names as a client may
// spell them; each value names the spelling, with "spoof" in it.
func gatewaySpellings() [][2]string {
	return [][2]string{
		{"Aliasgate-Route-Account", "spoof-canonical"},
		{"aliasgate-route-account", "spoof-lower"},
		{"Aliasgate_Route_Account", "spoof-underscore"},
		{"ALIASGATE_ROUTE_ACCOUNT", "spoof-upper-underscore"},
		{"Aliasgate-Route_Account", "spoof-mixed"},
		{"Aliasgate-Reveal-Route", "spoof-reveal"},
		{"aliasgate_reveal_route", "spoof-reveal-underscore"},
		{"Aliasgate-Redacted", "spoof-redacted"},
		{"Aliasgate_Redacted", "spoof-redacted-underscore"},
		{"Aliasgate-Filter-Failed", "spoof-filter-failed"},
		{"Aliasgate-Request-Delivered", "spoof-delivered"},
		{"Aliasgate-Error", "spoof-error"},
	}
}

// spoofed returns the fields of the header and the trailer of r holding a
// client's value ("spoof").
func spoofed(r received) []string {
	h := r.Header.Clone()
	for k, vs := range r.Trailer {
		h[k] = append(h[k], vs...)
	}
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, "spoof") {
				out = append(out, k+": "+v)
			}
		}
	}
	return out
}

// spoofRequest is a raw HTTP/1.1 request to path carrying every spelling
// of gatewaySpellings twice in its header and once in its chunked body's
// trailer.
func spoofRequest(path, body string) string {
	var b strings.Builder
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
	var names []string
	for _, f := range gatewaySpellings() {
		b.WriteString(f[0] + ": " + f[1] + "\r\n" + f[0] + ": " + f[1] + "-again \r\n")
		names = append(names, f[0])
	}
	b.WriteString("Trailer: " + strings.Join(names, ", ") + "\r\nConnection: close\r\n\r\n")
	b.WriteString(strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n")
	for _, f := range gatewaySpellings() {
		b.WriteString(f[0] + ": " + f[1] + "-trailer\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestClientCannotSpeakForTheGatewayInbound: through the inbound
// listener, on a route that marks its account (leak_guard block), one that
// masks (leak_guard redact) and one that adds nothing, the app never sees
// a client's Aliasgate-* field of the gateway's names, in any spelling, in
// the header or the trailer; it sees the gateway's own values.
func TestClientCannotSpeakForTheGatewayInbound(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, "routes:\n"+
		inboundRoute("guarded", "pay", "    account: acct_a\n    leak_guard: block\n")+
		inboundRoute("masking", "form", "    account: acct_a\n    leak_guard: redact\n")+
		inboundRoute("open", "open", "")+
		"  - id: chain\n    direction: inbound\n    host: \"*\"\n    path_prefix: /chain\n    upstream: {{UP}}/aliases\n", up.URL), nil, gwOptions{})
	addr := strings.TrimPrefix(g.URL, "http://")
	for _, tc := range []struct {
		path, body string
		want       map[string][]string // the gateway's own fields the app gets
	}{
		{"/pay", `{"a":1}`, map[string][]string{RouteAccountHeader: {"acct_a"}}},
		{"/form", `{"a":1}`, map[string][]string{RouteAccountHeader: {"acct_a"}}},
		{"/form", `{"pan":"` + testPAN + `"}`, map[string][]string{RouteAccountHeader: {"acct_a"}, RedactedHeader: {"1"}}},
		{"/open", `{"a":1}`, nil},
		{"/open/x", ``, nil},
		// The upstream path is a gateway API's (/aliases/chain): the chain
		// fields under their own names go on, as an earlier gateway of a
		// chain sent them; they only narrow there.
		{"/chain", `{"a":1}`, map[string][]string{
			RouteAccountHeader: {"spoof-canonical", "spoof-canonical-again", "spoof-lower", "spoof-lower-again"},
			RevealRouteHeader:  {"spoof-reveal", "spoof-reveal-again"},
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := rawExchange(t, addr, spoofRequest(tc.path, tc.body)); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("answer %.40q", got)
			}
			h := up.last(t).Header
			if s := spoofed(up.last(t)); len(s) > 0 && tc.path != "/chain" {
				t.Errorf("the app got a client's fields as the gateway's: %q", s)
			}
			for k := range h {
				n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
				if strings.HasPrefix(n, "aliasgate-") && tc.want[k] == nil {
					t.Errorf("the app got %s: %q", k, h[k])
				}
			}
			for k, v := range tc.want {
				if got := h[k]; strings.Join(got, "|") != strings.Join(v, "|") {
					t.Errorf("the app got %s: %q, want the gateway's %q", k, got, v)
				}
			}
		})
	}
}

// TestGatewayFieldNameWithSpacesRefused: a field name with a space
// before its colon (which some parsers trim to the gateway's name) is
// refused by the listener, never forwarded.
func TestGatewayFieldNameWithSpacesRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("open", "open", ""), up.URL), nil, gwOptions{})
	addr := strings.TrimPrefix(g.URL, "http://")
	for _, line := range []string{"Aliasgate-Route-Account : spoof", "Aliasgate-Route-Account\t: spoof"} {
		req := "GET /open HTTP/1.1\r\nHost: shop.test\r\nX-A: 1\r\n" + line + "\r\nConnection: close\r\n\r\n"
		if got := rawExchange(t, addr, req); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
			t.Errorf("%q: answer %.40q, want 400", line, got)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream got %d requests", n)
	}
}

// TestClientCannotSpeakForTheGatewayOutbound: the same through the
// outbound listener, in an intercepted tunnel and in plain HTTP: the
// destination gets none of a client's fields of the gateway's names.
func TestClientCannotSpeakForTheGatewayOutbound(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	plain := newUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: hopRoutes})
	cl := g.client()
	defer cl.CloseIdleConnections()
	send := func(t *testing.T, u string, rec *upstream) {
		t.Helper()
		req, err := http.NewRequest("POST", u, io.MultiReader(strings.NewReader(`{"a":1}`)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // chunked, with the trailer
		req.Header.Set("Content-Type", "application/json")
		req.Trailer = http.Header{}
		for _, f := range gatewaySpellings() {
			req.Header[f[0]] = []string{f[1], f[1] + "-again"}
			req.Trailer[f[0]] = []string{f[1] + "-trailer"}
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if s := spoofed(rec.last(t)); len(s) > 0 {
			t.Errorf("the destination got a client's fields as the gateway's: %q", s)
		}
	}
	t.Run("tunnel", func(t *testing.T) {
		send(t, "https://psp.example.com:"+psp.port()+"/h", psp)
	})
	t.Run("plain HTTP", func(t *testing.T) {
		_, port, _ := strings.Cut(strings.TrimPrefix(plain.URL, "http://"), ":")
		send(t, "http://plain.example.com:"+port+"/h", plain)
	})
}
