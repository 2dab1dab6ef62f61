package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// shopRoutes starts a route file whose first route, shop, takes every
// path to the upstream; its filters follow.
const shopRoutes = `
routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /
    upstream: {{UP}}
    filters:
`

// queryFieldRoutes redacts the form field card_number of POST /checkout
// (content_type form) and of /pay (any method and media type), and
// forwards what a failing filter could not redact on /donate.
const queryFieldRoutes = shopRoutes + `      - id: checkout
        match: {methods: [POST], path: "^/checkout$", content_type: form}
        operation: redact
        targets:
          - {form: card_number, format: FPE_SIX_T_FOUR}
      - id: pay
        match: {path: "^/pay$"}
        operation: redact
        targets:
          - {form: "card[number]"}
      - id: vgs-style
        match: {path_info: /pay/vgs, request_content_type: application/x-www-form-urlencoded}
        operation: redact
        targets:
          - {form: card_number}
      - id: donate
        match: {path: "^/donate$", content_type: form}
        operation: redact
        on_error: pass
        targets:
          - {form: card_number}
`

// TestTargetedFormFieldInTheQueryIsRefused: a form field that a redact
// filter targets does not reach the upstream in clear through the query
// string. Servlet containers and Spring (getParameter, @RequestParam; the
// query's value first), PHP's $_REQUEST, Rails' params and ASP.NET's
// Request[name] read query and form fields as one set of parameters, so
// POST /checkout?card_number=4111… was the card number to the app while
// the filter redacted the body (or found no body at all). Every spelling
// the form locator reads as the targeted field is refused (422) before
// the upstream, whatever the method (HEAD reaches GET handlers, override
// headers others); a query on a path the filter does not cover, an empty
// value and a filter that says on_error: pass go on.
func TestTargetedFormFieldInTheQueryIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, queryFieldRoutes, up.URL), nil, gwOptions{})
	const form = "application/x-www-form-urlencoded"
	refused := []struct {
		name, method, path, ctype, body, code string
	}{
		{"query and body", "POST", "/checkout?card_number=" + testPAN, form, "card_number=" + testPAN, "card_field_in_query"},
		{"query, body without it", "POST", "/checkout?card_number=" + testPAN, form, "amount=1", "card_field_in_query"},
		{"query, no body", "POST", "/checkout?card_number=" + testPAN, "", "", "card_field_in_query"},
		{"after another field", "POST", "/checkout?a=1&card_number=" + testPAN, form, "amount=1", "card_field_in_query"},
		{"repeated", "POST", "/checkout?card_number=&card_number=" + testPAN, form, "amount=1", "card_field_in_query"},
		{"percent-encoded name", "POST", "/checkout?card%5Fnumber=" + testPAN, form, "amount=1", "card_field_in_query"},
		{"percent-encoded value", "POST", "/checkout?card_number=%34" + testPAN[1:], form, "amount=1", "card_field_in_query"},
		{"letter case", "POST", "/checkout?Card_Number=" + testPAN, form, "amount=1", "duplicate_key"},
		{"PHP dot", "POST", "/checkout?card.number=" + testPAN, form, "amount=1", "duplicate_key"},
		{"PHP space as +", "POST", "/checkout?card+number=" + testPAN, form, "amount=1", "duplicate_key"},
		{"array", "POST", "/checkout?card_number[]=" + testPAN, form, "amount=1", "duplicate_key"},
		{"PHP NUL", "POST", "/checkout?card_number%00.x=" + testPAN, form, "amount=1", "duplicate_key"},
		{"PHP NUL in the body", "POST", "/checkout", form, "card_number%00=" + testPAN, "duplicate_key"},
		{"after ;", "POST", "/checkout?a=1;card_number=" + testPAN, form, "amount=1", "malformed_body"},
		{"JSON body", "POST", "/pay?card[number]=" + testPAN, "application/json", `{"amount":1}`, "card_field_in_query"},
		{"GET form", "GET", "/pay?card%5Bnumber%5D=" + testPAN, "", "", "card_field_in_query"},
		{"bracketed key under it", "GET", "/pay?card[number][x]=" + testPAN, "", "", "duplicate_key"},
		{"path_info without the query", "POST", "/pay/vgs?card_number=" + testPAN, form, "", "card_field_in_query"},
		{"HEAD", "HEAD", "/checkout?card_number=" + testPAN, "", "", "card_field_in_query"},
		{"path in another letter case", "POST", "/Checkout/?card_number=" + testPAN, form, "", "card_field_in_query"},
		{"another method", "GET", "/checkout?card_number=" + testPAN, "", "", "card_field_in_query"},
	}
	for _, c := range refused {
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		before := len(up.requests())
		var resp *http.Response
		var got []byte
		if body == nil {
			resp, got = g.do(t, c.method, c.path, c.ctype, nil, nil)
		} else {
			resp, got = g.do(t, c.method, c.path, c.ctype, body, nil)
		}
		if resp.StatusCode != http.StatusUnprocessableEntity && resp.StatusCode != http.StatusBadRequest ||
			c.method != "HEAD" && !strings.Contains(string(got), `"`+c.code+`"`) {
			t.Errorf("%s: %s %s: %d %s, want refused with %s", c.name, c.method, c.path, resp.StatusCode, got, c.code)
		}
		if strings.Contains(string(got), testPAN) {
			t.Errorf("%s: the refusal quotes the card number", c.name)
		}
		if n := len(up.requests()); n != before {
			t.Errorf("%s: the upstream received %s?%s", c.name, up.last(t).Path, up.last(t).Query)
		}
	}

	forwarded := []struct{ name, method, path, ctype, body string }{
		{"a path the filter does not cover", "GET", "/search?card_number=" + testPAN, "", ""},
		{"empty value", "POST", "/checkout?card_number=", form, "card_number=" + testPAN},
		{"another field", "POST", "/checkout?order=42", form, "card_number=" + testPAN},
		{"on_error: pass", "POST", "/donate?card_number=" + testPAN, form, "amount=1"},
	}
	for _, c := range forwarded {
		resp, got := g.do(t, c.method, c.path, c.ctype, strings.NewReader(c.body), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s %s: %d %s, want forwarded", c.name, c.method, c.path, resp.StatusCode, got)
			continue
		}
		if last := up.last(t); c.body != "" && strings.Contains(string(last.Body), testPAN) {
			t.Errorf("%s: the body reached the upstream in clear", c.name)
		}
	}
}
