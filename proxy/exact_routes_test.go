package proxy

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The route keys that say exactly what a VGS route says (host_regex, ports,
// filter groups, path_info, request_content_type, case-sensitive methods)
// decide, through the real outbound proxy, which values the processor gets
// in clear.
func TestOutboundExactRouteKeysRevealOnlyWhereMeant(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	other := newTLSUpstream(t, nil) // the same host on another port
	routesYAML := `routes:
  - id: one-label
    direction: outbound
    host_regex: '[a-z]+\.example\.com'
    ports: [` + psp.port() + `]
    filters:
      - {id: first, group: g1, match: {methods: [POST], path_info: /v1/charges, request_content_type: application/json}, operation: reveal, targets: [{json: card.number}]}
      - {id: second, group: g2, match: {path_info: '/v1/(?s:.*)'}, operation: reveal, targets: [{json: card.cvc}]}
`
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, routes: routesYAML,
		roots: []*x509.Certificate{psp.Certificate(), other.Certificate()}})
	panA, cvcA := aliases(t, g.vault)
	c := g.client()
	body := `{"card":{"number":"` + panA + `","cvc":"` + cvcA + `"}}`
	send := func(method, url, ctype string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode, ""
	}
	base := "https://pay.example.com:" + psp.port()
	tests := []struct {
		name, method, url, ctype string
		pan, cvc                 bool // revealed to the processor
	}{
		{"the first group wins alone", "POST", base + "/v1/charges", "application/json", true, false},
		{"a charset parameter is another Content-Type", "POST", base + "/v1/charges", "application/json; charset=utf-8", false, true},
		{"a query is part of path_info", "POST", base + "/v1/charges?expand=1", "application/json", false, true},
		{"a trailing slash is another path", "POST", base + "/v1/charges/", "application/json", false, true},
		{"methods are case-sensitive", "post", base + "/v1/charges", "application/json", false, true},
		{"path_info is anchored at the start", "POST", base + "/api/v1/charges", "application/json", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, err := send(tt.method, tt.url, tt.ctype); code != http.StatusOK {
				t.Fatalf("status %d %s", code, err)
			}
			// The fields are compared whole: the CVC 737 is three digits
			// that a random base58 alias holds by chance (about 1 in 5,000
			// runs), so a substring search could call the alias revealed.
			got := psp.last(t).Body
			var doc struct {
				Card struct{ Number, CVC string }
			}
			if err := json.Unmarshal(got, &doc); err != nil {
				t.Fatalf("processor got %q: %v", got, err)
			}
			wantPAN, wantCVC := panA, cvcA
			if tt.pan {
				wantPAN = testPAN
			}
			if tt.cvc {
				wantCVC = testCVC
			}
			if doc.Card.Number != wantPAN || doc.Card.CVC != wantCVC {
				t.Fatalf("processor got %q; want PAN revealed %v, CVC revealed %v (the others as their aliases)", got, tt.pan, tt.cvc)
			}
			if tt.pan != strings.Contains(string(got), testPAN) {
				t.Fatalf("processor got %q; want PAN revealed %v", got, tt.pan)
			}
		})
	}

	// Two labels, a digit in the label, another port: no route, so no
	// tunnel either (not in outbound.passthrough).
	for _, u := range []string{
		"https://a1.example.com:" + psp.port() + "/v1/charges",
		"https://pay.example.com:" + other.port() + "/v1/charges",
	} {
		if code, err := send("POST", u, "application/json"); code != 0 || !strings.Contains(err, "Forbidden") {
			t.Errorf("%s: status %d %q, want the CONNECT refused (403)", u, code, err)
		}
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the processor on the other port received %d requests", n)
	}
	if n := len(psp.requests()); n != len(tests) {
		t.Errorf("the processor received %d requests, want %d (one per allowed case)", n, len(tests))
	}
}

// Through the real inbound proxy, a response filter matches the request's
// Content-Type and query (match.request_content_type, match.path_info), as
// a VGS response entry does, not the response's.
func TestInboundResponseFilterMatchesTheRequest(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"echo":{"pan":"`+testPAN+`"}}`)
	})
	set := parseRoutes(t, `routes:
  - id: app
    direction: inbound
    host: "*"
    upstream: {{UP}}
    filters:
      - id: echo
        phase: response
        match: {path_info: '/orders\?v=2', request_content_type: text/xml}
        operation: redact
        targets: [{json: echo.pan}]
`, up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	tests := []struct {
		path, ctype string
		redacted    bool
	}{
		{"/orders?v=2", "text/xml", true},
		{"/orders?v=2", "text/xml; charset=utf-8", false},
		{"/orders?v=2", "", false},
		{"/orders", "text/xml", false},
		{"/orders?v=2&x=1", "text/xml", false},
	}
	for _, tt := range tests {
		resp, body := g.do(t, "POST", tt.path, tt.ctype, strings.NewReader("<a/>"), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %q: status %d: %s", tt.path, tt.ctype, resp.StatusCode, body)
		}
		// The filter matched: the number is an alias. It did not: the
		// leak guard masks it (an answer no filter of a route that
		// redacts responses matched, TestResponseBodyNoRedactingFilterMatched).
		if redacted := strings.Contains(string(body), `"pan":"tok_`); redacted != tt.redacted || strings.Contains(string(body), testPAN) {
			t.Errorf("%s %q: response %s; want redacted by the filter %v, and no card number", tt.path, tt.ctype, body, tt.redacted)
		}
	}
}
