package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestSentViewShowsOnlyTheAliasesItsFiltersMade: in what the proxy sent
// on, the inspector shows the values an applied redact filter targets as
// they are, so that the operator sees which alias went out. A target with a
// gjson query (items.#(type=="card").number) selects some elements only;
// the others, not redacted and forwarded by a route whose guard only logs,
// were shown as they are too: a card number in clear in the captured
// request as sent on (and so in a response as sent to the client, for a
// response filter's query). Only the aliases the exchange's filters got
// from the vault are shown; every other value is masked.
func TestSentViewShowsOnlyTheAliasesItsFiltersMade(t *testing.T) {
	up := newEchoUpstream(t)
	routesYAML := `routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /shop/
    upstream: ` + up.URL + `
    filters:
      - id: first-card
        match: {methods: [POST], path: "^/shop/items$", content_type: json}
        operation: redact
        targets: [{json: 'items.#(type=="card").number', format: FPE_SIX_T_FOUR}]
`
	g, _ := inspectorGateway(t, routesYAML, nil)
	status, _ := call(t, "POST", g.inbound+"/shop/items", "application/json",
		`{"items":[{"type":"card","number":"4111111111111111"},{"type":"gift","number":"5555555555554444"}]}`, nil)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	got := up.last()
	if strings.Contains(got, "4111111111111111") || !strings.Contains(got, "5555555555554444") {
		t.Fatalf("the upstream got %s: want the first card redacted, the second (no filter's) as sent", got)
	}

	ids := waitCaptures(t, g, 1)
	_, b := inspectorCall(t, g, "GET", fmt.Sprintf("/ui/api/captures/%d", ids[0]), nil)
	var e struct {
		Request struct{ Received, Sent struct{ Body string } }
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	assertNoCardData(t, "the capture", string(b))
	if !strings.Contains(e.Request.Sent.Body, `"number": "555555******4444"`) {
		t.Errorf("the unredacted card number is not masked in the request as sent:\n%s", e.Request.Sent.Body)
	}
	// The alias that went out is still shown whole.
	alias := ""
	for _, w := range strings.Fields(strings.NewReplacer(`"`, " ", ",", " ").Replace(got)) {
		if len(w) == 16 && strings.HasPrefix(w, "411111") && w != "4111111111111111" {
			alias = w
		}
	}
	if alias == "" || !strings.Contains(e.Request.Sent.Body, `"number": "`+alias+`"`) {
		t.Errorf("the alias %q that went out is not shown in the request as sent:\n%s", alias, e.Request.Sent.Body)
	}
}
