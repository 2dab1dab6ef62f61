package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// unmatchedHeaderRoutes redacts X-Card-Number on POST /checkout and the
// card number of "Authorization: Card <pan>" on /pay; the second route says
// unmatched_body: pass.
const unmatchedHeaderRoutes = shopRoutes + `      - id: card-header
        match: {methods: [POST], path: "^/checkout$"}
        operation: redact
        targets:
          - {header: X-Card-Number}
      - id: card-auth
        match: {path: "^/pay$"}
        operation: redact
        targets:
          - {header: Authorization, pattern: '^Card (\d+)$'}
  - id: lenient
    direction: inbound
    host: "*"
    path_prefix: /lenient
    upstream: {{UP}}
    unmatched_body: pass
    filters:
      - id: card-header
        match: {methods: [POST], path: "^/lenient/checkout$"}
        operation: redact
        targets:
          - {header: X-Card-Number}
`

// TestHeaderARouteRedactsIsRefusedWhereNoFilterApplies: a header a filter
// redacts does not reach the filter's handler in clear by a spelling of
// the request the filter does not match, as a body does not
// (unmatched_body). Before, POST /Checkout (Express, ASP.NET and IIS
// route paths without regard to case), post /checkout, PUT /checkout,
// GET /CHECKOUT, POST /Pay and HEAD /PAY/ carried X-Card-Number: 4111…
// (or Authorization: Card 4111…) past the filter to the upstream in
// clear. Such a request is refused (422 no_matching_filter) unless the
// route says unmatched_body: pass; a path the filter does not cover, a
// value the target does not read (another Authorization scheme, an empty
// value) goes on, and the filter still redacts where it applies.
func TestHeaderARouteRedactsIsRefusedWhereNoFilterApplies(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, unmatchedHeaderRoutes, up.URL), nil, gwOptions{})
	refused := []struct {
		method, path string
		hdr          map[string]string
	}{
		{"POST", "/Checkout", map[string]string{"X-Card-Number": testPAN}},
		{"POST", "/CHECKOUT/", map[string]string{"X-Card-Number": testPAN}},
		{"post", "/checkout", map[string]string{"X-Card-Number": testPAN}},
		{"PUT", "/checkout", map[string]string{"X-Card-Number": testPAN}},
		{"GET", "/CHECKOUT", map[string]string{"x-card-number": testPAN}},
		{"POST", "/Pay", map[string]string{"Authorization": "Card " + testPAN}},
		{"HEAD", "/PAY/", map[string]string{"Authorization": "Card " + testPAN}},
		{"POST", "/checkout.json", map[string]string{"X-Card-Number": testPAN}},
		{"GET", "/Pay.XML", map[string]string{"Authorization": "Card " + testPAN}},
	}
	for _, c := range refused {
		before := len(up.requests())
		resp, body := g.do(t, c.method, c.path, "", nil, c.hdr)
		if resp.StatusCode != http.StatusUnprocessableEntity || c.method != "HEAD" && !strings.Contains(string(body), "no_matching_filter") {
			t.Errorf("%s %s %v: %d %s, want 422 no_matching_filter", c.method, c.path, c.hdr, resp.StatusCode, body)
		}
		if len(up.requests()) != before {
			t.Errorf("%s %s: the upstream received the header %v", c.method, c.path, up.last(t).Header)
		}
	}
	if n := g.filterCount("shop", "card-header", "unmatched_header"); n != 6 {
		t.Errorf("unmatched_header count of card-header: %v, want 6", n)
	}

	forwarded := []struct {
		method, path string
		hdr          map[string]string
		want         func(http.Header) bool
	}{
		{"POST", "/checkout", map[string]string{"X-Card-Number": testPAN}, func(h http.Header) bool {
			v := h.Get("X-Card-Number")
			return v != "" && v != testPAN
		}},
		{"GET", "/pay", map[string]string{"Authorization": "Card " + testPAN}, func(h http.Header) bool {
			v := h.Get("Authorization")
			return strings.HasPrefix(v, "Card ") && !strings.Contains(v, testPAN)
		}},
		{"GET", "/account", map[string]string{"Authorization": "Bearer abc"}, func(h http.Header) bool { return h.Get("Authorization") == "Bearer abc" }},
		{"GET", "/account", map[string]string{"X-Card-Number": ""}, func(http.Header) bool { return true }},
		// A path no filter redacting the header covers: the route says
		// nothing of it there (a VGS route redacting Authorization on one
		// path leaves the bearer tokens of every other path alone).
		{"GET", "/account", map[string]string{"X-Card-Number": "ref-1"}, func(h http.Header) bool { return h.Get("X-Card-Number") == "ref-1" }},
		{"GET", "/", map[string]string{"Authorization": "Card 42"}, func(h http.Header) bool { return h.Get("Authorization") == "Card 42" }},
		{"GET", "/account", nil, func(http.Header) bool { return true }},
		{"POST", "/lenient/Checkout", map[string]string{"X-Card-Number": testPAN}, func(h http.Header) bool { return h.Get("X-Card-Number") == testPAN }},
	}
	for _, c := range forwarded {
		before := len(up.requests())
		resp, body := g.do(t, c.method, c.path, "", nil, c.hdr)
		if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 {
			t.Errorf("%s %s %v: %d %s, want forwarded", c.method, c.path, c.hdr, resp.StatusCode, body)
			continue
		}
		if !c.want(up.last(t).Header) {
			t.Errorf("%s %s: the upstream received %v", c.method, c.path, up.last(t).Header)
		}
	}
}

// TestHeaderTargetSpelledAsCGINamesIsRefused: a header a filter redacts
// does not reach the upstream in clear under a name that CGI-style servers
// read as the same header. PHP ($_SERVER), Python's WSGI and Ruby's Rack
// write X_Card_Number, x_card_number and X-Card_Number as the one
// HTTP_X_CARD_NUMBER; the filter redacted X-Card-Number and forwarded
// those spellings in clear. They are refused (422 duplicate_key) where
// the filter applies, and as unmatched where none redacting it does; other
// headers with underscores go on. PHP also writes a '.' of a variable
// name as '_' (php_register_variable_ex), $_SERVER's included, and
// FastCGI front ends that keep the dot (Caddy, FrankenPHP, php -S) hand
// X-Card.Number to it as HTTP_X_CARD_NUMBER: forwarded in clear before
// (review round 2).
func TestHeaderTargetSpelledAsCGINamesIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, unmatchedHeaderRoutes, up.URL), nil, gwOptions{})
	for _, name := range []string{"X_Card_Number", "x_card_number", "X-Card_Number", "X_CARD-NUMBER", "X-Card.Number", "x.card.number", "X.Card_Number"} {
		for path, code := range map[string]string{"/checkout": "duplicate_key", "/Checkout": "no_matching_filter"} {
			before := len(up.requests())
			resp, body := g.do(t, "POST", path, "", nil, map[string]string{name: testPAN})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"`+code+`"`) {
				t.Errorf("POST %s with %s: %d %s, want 422 %s", path, name, resp.StatusCode, body, code)
			}
			if len(up.requests()) != before {
				t.Errorf("POST %s with %s: the upstream received %v", path, name, up.last(t).Header)
			}
		}
	}
	before := len(up.requests())
	resp, body := g.do(t, "POST", "/checkout", "", nil, map[string]string{"X_Request_Id": "abc", "X-Card-Number": testPAN})
	if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 {
		t.Fatalf("another header with underscores: %d %s, want forwarded", resp.StatusCode, body)
	}
	if h := up.last(t).Header; h.Get("X_request_id") != "abc" || h.Get("X-Card-Number") == testPAN || h.Get("X-Card-Number") == "" {
		t.Errorf("the upstream received %v", h)
	}
}
