package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// pathCaseRoutes: a catch-all route without filters in front of the app,
// a route redacting card numbers under /checkout, one under /pay whose
// filter names the exact path, and a route under /static without filters
// that goes elsewhere.
const pathCaseRoutes = `
routes:
  - id: app
    direction: inbound
    host: "*"
    path_prefix: /
    upstream: {{UP}}
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: {{UP}}
    filters:
      - id: card
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number}
      - id: card-header
        operation: redact
        targets:
          - {header: X-Card-Number}
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: {{UP}}
    filters:
      - id: pay-card
        match: {methods: [POST], path: "^/pay$", content_type: json}
        operation: redact
        targets:
          - {json: card.number}
  - id: wallet
    direction: inbound
    host: "*"
    path_prefix: /wallet/
    upstream: {{UP}}
    filters:
      - id: wallet-card
        operation: redact
        targets:
          - {json: card.number}
  - id: static
    direction: inbound
    host: "*"
    path_prefix: /static
    upstream: {{OTHER}}
`

// TestRedactingRouteTakesItsPathInAnyLetterCase: a route that redacts
// requests under /checkout is the route of /Checkout too. Before, POST
// /Checkout and /CHECKOUT/x went to the catch-all route "/", which has no
// filters, and reached the app with the card number in clear: Express (by
// default), ASP.NET and IIS route them to the /checkout handler, and the
// unmatched-body refusal that covers such servers within a route does not
// reach across routes. Now the redacting route takes them: its filters
// apply (and where a filter's own path condition compares case, the body
// is refused as unmatched). So does a redacting route under /wallet/ for
// POST /wallet, which most frameworks route to the same handler, and for
// POST /wallet.json, which Rails routes there too ((.:format); it went to
// the catch-all in clear before, review round 2). A route
// without redact filters keeps its exact prefix.
func TestRedactingRouteTakesItsPathInAnyLetterCase(t *testing.T) {
	up := newUpstream(t, nil)
	other := newUpstream(t, nil)
	doc := strings.ReplaceAll(pathCaseRoutes, "{{OTHER}}", other.URL)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{})
	card := `{"card":{"number":"` + testPAN + `"}}`
	for _, p := range []string{"/checkout", "/Checkout", "/CHECKOUT/x", "/cHeCkOuT/", "/wallet", "/Wallet", "/WALLET/cards", "/wallet.json", "/Wallet.XML"} {
		resp, body := g.do(t, "POST", p, "application/json", strings.NewReader(card), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s: %d %s", p, resp.StatusCode, body)
			continue
		}
		if got := up.last(t).Body; strings.Contains(string(got), testPAN) || !strings.Contains(string(got), `"number":"tok_`) {
			t.Errorf("POST %s: the upstream received %s", p, got)
		}
		if strings.HasPrefix(strings.ToLower(p), "/wallet") {
			continue
		}
		resp, body = g.do(t, "GET", p, "", nil, map[string]string{"X-Card-Number": testPAN})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		} else if v := up.last(t).Header.Get("X-Card-Number"); v == testPAN || v == "" {
			t.Errorf("GET %s: the upstream received X-Card-Number %q", p, v)
		}
	}
	before := len(up.requests())
	resp, body := g.do(t, "POST", "/PAY", "application/json", strings.NewReader(card), nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "no_matching_filter") || len(up.requests()) != before {
		t.Errorf("POST /PAY: %d %s, want 422 no_matching_filter and nothing forwarded", resp.StatusCode, body)
	}
	for _, p := range []string{"/Static/a.css", "/STATIC"} {
		before := len(other.requests())
		if resp, body := g.do(t, "GET", p, "", nil, nil); resp.StatusCode != http.StatusOK || len(other.requests()) != before {
			t.Errorf("GET %s: %d %s, want the catch-all route (a route without redact filters compares case)", p, resp.StatusCode, body)
		}
	}
}
