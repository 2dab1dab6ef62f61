package inspector

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestKeyNamesWithInvisibleCharactersStillNameACVC: a key that reads as a
// CVC's name on the screen ("c<U+200B>vc", raw or escaped, in JSON, a form,
// XML or a header) masks its value: normKey keeps ASCII letters and digits
// only. Regression cover, passing as found (third review).
func TestKeyNamesWithInvisibleCharactersStillNameACVC(t *testing.T) {
	r := newRules("shop", nil, routes.Request, nil, false, nil)
	for _, tt := range []struct{ ct, body string }{
		{"application/json", "{\"c\u200bvc\":\"737\"}"},
		{"application/json", `{"c\u200bvc":"737"}`},
		{"application/json", `{"card":{"c\u00advv":"737"}}`},
		{"application/json", `{"c\udb40\udc20vc":"737"}`},
		{"application/x-www-form-urlencoded", "c%E2%80%8Bvc=737"},
		{"application/x-www-form-urlencoded", "c\u200bvc=737"},
		{"application/xml", "<p><c\u200cvc>737</c\u200cvc></p>"},
		{"text/plain", "c\u200bvc: 737"},
	} {
		v := makeView(http.Header{"Content-Type": {tt.ct}}, []byte(tt.body), false, r, viewOptions{limit: 1 << 16, fields: true})
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), "737") {
			t.Errorf("%q %+q: shown: %s", tt.ct, tt.body, b)
		}
	}
	v := makeView(http.Header{"Content-Type": {"text/plain"}, "X-C\u200bvc": {"737"}}, nil, false, r, viewOptions{limit: 1 << 16, fields: true})
	if b, _ := json.Marshal(v); strings.Contains(string(b), "737") {
		t.Errorf("header: shown: %s", b)
	}
}
