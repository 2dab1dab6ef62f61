package proxy

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestEscapedDigitTargetThroughTheGateway: a JSON target written `\0` names
// the key "0", as gjson reads it, never element 0 of an array. Through the
// real inbound gateway with a recording upstream: `0` redacts the card
// number in an array; `\0` redacts it under the key "0"; on an array `\0`
// locates nothing, and the route's leak guard (block) refuses the body, so
// the upstream never receives the card number.
func TestEscapedDigitTargetThroughTheGateway(t *testing.T) {
	up := newUpstream(t, nil)
	set := parseRoutes(t, `routes:
  - id: index
    direction: inbound
    host: "*"
    path_prefix: /index
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: by-index
        operation: redact
        targets: [{json: "0"}]
  - id: escaped
    direction: inbound
    host: "*"
    path_prefix: /escaped
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: by-key
        operation: redact
        targets: [{json: '\0'}]
`, up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/index", `["` + testPAN + `"]`, http.StatusOK},
		{"/escaped", `{"0":"` + testPAN + `"}`, http.StatusOK},
		{"/escaped", `["` + testPAN + `"]`, http.StatusUnprocessableEntity}, // card_data_leak
	} {
		before := len(up.requests())
		resp, body := g.do(t, "POST", tc.path, "application/json", strings.NewReader(tc.body), nil)
		if resp.StatusCode != tc.status {
			t.Fatalf("%s %s: status %d (%s), want %d", tc.path, tc.body, resp.StatusCode, body, tc.status)
		}
		reqs := up.requests()
		if tc.status != http.StatusOK {
			if len(reqs) != before {
				t.Fatalf("%s %s: refused, yet the upstream got a request", tc.path, tc.body)
			}
			continue
		}
		if len(reqs) != before+1 || bytes.Contains(reqs[len(reqs)-1].Body, []byte(testPAN)) {
			t.Fatalf("%s %s: upstream got %d requests, last body %q", tc.path, tc.body, len(reqs)-before, reqs[len(reqs)-1].Body)
		}
	}
	for _, r := range up.requests() {
		if bytes.Contains(r.Body, []byte(testPAN)) {
			t.Fatalf("the upstream received the card number: %q", r.Body)
		}
	}
}
