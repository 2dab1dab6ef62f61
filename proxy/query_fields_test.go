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
      - id: aspnet
        match: {path: "^/aspnet$"}
        operation: redact
        targets:
          - {form: Card.Number}
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
		{"ASP.NET Core reads card.number as card[number]", "POST", "/pay", form, "card.Number=" + testPAN, "duplicate_key"},
		{"ASP.NET Core, in the query", "GET", "/pay?Card.number=" + testPAN, "", "", "duplicate_key"},
		{"ASP.NET Core reads Card[Number] as Card.Number", "POST", "/aspnet", form, "Card[Number]=" + testPAN, "duplicate_key"},
		{"ASP.NET Core, [] dropped", "POST", "/aspnet", form, "card[number][]=" + testPAN, "duplicate_key"},
		{"ASP.NET Core, in the query, encoded", "GET", "/aspnet?card%5Bnumber%5D=" + testPAN, "", "", "duplicate_key"},
		{"format suffix (Rails, Spring's suffix patterns)", "POST", "/checkout.json?card_number=" + testPAN, "", "", "card_field_in_query"},
		{"format suffix, path_info", "POST", "/pay/vgs.xml?card_number=" + testPAN, "", "", "card_field_in_query"},
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
		{"another path with a dot", "GET", "/checkout.json/x?card_number=" + testPAN, "", ""},
		{"empty value", "POST", "/checkout?card_number=", form, "card_number=" + testPAN},
		{"another field", "POST", "/checkout?order=42", form, "card_number=" + testPAN},
		{"the targeted name", "POST", "/aspnet", form, "Card.Number=" + testPAN + "&Card[Holder]=Ann&card[0]=x"},
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

// jsonQueryRoutes redacts card.number and card.cvc of JSON bodies on
// POST /checkout, and cards.#.pan on /batch.
const jsonQueryRoutes = shopRoutes + `      - id: checkout
        match: {methods: [POST], path: "^/checkout$", content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
          - {json: card.cvc}
      - id: batch
        match: {path: "^/batch$"}
        operation: redact
        targets:
          - {json: cards.#.pan}
`

// TestQueryFieldNestingToAJSONTargetIsRefused: a JSON target's value does
// not reach the app in clear through the query string. Rails' params
// merge the query's nested fields over the JSON body's (the query's card
// replaces the body's whole card object) and Laravel's input() reads them
// where the body has none, so POST /checkout?card[cvc]=737 with the body's
// card redacted, or without a body, was the CVC to the app in clear; the
// query check read form targets only. Every name Rack and PHP nest to a
// target's value is refused (422 card_field_in_query); other fields, a
// field above the target and empty values go on.
func TestQueryFieldNestingToAJSONTargetIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, jsonQueryRoutes, up.URL), nil, gwOptions{})
	body := `{"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"}}`
	resp, got := g.do(t, "POST", "/checkout?order=42", "application/json", strings.NewReader(body), nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(up.last(t).Body), testPAN) {
		t.Fatalf("control: %d %s, want forwarded redacted", resp.StatusCode, got)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/checkout?card[cvc]=" + testCVC, body},
		{"POST", "/checkout?card[cvc]=" + testCVC, ""},
		{"POST", "/checkout?a=1&card%5Bnumber%5D=" + testPAN, body},
		{"POST", "/checkout?card[Number]=" + testPAN, body},
		{"POST", "/checkout?card[cvc][]=" + testCVC, body},
		{"POST", "/checkout?a=1;card[cvc]=" + testCVC, body},
		{"POST", "/Checkout/?card[cvc]=" + testCVC, ""},
		{"GET", "/checkout?card[cvc]=" + testCVC, ""},
		{"POST", "/batch?cards[][pan]=" + testPAN, `{"cards":[]}`},
		{"POST", "/batch?cards[0][pan]=" + testPAN, ""},
	} {
		wantQueryRefused(t, g, up, c.method, c.path, c.body)
	}
	for _, path := range []string{"/checkout?order=42", "/checkout?card=1", "/checkout?card[holder]=Ann", "/checkout?card[cvc]=", "/search?card[cvc]=" + testCVC, "/batch?cards[][name]=x"} {
		wantQueryForwarded(t, g, up, path)
	}
}

// TestTargetedFormFieldInACookieIsRefused: a form field a redact filter
// targets does not reach the app in clear as a cookie. PHP's $_REQUEST
// holds $_COOKIE where no php.ini says request_order (the official
// Docker images ship none: variables_order EGPCS), and classic ASP.NET's
// Request[name] reads QueryString, Form, then Cookies: "Cookie:
// card_number=4111…" was the form's card_number to them, forwarded in
// clear past the filter (and a CVC past any leak guard). Such a cookie,
// in any spelling the form locator reads, is refused on the paths the
// filter covers (422 card_field_in_cookie); other cookies, other paths and
// a cookie whose value only mentions the name go on.
func TestTargetedFormFieldInACookieIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, queryFieldRoutes, up.URL), nil, gwOptions{})
	for _, c := range []struct{ method, path, cookie, code string }{
		{"POST", "/checkout", "card_number=" + testPAN, "card_field_in_cookie"},
		{"POST", "/checkout", "session=abc; card%5Fnumber=" + testPAN, "card_field_in_cookie"},
		{"POST", "/checkout", "session=abc;card.number=" + testPAN, "duplicate_key"},
		{"GET", "/Checkout", "Card_Number=" + testPAN, "duplicate_key"},
		{"GET", "/pay", "card[number]=" + testPAN, "card_field_in_cookie"},
		{"GET", "/aspnet", "Card[Number]=" + testPAN, "duplicate_key"},
	} {
		before := len(up.requests())
		resp, got := g.do(t, c.method, c.path, "", nil, map[string]string{"Cookie": c.cookie})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(got), `"`+c.code+`"`) {
			t.Errorf("%s %s Cookie %s: %d %s, want 422 %s", c.method, c.path, c.cookie, resp.StatusCode, got, c.code)
		}
		if len(up.requests()) != before {
			t.Errorf("%s %s: the upstream received Cookie %s", c.method, c.path, up.last(t).Header.Get("Cookie"))
		}
	}
	for _, c := range []struct{ path, cookie string }{
		{"/checkout", "session=abc; theme=dark"},
		{"/checkout", "prefs=card_number%3D1"},
		{"/checkout", "card_number="},
		{"/search", "card_number=" + testPAN},
		{"/donate", "card_number=" + testPAN},
	} {
		before := len(up.requests())
		resp, got := g.do(t, "GET", c.path, "", nil, map[string]string{"Cookie": c.cookie})
		if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 {
			t.Errorf("GET %s Cookie %s: %d %s, want forwarded", c.path, c.cookie, resp.StatusCode, got)
		}
	}
}
