package inspector

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestCVCInTextIsMaskedInEverySpellingPanReads: a CVC written after its name
// in free text was read as plain ASCII: digits, separators or letters of
// the name written as the card-number finder reads them (internal/pan: an
// HTML named or numeric reference, a JSON or %u escape, percent-encoding,
// full-width digits, Unicode spaces) hid it, though a browser or anyone
// reading the capture sees "CVV: 737". Each row's digits (as spelled) must
// not be shown; the rest of the text stays.
func TestCVCInTextIsMaskedInEverySpellingPanReads(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	for _, tt := range []struct{ ct, body, digits string }{
		// Separators between the name and the digits.
		{"text/plain", "CVV:&emsp;737", "737"},
		{"text/plain", "CVV:&nbsp;737", "737"},
		{"text/plain", "CVV&nbsp737 ok", "737"},
		{"text/plain", "cvc&thinsp;&ndash;&thinsp;4021", "4021"},
		{"text/plain", `cvc\u003a 737`, "737"},
		{"text/plain", `cvc\u003a\u0020737`, "737"},
		{"text/plain", "CVV%3A%20737", "737"},
		{"text/plain", "CVV%u003A%u0020737", "737"},
		{"text/plain", "CVV&#58; 737", "737"},
		{"text/plain", "CVV&#x3a;&#x20;737", "737"},
		{"text/plain", "CVV%EF%BC%9A737", "737"},
		// Escaped or full-width digits.
		{"text/plain", "CVV: &#55;&#51;&#55;", "&#55;&#51;&#55;"},
		{"text/plain", "CVV: &#x37;&#X33;&#0055;", "&#x37;&#X33;&#0055;"},
		{"text/plain", "CVV: %u0037%u0033%u0037", "%u0037%u0033%u0037"},
		{"text/plain", `cvv: \u0037\u0033\u0037.`, `\u0037\u0033\u0037`},
		{"text/plain", "cvv: 7%33%37", "7%33%37"},
		{"text/plain", "cvc 4&#48;21", "4&#48;21"},
		{"text/plain", "CVV: \uff17\uff13\uff17", "\uff17\uff13\uff17"},
		{"text/plain", "CVV: %EF%BC%97%EF%BC%93%EF%BC%97", "%EF%BC%97%EF%BC%93%EF%BC%97"},
		{"text/plain", "security code:&emsp;&#55;3\uff17", "&#55;3\uff17"},
		// Escaped letters in the name.
		{"text/plain", "&#99;vv: 737", "737"},
		{"text/plain", "CV&#86;: 737", "737"},
		{"text/plain", "c%u0076c: 737", "737"},
		{"text/plain", `\u0063vc 737`, "737"},
		{"text/plain", "%43%56%56: 737", "737"},
		{"text/plain", "security&nbsp;code: 737", "737"},
		{"text/plain", "security\u00a0code: 737", "737"},
		{"text/plain", "card&#32;code 4021", "4021"},
		{"text/plain", "verification%20value: 4021", "4021"},
		{"text/plain", "\uff23\uff36\uff36: 737", "737"},
		// In the bodies' syntaxes: markup, a JSON string, a form field.
		{"application/xml", "<n>CVV:&#x2003;&#55;&#51;&#55;</n>", "&#55;&#51;&#55;"},
		{"text/html", "<p>CVV: &#55;&#51;&#55;</p>", "&#55;&#51;&#55;"},
		{"application/json", `{"note":"CVV:&emsp;737"}`, "737"},
		{"application/json", `{"note":"CVV: ７３７"}`, "７３７"},
		{"application/x-www-form-urlencoded", "note=CVV%3A%26%2355%3B%26%2351%3B%26%2355%3B&a=1", "55%3B"},
	} {
		v := makeView(http.Header{"Content-Type": {tt.ct}}, []byte(tt.body), false, r, viewOptions{limit: 1 << 16})
		if strings.Contains(v.Body, tt.digits) || v.Body == "" {
			t.Errorf("%s %+q shown as %+q", tt.ct, tt.body, v.Body)
		}
	}
}

// TestCVCInTextSpellingsMaskNothingElse: the readings of the CVC rule find
// no CVC where there is no name of one before 3 or 4 digits: prices, a
// name with no digits, numbers without a name, escaped or not, are shown
// as they were.
func TestCVCInTextSpellingsMaskNothingElse(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	for _, body := range []string{
		"Price: 737.00 EUR", "price&nbsp;737", "CVV: required", "CVV:&emsp;required, 3 digits",
		"order 737 shipped", "&#55;&#51;&#55; items", "total&emsp;737", "total %u0037%u0033%u0037",
		"CVV: &#55;&#51;", "CVV: &#55;&#51;&#55;&#55;&#55;", "cvc: 12345", "CVV: \uff17\uff13\uff17\uff17\uff17",
		"room &#99;v 737", "CVV code &amp; 737", "cvcx 737", `note \u0063v 737`, "CVV: %37%33%37%37%37",
	} {
		v := makeView(http.Header{"Content-Type": {"text/plain"}}, []byte(body), false, r, viewOptions{limit: 1 << 16})
		if v.Body != body {
			t.Errorf("%+q shown as %+q", body, v.Body)
		}
	}
}

// TestCVCInTextRightAfterAnotherIsMasked: the character after a CVC's
// digits was taken by its match, so a name written right after them began
// no match of its own: in "cvc:737cvv2:4021" the second CVC was shown.
func TestCVCInTextRightAfterAnotherIsMasked(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	for _, tt := range []struct{ body, digits string }{
		{"cvc:737cvv2:4021", "4021"},
		{"CVV 7372 CVC 4021", "4021"},
		{"cvc:737cvv:&#52;&#48;21", "&#52;&#48;21"},
		{"cvc:7\u200b37cvv 4021", "4021"},
	} {
		v := makeView(http.Header{"Content-Type": {"text/plain"}}, []byte(tt.body), false, r, viewOptions{limit: 1 << 16})
		if strings.Contains(v.Body, tt.digits) || strings.Contains(v.Body, "737") || v.Body == "" {
			t.Errorf("%+q shown as %+q", tt.body, v.Body)
		}
	}
}
