package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestLeakGuardReadsNumbersWhereFindAllsPassHandsThemOn: the leak guard
// reads a body's card numbers and its numbers in exponent notation or
// rounded fractions in one pass (pan.FindAll), in which the numbers are
// read only where Find's reading hands them on: after a run of ASCII
// digits it passes over, and in and just after the escapes and UTF-8
// characters it decodes. Each body below spells a card number only as a
// number whose digits, point or exponent sit at one of those places (a
// mantissa that starts in an escape, "%340.e13" is 3400000000000000; a
// '.' or 'e' right after an escape; a short mantissa in a body whose
// other digits Find passes over whole; a body shorter than a card number,
// which FindAll reads without Find's pass): block and redact refuse every
// one, as they did when the body was read twice (pan.FindMax then
// pan.FindExponent).
func TestLeakGuardReadsNumbersWhereFindAllsPassHandsThemOn(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	const form, json = "application/x-www-form-urlencoded", "application/json"
	bad := map[string]struct{ ctype, body string }{
		"mantissa starting in %34":         {form, "n=%340.e13"},
		"mantissa starting in %34, E":      {form, "a=1&n=%3400E12"},
		"mantissa starting in \\u0034":     {json, `{"n":"\u0034111111111111111000e-3"}`},
		"mantissa starting in &#52;":       {form, "n=&#52;111111111111111000e-3"},
		"fraction starting in %34":         {form, "n=%34111111111111110.9"},
		"escaped point":                    {form, "n=4111111111111110%2E9"},
		"escaped e":                        {form, "n=42%6514"},
		"JSON-escaped e and sign":          {json, `{"n":"4111111111111111000\u0065\u002d3"}`},
		"short mantissa after a long id":   {json, `{"id":"1234567890123","n":42.e14}`},
		"short mantissa, separated digits": {json, `{"id":"1234 5678 9012","n":42e14,"m":"5.0"}`},
		"body shorter than a card number":  {json, `{"n":42e14}`},
		"form shorter than a card number":  {form, "n=42E14"},
		"after a full-width digit":         {form, "x=\uff14&n=4111111111111110.9"},
	}
	for name, m := range bad {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path, m.ctype, strings.NewReader(m.body), nil)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	// Numbers of no card's value in the same places pass.
	for _, ok := range []string{`{"n":43e14}`, "n=%340.e12", `{"id":"1234567890123","n":41.e14}`} {
		ctype := json
		if !strings.HasPrefix(ok, "{") {
			ctype = form
		}
		if resp, b := g.do(t, "POST", "/block", ctype, strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
		}
	}
}
