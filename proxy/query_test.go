package proxy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

const queryRoutes = `
routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: card-payments
        match: {content_type: json}
        operation: redact
        targets:
          - {json: 'payments.#(type=="card")#.number', format: FPE_SIX_T_FOUR}
`

// TestQueryTargetRedactsMatchingElements: a #(…)# target redacts the
// elements its query matches, and only them, through the inbound proxy;
// the leak guard (block) finds no card number left; spellings the query
// would misread are refused before the upstream.
func TestQueryTargetRedactsMatchingElements(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, queryRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	in := `{"payments":[{"type":"card","number":"` + testPAN + `"},{"type":"gift","number":"GIFT-0001"},` +
		`{"number":"` + testPAN2 + `","type":"card"}],"total":12}`
	resp, body := g.do(t, "POST", "/pay", "application/json", strings.NewReader(in), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := up.last(t).Body
	var doc struct {
		Payments []struct{ Type, Number string } `json:"payments"`
	}
	if err := json.Unmarshal(got, &doc); err != nil || len(doc.Payments) != 3 {
		t.Fatalf("upstream body %v", err)
	}
	cards := []string{testPAN, testPAN2}
	for i, k := range []int{0, 2} {
		n := doc.Payments[k].Number
		if n == cards[i] || len(n) != 16 || n[:6] != cards[i][:6] || !pan.Valid(n) {
			t.Errorf("payments.%d.number is not an FPE alias of its card (len %d)", k, len(n))
		}
		v, err := g.vault.tok.Reveal(context.Background(), []string{n})
		if err != nil || v[0] != cards[i] {
			t.Errorf("payments.%d.number does not reveal to its card (err %v)", k, err)
		}
	}
	if doc.Payments[1].Number != "GIFT-0001" {
		t.Errorf("the element the query does not match changed: %q", doc.Payments[1].Number)
	}
	// Every other byte is kept.
	back := strings.NewReplacer(doc.Payments[0].Number, testPAN, doc.Payments[2].Number, testPAN2).Replace(string(got))
	if back != in {
		t.Errorf("bytes outside the targets changed:\n%s\n%s", back, in)
	}
	if c := g.filterCount("pay", "card-payments", "applied"); c != 1 {
		t.Errorf("applied count %v", c)
	}

	refused := map[string]string{
		"condition key in another case":   `{"payments":[{"Type":"card","number":"` + testPAN + `"}]}`,
		"condition key repeated":          `{"payments":[{"type":"gift","type":"card","number":"` + testPAN + `"}]}`,
		"condition compared across types": `{"payments":[{"type":0,"number":"` + testPAN + `"}]}`,
		"targeted key in another case":    `{"payments":[{"type":"card","Number":"` + testPAN + `"}]}`,
	}
	for name, body := range refused {
		t.Run(name, func(t *testing.T) {
			up := newUpstream(t, nil)
			g := newGateway(t, parseRoutes(t, queryRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
			failClosed(t, g, up, 422, "/pay", "application/json", strings.NewReader(body), nil)
		})
	}
}
