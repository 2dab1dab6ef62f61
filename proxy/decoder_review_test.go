package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// Spellings of a card number that an app's decoder reads but that the
// leak guard and the form locator did not (inbound review): each request
// below reached the upstream with the card number in clear before.

// percentU spells s with the non-standard %uXXXX escape of every character.
func percentU(s string) string {
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, "%%u%04x", c)
	}
	return b.String()
}

const decoderReviewRoutes = `
routes:
  - id: block
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: {{UP}}
    leak_guard: block
  - id: form
    direction: inbound
    host: "*"
    path_prefix: /form
    upstream: {{UP}}
    filters:
      - id: card
        operation: redact
        match: {content_type: form}
        targets: [{form: card_number}, {form: cvc, storage: volatile}]
`

// TestLeakGuardReadsPercentUEscapes: ASP.NET's HttpUtility.UrlDecode
// (Request.Form and Request.QueryString of System.Web) and JavaScript's
// unescape() decode the non-standard %uXXXX escape, so "%u0034%u0031…" in
// a form value is a card number to the app. A blocking leak guard let it
// through.
func TestLeakGuardReadsPercentUEscapes(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	const form = "application/x-www-form-urlencoded"
	bodies := map[string]string{
		"every digit":         "note=" + percentU(testPAN),
		"the first four":      "note=" + percentU(testPAN[:4]) + testPAN[4:],
		"grouped with %u0020": "note=" + strings.Join([]string{testPAN[:4], testPAN[4:8], testPAN[8:12], testPAN[12:]}, "%u0020"),
		"digits and %u002d":   "note=" + percentU(testPAN[:8]) + "%u002d" + percentU(testPAN[8:]),
		"%u002D (upper case)": "note=" + percentU(testPAN2[:8]) + "%u002D" + percentU(testPAN2[8:]),
	}
	for name, body := range bodies {
		resp, b := g.do(t, "POST", "/block/pay", form, strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("%s: want 422 card_data_leak, got %d %s", name, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	// A %u escape of anything else is no card number.
	resp, b := g.do(t, "POST", "/block/pay", form, strings.NewReader("note=caf%u00e9+1234+%u0041"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a note without card data: %d %s", resp.StatusCode, b)
	}
}
