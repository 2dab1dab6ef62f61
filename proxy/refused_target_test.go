package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestValueRefusedNamesItsTarget: a request whose value does not fit its
// target's alias format is refused 422 value_refused, and the refusal
// names that target (kind and path), its filter and its route, never the
// value, also when an earlier target's value was empty (skipped) or the
// value is in a header; nothing reaches the upstream. Before, the detail
// said only "a value does not fit the alias format of its field": the
// merchant could not tell which target of the route to fix.
func TestValueRefusedNamesItsTarget(t *testing.T) {
	up := newUpstream(t, nil)
	set := parseRoutes(t, `
routes:
  - id: pay
    direction: inbound
    host: "*"
    upstream: {{UP}}
    filters:
      - id: card
        match: {content_type: json}
        operation: redact
        targets:
          - {json: holder, format: GENERIC_T_FOUR}
          - {json: number, format: FPE_SIX_T_FOUR}
          - {header: X-Account, format: FPE_SSN_T_FOUR}
`, up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	for _, c := range []struct {
		name, body, header, value, want string
	}{
		{"second target", `{"holder":"ab1234","number":"987"}`, "", "987", `json target \"number\" of filter \"card\" of route \"pay\"`},
		{"first target", `{"holder":"abcdef","number":"4111111111111111"}`, "", "abcdef", `json target \"holder\" of filter \"card\" of route \"pay\"`},
		{"after an empty value", `{"holder":"","number":"987"}`, "", "987", `json target \"number\" of filter \"card\" of route \"pay\"`},
		{"header", `{"holder":"ab1234","number":"4111111111111111"}`, "77", "77", `header target \"X-Account\" of filter \"card\" of route \"pay\"`},
	} {
		hdr := map[string]string{}
		if c.header != "" {
			hdr["X-Account"] = c.header
		}
		resp, body := g.do(t, "POST", "/pay", "application/json", strings.NewReader(c.body), hdr)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"value_refused"`) {
			t.Errorf("%s: %d %s, want 422 value_refused", c.name, resp.StatusCode, body)
			continue
		}
		if !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %s does not name %s", c.name, body, c.want)
		}
		if strings.Contains(string(body), `"`+c.value+`"`) || strings.Contains(string(body), "4111111111111111") {
			t.Errorf("%s: the refusal holds a value: %s", c.name, body)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}
}
