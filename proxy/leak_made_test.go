package proxy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// sibling returns a card number other than p with p's first 6 and last 4
// digits, Luhn-valid: what an FPE_SIX_T_FOUR alias of p looks like.
func sibling(t *testing.T, p, middle string) string {
	t.Helper()
	for d := '0'; d <= '9'; d++ {
		s := p[:6] + middle[:len(middle)-1] + string(d) + p[len(p)-4:]
		if s != p && pan.Valid(s) {
			return s
		}
	}
	t.Fatal("no sibling")
	return ""
}

// TestLeakGuardMadeAliasesAdversarial: the made-alias shortcut lets
// through only the exact aliases this exchange's filters made: a card in
// the query string, a card that looks like the made alias (same first 6
// and last 4, Luhn-valid), a value whose alias was made by an earlier
// exchange sent in the clear are refused; an alias made by an earlier
// exchange is an alias (the vault says so), and so is the made alias in
// another spelling; in redact mode the card is masked and the made alias
// kept.
func TestLeakGuardMadeAliasesAdversarial(t *testing.T) {
	const doc = `routes:
  - id: fpeblock
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: card-fpe
        operation: redact
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
  - id: fperedact
    direction: inbound
    host: "*"
    path_prefix: /redact
    upstream: {{UP}}
    leak_guard: redact
    filters:
      - id: card-fpe
        operation: redact
        targets: [{json: card.number, format: FPE_SIX_T_FOUR}]
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	send := func(path, body string) (int, received) {
		t.Helper()
		before := len(up.requests())
		resp, b := g.do(t, "POST", path, "application/json", strings.NewReader(body), nil)
		reqs := up.requests()
		if resp.StatusCode != 200 {
			if len(reqs) != before {
				t.Fatalf("a refused request (%d %s) reached the upstream", resp.StatusCode, b)
			}
			return resp.StatusCode, received{}
		}
		if len(reqs) != before+1 {
			t.Fatalf("upstream got %d requests, want %d", len(reqs), before+1)
		}
		return resp.StatusCode, reqs[len(reqs)-1]
	}
	aliasIn := func(r received) string {
		t.Helper()
		var m struct {
			Card struct {
				Number string `json:"number"`
			} `json:"card"`
		}
		if err := json.Unmarshal(r.Body, &m); err != nil || !pan.Valid(m.Card.Number) || m.Card.Number == testPAN {
			t.Fatalf("upstream body %s: want an FPE alias in card.number (%v)", r.Body, err)
		}
		return m.Card.Number
	}

	code, r := send("/block/pay", `{"card":{"number":"`+testPAN+`"}}`)
	if code != 200 {
		t.Fatalf("one made alias: %d", code)
	}
	made := aliasIn(r)
	look := sibling(t, testPAN, "987654")
	if look == made {
		look = sibling(t, testPAN, "123456")
	}
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"a card in the query", "/block/pay?ref=" + testPAN2, `{"card":{"number":"` + testPAN + `"}}`, 422},
		{"a card that looks like the made alias", "/block/pay", `{"card":{"number":"` + testPAN + `"},"note":"` + look + `"}`, 422},
		{"the value of an earlier exchange's alias in the clear", "/block/pay", `{"card":{"number":"` + testPAN2 + `"},"note":"` + testPAN + `"}`, 422},
		{"an earlier exchange's alias", "/block/pay", `{"card":{"number":"` + testPAN2 + `"},"note":"` + made + `"}`, 200},
		{"the made alias in another spelling", "/block/pay", `{"card":{"number":"` + testPAN + `"},"note":"\u003` + strings.Join(strings.Split(made, ""), `\u003`) + `"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := send(tc.path, tc.body); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
		})
	}

	t.Run("redact mode", func(t *testing.T) {
		code, r := send("/redact/pay", `{"card":{"number":"`+testPAN+`"},"note":"`+testPAN2+`"}`)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		if got := aliasIn(r); got != made {
			t.Errorf("card.number = %s, want the made alias kept", got)
		}
		if bytes.Contains(r.Body, []byte(testPAN2)) || !bytes.Contains(r.Body, []byte(pan.Mask(testPAN2))) {
			t.Errorf("the card beside the made alias is not masked: %s", r.Body)
		}
	})
}
