package inspector

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestFormNamesSpelledWithPercentUStillNameACVC: a form name spelled with
// ASP.NET's %u escape ("c%u0076c", which System.Web's Request.Form reads as
// cvc) names a CVC or a credential to the inspector as it does to the form
// locator (rewrite.LenientUnescape): its value is masked. The view showed
// c%u0076c=737 and pass%u0077ord=… in clear (second inbound review). A
// name that only holds a stray '%' is read as before.
func TestFormNamesSpelledWithPercentUStillNameACVC(t *testing.T) {
	r := newRules("shop", nil, routes.Request, nil, false, nil)
	for _, tt := range []struct{ body, secret string }{
		{"c%u0076c=737", "737"},
		{"c%u0056%u0056=737&x=1", "737"},
		{"note=50%&c%u0076v2=8215", "8215"},
		{"pass%u0077ord=hunter2", "hunter2"},
	} {
		v := makeView(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(tt.body), false, r, viewOptions{limit: 1 << 16, fields: true})
		if b, _ := json.Marshal(v); strings.Contains(string(b), tt.secret) {
			t.Errorf("%q: shown: %s", tt.body, b)
		}
	}
	v := makeView(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("note=50%&x=1"), false, r, viewOptions{limit: 1 << 16, fields: true})
	if len(v.Fields) != 2 || v.Fields[0].Value != "50%" {
		t.Errorf("a stray %%: %q %+v", v.Body, v.Fields)
	}
}

// TestFormTargetsAreMaskedPastAByteOrderMarkAndInPercentU: a route's form
// target is masked in a capture wherever the form locator finds it: past a
// leading byte order mark (which Express's body-parser drops, and the
// locator reads past) and spelled with ASP.NET's %u escape (which the
// locator reads, and refuses). The view showed "\ufeffref=…" in clear
// while the gateway redacted it (second inbound review).
func TestFormTargetsAreMaskedPastAByteOrderMarkAndInPercentU(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	for _, body := range []string{
		"\ufeffref=SECRETVALUE",
		"\ufeffref=SECRETVALUE&x=1",
		"r%u0065f=SECRETVALUE",
		"x=1&r%u0065f=SECRETVALUE",
	} {
		v := makeView(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(body), false, r, viewOptions{limit: 1 << 16, fields: true})
		if b, _ := json.Marshal(v); strings.Contains(string(b), "SECRET") {
			t.Errorf("%+q: shown: %s", body, b)
		}
	}
	// A mark anywhere but at the start is part of the name, to the locator
	// too: not the target.
	v := makeView(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("x=1&\ufeffref=VALUE"), false, r, viewOptions{limit: 1 << 16, fields: true})
	if !strings.Contains(v.Body, "VALUE") {
		t.Errorf("a mark inside: %q", v.Body)
	}
}

// TestRouteTargetsAreMaskedInBodiesReadByTheirSyntax: a body whose syntax
// is not the one its Content-Type names is read by its syntax, as the
// gateway's filters read it (routes.SniffMediaType): a form or JSON sent as
// text/plain (or with a byte order mark) has its route targets masked in a
// capture. The view read it as text and showed the targets' values in
// clear, though the gateway redacted them (second inbound review).
func TestRouteTargetsAreMaskedInBodiesReadByTheirSyntax(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	for _, tt := range []struct{ ct, body string }{
		{"text/plain", "ref=SECRETVALUE"},
		{"text/plain", "\ufeffref=SECRETVALUE&x=1"},
		{"", "x=1&ref=SECRETVALUE"},
		{"text/plain", `{"items":[{"code":"SECRETVALUE"}]}`},
		{"text/plain", `<pay><ref>SECRETVALUE</ref></pay>`},
	} {
		v := makeView(http.Header{"Content-Type": {tt.ct}}, []byte(tt.body), false, r, viewOptions{limit: 1 << 16, fields: true})
		if b, _ := json.Marshal(v); strings.Contains(string(b), "SECRET") {
			t.Errorf("%q %+q: shown: %s", tt.ct, tt.body, b)
		}
	}
	// Text that is no form, JSON or XML stays text.
	v := makeView(http.Header{"Content-Type": {"text/plain"}}, []byte("hello, world"), false, r, viewOptions{limit: 1 << 16, fields: true})
	if v.BodyKind != "text" || v.Body != "hello, world" {
		t.Errorf("text: %q %q", v.BodyKind, v.Body)
	}
}
