package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestLeakGuardReadsExponentsAsParsersDo: a number in exponent notation
// whose exponent has leading zeros ("e-0003", valid JSON) or four digits
// and more, or whose 'e' or sign is escaped where the app decodes escapes
// (a form's or a query's percent-encoding, a JSON string's \u0065, a
// header), is the card number it spells to the app: refused by block and
// redact, as "4111111111111111000e-3" is.
func TestLeakGuardReadsExponentsAsParsersDo(t *testing.T) {
	const doc = `
routes:
  - id: block
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: {{UP}}
    leak_guard: block
  - id: redact
    direction: inbound
    host: "*"
    path_prefix: /redact
    upstream: {{UP}}
    leak_guard: redact
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	type msg struct{ query, ctype, body, header string }
	bad := map[string]msg{
		"JSON exponent with leading zeros": {"", "application/json", `{"n":4111111111111111000e-0003}`, ""},
		"JSON four-digit exponent":         {"", "application/json", `{"n":4111111111111111` + strings.Repeat("0", 1000) + `e-1000}`, ""},
		"form, e percent-encoded":          {"", "application/x-www-form-urlencoded", `n=4111111111111111000%65-3`, ""},
		"form, sign percent-encoded":       {"", "application/x-www-form-urlencoded", `n=4111111111111111000e%2D3`, ""},
		"query, e percent-encoded":         {"?n=4111111111111111000%65-3", "", "", ""},
		"JSON string, e escaped":           {"", "application/json", `{"n":"4111111111111111000\u0065-3"}`, ""},
		"header, e percent-encoded":        {"", "", "", "4111111111111111000%65-3"},
	}
	for name, m := range bad {
		for _, path := range []string{"/block", "/redact"} {
			hdr := map[string]string{}
			if m.header != "" {
				hdr["X-Amount"] = m.header
			}
			resp, b := g.do(t, "POST", path+m.query, m.ctype, strings.NewReader(m.body), hdr)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
				t.Errorf("%s %s: want 422 card_data_leak, got %d %s", path, name, resp.StatusCode, b)
			}
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	for _, ok := range []string{`{"amount":1e0003,"r":12.5E-02,"id":"%41","big":1e99999999999}`, `n=1%2E5%65%2B3&m=4111111111111112000%65-3`} {
		if resp, b := g.do(t, "POST", "/block", "application/json", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
		}
	}
}
