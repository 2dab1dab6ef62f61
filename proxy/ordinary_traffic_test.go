package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// ordinaryRoutes are the shapes of the README's and the VGS import
// examples' routes: a JSON checkout (card.number, card.cvc), a VGS-style
// JSON API (payment.card.*, saved_cards.#.number) and form route
// (card_number, cc-number on path_info), a Stripe-style form
// (card[number], card[cvc]), an Adyen-style JSON API
// (paymentMethod.number, paymentMethod.cvc) and an ASP.NET Core form
// (Card.Number).
const ordinaryRoutes = shopRoutes + `      - id: checkout
        match: {methods: [POST], path: "^/checkout$", content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
          - {json: card.cvc, storage: volatile}
      - id: vgs-json
        match: {methods: [POST], path_info: /api/checkout, request_content_type: [application/json]}
        operation: redact
        targets:
          - {json: payment.card.number, format: FPE_SIX_T_FOUR}
          - {json: saved_cards.#.number, format: FPE_SIX_T_FOUR}
          - {json: payment.card.cvc, storage: volatile}
      - id: vgs-form
        match: {methods: [POST], path_info: '(?:^/donate(/[a-z0-9-]+)?$)', request_content_type: [application/x-www-form-urlencoded]}
        operation: redact
        targets:
          - {form: card_number, format: FPE_T_FOUR}
          - {form: cc-number, format: FPE_T_FOUR}
      - id: stripe-form
        match: {methods: [POST], path: "^/pay$", content_type: form}
        operation: redact
        targets:
          - {form: "card[number]", format: FPE_SIX_T_FOUR}
          - {form: "card[cvc]", storage: volatile}
      - id: adyen
        match: {methods: [POST], path: "^/payments$", content_type: json}
        operation: redact
        targets:
          - {json: paymentMethod.number, format: FPE_SIX_T_FOUR}
          - {json: paymentMethod.cvc, storage: volatile}
      - id: aspnet
        match: {methods: [POST], path: "^/Order/Pay$", content_type: form}
        operation: redact
        targets:
          - {form: Card.Number, format: FPE_SIX_T_FOUR}
`

// browserCookies are the cookies a shop's pages carry: analytics
// (Google, Meta, Segment, OneTrust), payment scripts (Stripe), sessions
// and CSRF tokens of the common frameworks, a card-brand preference.
var browserCookies = []string{
	"_ga=GA1.1.1234567890.1733500000; _gid=GA1.2.987654321.1733500000; _gcl_au=1.1.555.1733500000; _fbp=fb.1.1733500000.42",
	"__stripe_mid=0b1c2d3e-aaaa-bbbb-cccc-1234567890ab; __stripe_sid=5e6f7a8b-dddd-eeee-ffff-0987654321ba",
	"PHPSESSID=k1lo2p3q4r5s6t7u8v9w; XSRF-TOKEN=eyJpdiI6IkFCQyJ9%3D%3D; laravel_session=eyJpdiI6IkRFRiJ9%3D%3D",
	"sessionid=abc123; csrftoken=Zm9vYmFy",
	"_session_id=0123456789abcdef; remember_user_token=W1sxXV0%3D--abc",
	".AspNetCore.Antiforgery.9fXoN5jHCXs=CfDJ8Abc; .AspNetCore.Session=CfDJ8Def; ASP.NET_SessionId=xyz",
	`ajs_anonymous_id=%22a1b2%22; OptanonConsent=isGpcEnabled=0&datestamp=Sun+Dec+06+2026&groups=C0001%3A1%2CC0002%3A1; card=visa; card_brand=visa; payment_method=card; cart[items]=3`,
}

// TestOrdinaryCheckoutTrafficIsForwarded: the refusals of what a request
// carries besides its body (query fields, cookies, headers, format
// suffixes) refuse none of the requests the common front ends send: a
// React checkout posting JSON, a Stripe-style form, a Braintree drop-in's
// nonce, Adyen web components' JSON, a VGS-style form and JSON API, an
// ASP.NET Core form, with analytics and session cookies, CSRF tokens,
// utm_* and page= queries, ?card=visa on a page whose JSON body holds
// card.number, over HTTP/1.1 and HTTP/2 (whose client splits Cookie into
// one field a cookie). Each is forwarded, its card data redacted. (The
// VGS-style filters match path_info as VGS does, the query included, so
// their rows send none: /api/checkout?page=1 is no request they cover.)
// Regression cover: every row passed as found.
func TestOrdinaryCheckoutTrafficIsForwarded(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, ordinaryRoutes, up.URL), nil, gwOptions{})
	h2 := g.startH2(t)

	const (
		jsonType = "application/json"
		form     = "application/x-www-form-urlencoded"
		utm      = "utm_source=newsletter&utm_medium=email&utm_campaign=xmas&gclid=Cj0KCQ&fbclid=IwAR"
	)
	cardJSON := `{"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `","exp_month":12,"exp_year":2030},"amount":1999,"currency":"eur"}`
	requests := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
	}{
		{"React checkout", "POST", "/checkout?" + utm, jsonType, cardJSON, map[string]string{"X-CSRF-Token": "Zm9vYmFy", "X-Requested-With": "XMLHttpRequest"}},
		{"React checkout, ?card=visa", "POST", "/checkout?card=visa&step=payment", jsonType, cardJSON, nil},
		{"React checkout, card[brand] in the query", "POST", "/checkout?card[brand]=visa&card[funding]=credit", jsonType, cardJSON, nil},
		{"checkout page", "GET", "/checkout?page=2&sort=asc&card=visa", "", "", nil},
		{"checkout script", "GET", "/checkout.js?v=3", "", "", nil},
		{"VGS-style JSON API", "POST", "/api/checkout", jsonType,
			`{"payment":{"method":"card","card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"}},"saved_cards":[{"number":"` + testPAN2 + `"}]}`, nil},
		{"VGS-style JSON API, JSON:API paging", "GET", "/api/checkout?page[number]=2&page[size]=20&filter[status]=paid&include=card", "", "", nil},
		{"VGS-style form", "POST", "/donate/xmas", form, "amount=25&card_number=" + testPAN + "&cc-number=" + testPAN2 + "&cc-exp=12%2F30&email=a%40b.example", nil},
		{"Stripe-style form", "POST", "/pay?ref=cart", form,
			"card[number]=" + testPAN + "&card[cvc]=" + testCVC + "&card[exp_month]=12&card[exp_year]=2030&card[name]=Ann+Lee&authenticity_token=abc%3D%3D", nil},
		{"Stripe.js token form", "POST", "/pay", form, "stripeToken=tok_1Abc&stripeEmail=a%40b.example&card=visa", nil},
		{"Braintree drop-in", "POST", "/pay?plan=pro", form, "payment_method_nonce=tokencc_bc_abc&device_data=%7B%22correlation_id%22%3A%22x%22%7D", nil},
		{"Adyen web components", "POST", "/payments?locale=en-US&countryCode=NL", jsonType,
			`{"paymentMethod":{"type":"scheme","encryptedCardNumber":"adyenjs_0_1_25$abc","encryptedSecurityCode":"adyenjs_0_1_25$def"},"amount":{"value":1000,"currency":"EUR"},"browserInfo":{"userAgent":"x"}}`, nil},
		{"Adyen API", "POST", "/payments?paymentMethod=scheme&type=card", jsonType,
			`{"paymentMethod":{"type":"scheme","number":"` + testPAN + `","cvc":"` + testCVC + `","expiryMonth":"03","expiryYear":"2030"}}`, nil},
		{"ASP.NET Core form", "POST", "/Order/Pay?returnUrl=%2FOrder", form,
			"Card.Number=" + testPAN + "&Card.Holder=Ann&Card.ExpiryMonth=12&__RequestVerificationToken=CfDJ8Abc", nil},
		{"wallet page", "GET", "/wallet?tab=cards", "", "", nil},
		{"search with card in the query", "GET", "/search?q=card+number&card_number=1", "", "", nil},
	}
	type sender struct {
		name string
		do   func(method, path, ctype, body string, header http.Header) (*http.Response, []byte)
	}
	send := func(client *http.Client, base string) func(method, path, ctype, body string, header http.Header) (*http.Response, []byte) {
		return func(method, path, ctype, body string, header http.Header) (*http.Response, []byte) {
			var r io.Reader
			if body != "" {
				r = strings.NewReader(body)
			}
			req, err := http.NewRequest(method, base+path, r)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = header
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
	}
	for _, s := range []sender{{"HTTP/1.1", send(g.Client(), g.URL)}, {"HTTP/2", send(h2.Client(), h2.URL)}} {
		for _, c := range requests {
			for _, cookie := range append([]string{""}, browserCookies...) {
				header := http.Header{"Referer": {"https://shop.example/cart"}, "User-Agent": {"Mozilla/5.0"}}
				for k, v := range c.header {
					header.Set(k, v)
				}
				if cookie != "" {
					header.Set("Cookie", cookie)
				}
				before := len(up.requests())
				resp, got := s.do(c.method, c.path, c.ctype, c.body, header)
				if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 {
					t.Errorf("%s %s: %s %s (Cookie %q): %d %s, want forwarded", s.name, c.name, c.method, c.path, cookie, resp.StatusCode, got)
					continue
				}
				last := up.last(t)
				if strings.Contains(string(last.Body), testPAN) || strings.Contains(string(last.Body), testPAN2) {
					t.Errorf("%s %s: the upstream received the card number: %s", s.name, c.name, last.Body)
				}
				if cookie != "" && joinedCookies(last.Header) != cookie {
					t.Errorf("%s %s: the upstream received Cookie %q, want %q", s.name, c.name, joinedCookies(last.Header), cookie)
				}
				if q, _ := url.ParseQuery(last.Query); c.method == "POST" && strings.Contains(c.path, "?") && len(q) == 0 {
					t.Errorf("%s %s: the query was lost", s.name, c.name)
				}
			}
		}
	}
}

// joinedCookies is h's Cookie fields joined as an HTTP/2 server joins
// the fields a client split them into.
func joinedCookies(h http.Header) string {
	return strings.Join(h["Cookie"], "; ")
}

// TestTargetedCookieIsRefusedHoweverTheFieldsAreSplit: a cookie named as
// a targeted form field is refused whether the client sends it in one
// Cookie field, in one field of several (HTTP/1.1), or in a field of its
// own (HTTP/2 clients split Cookie into one field a cookie, RFC 9113
// 8.2.3), with its value quoted. Regression cover: passed as found.
func TestTargetedCookieIsRefusedHoweverTheFieldsAreSplit(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, queryFieldRoutes, up.URL), nil, gwOptions{})
	h2 := g.startH2(t)
	for _, srv := range []*httptest.Server{g.Server, h2} {
		for _, fields := range [][]string{
			{"_ga=GA1.1.1; card_number=" + testPAN},
			{"_ga=GA1.1.1", "card_number=" + testPAN},
			{"_ga=GA1.1.1;card_number=\"" + testPAN + "\";_gid=x"},
			{"_ga=GA1.1.1", " Card_Number=" + testPAN},
		} {
			req, err := http.NewRequest("POST", srv.URL+"/checkout", strings.NewReader("amount=1"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header["Cookie"] = fields
			before := len(up.requests())
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity || len(up.requests()) != before {
				t.Errorf("%s Cookie %q: %d %s, want refused", resp.Proto, fields, resp.StatusCode, got)
			}
		}
	}
}

// startH2 serves the gateway's handler over HTTP/2 too (TLS, ALPN h2).
func (g *gateway) startH2(t testing.TB) *httptest.Server {
	t.Helper()
	h2 := httptest.NewUnstartedServer(g.Config.Handler)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	return h2
}
