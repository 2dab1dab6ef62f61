package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestInboundDeepKeyVariantsNeverReachUpstream: through the real inbound
// gateway (leak guard off, so the JSON walk alone decides, and block), a
// card number under the targeted keys card.number and card.sk at the end
// of a path 1 to 128 containers deep (objects for 64 levels then arrays,
// or alternating), the keys spelled exactly, with escapes, in other letter
// cases and with the Kelvin sign and the long s that fold to 'k' and 's'
// (first and last byte past ASCII), beside untargeted objects and arrays
// nested to MaxDepth-1 levels or one more (skipContainer's stack of open
// containers, its carry from one word to the other): an exact spelling is
// redacted (200, the upstream gets the body around the value as sent), a
// case variant is refused 422 duplicate_key, a body deeper than MaxDepth
// 400 body_too_deep (whichever the walk meets first), and the upstream
// never sees the card number in any spelling.
func TestInboundDeepKeyVariantsNeverReachUpstream(t *testing.T) {
	up := newUpstream(t, nil)
	var doc strings.Builder
	doc.WriteString("routes:\n")
	type level struct {
		levels int
		kind   func(k int) bool // true: an object (member "a"), false: an array
	}
	var shapes []level
	for _, n := range []int{1, 30, 62, 63, 64, 65, 125, 126, 127, 128} {
		shapes = append(shapes, level{n, func(k int) bool { return k < 64 }}, level{n, func(k int) bool { return k%2 == 0 }})
	}
	for i, s := range shapes {
		var comps []string
		for k := 0; k < s.levels; k++ {
			if s.kind(k) {
				comps = append(comps, "a")
			} else {
				comps = append(comps, "#")
			}
		}
		prefix := strings.Join(comps, ".")
		for _, guard := range []string{"off", "block"} {
			fmt.Fprintf(&doc, `  - id: deep%d%s
    direction: inbound
    host: "*"
    path_prefix: /deep%d/%s
    upstream: {{UP}}
    leak_guard: %s
    filters:
      - id: card
        match: {content_type: json}
        operation: redact
        targets:
          - {json: "%s.card.number", format: FPE_SIX_T_FOUR}
          - {json: "%s.card.sk", format: FPE_SIX_T_FOUR}
`, i, guard, i, guard, guard, prefix, prefix)
		}
	}
	g := newGateway(t, parseRoutes(t, doc.String(), up.URL), nil, gwOptions{})

	type spelling struct {
		card, leaf string
		variant    bool
	}
	var spellings []spelling
	for _, c := range []string{"card", `\u0063ard`, `car\u0064`} {
		for _, l := range []string{"number", "sk", `numbe\u0072`, `\u0073k`, `s\u006b`} {
			spellings = append(spellings, spelling{c, l, false})
		}
	}
	for _, c := range []string{"CARD", "Card", "cArD", `\u0043ard`, `CAR\u0044`} {
		spellings = append(spellings, spelling{c, "number", true})
	}
	for _, l := range []string{"NUMBER", "Number", `numbe\u0052`, "SK", "Sk", "sK", "s\u212a", `s\u212A`, "\u017fk", `\u017fk`, `\u0053k`, "\u017f\u212a", `\u017F\u212a`} {
		spellings = append(spellings, spelling{"card", l, true})
	}
	outcomes := map[string]int{}
	pans := []string{testPAN, `4111111111111\u0031\u0031\u0031`}
	for i, s := range shapes {
		for _, guard := range []string{"off", "block"} {
			for j, sp := range spellings {
				var open, close strings.Builder
				for k := 0; k < s.levels; k++ {
					if s.kind(k) {
						open.WriteString(`{"a":`)
					} else {
						open.WriteString(`[`)
					}
				}
				for k := s.levels - 1; k >= 0; k-- {
					if s.kind(k) {
						close.WriteString(`}`)
					} else {
						close.WriteString(`]`)
					}
				}
				pan := pans[j%len(pans)]
				// Beside card, untargeted objects and arrays nested to
				// MaxDepth-1 levels (read by skipContainer, up to 126 in
				// one container), or one more, holding the card number:
				// the walk refuses the body.
				pad, padDeeper := "", j%3 == 2
				if s.levels < 126 {
					m := 127 - s.levels
					if padDeeper {
						m++
					}
					var po, pc strings.Builder
					for q := 0; q < m; q++ {
						if q%3 == 0 {
							po.WriteString(`{"p":`)
							pc.WriteString("}")
						} else {
							po.WriteString("[")
							pc.WriteString("]")
						}
					}
					cl := []byte(pc.String())
					slices.Reverse(cl)
					pad = `"pad":` + po.String() + map[bool]string{false: `"x"`, true: `"` + testPAN + `"`}[padDeeper] + string(cl) + ","
				}
				body := open.String() + `{` + pad + `"` + sp.card + `":{"` + sp.leaf + `":"` + pan + `","cvc":"737"}}` + close.String()
				before := len(up.requests())
				resp, reply := g.do(t, "POST", fmt.Sprintf("/deep%d/%s", i, guard), "application/json", strings.NewReader(body), nil)
				want, reason := http.StatusOK, ""
				switch {
				case s.levels+1 > 128: // the object holding card is 128 levels down
					want, reason = http.StatusBadRequest, "body_too_deep"
				case pad != "" && padDeeper:
					want, reason = http.StatusBadRequest, "body_too_deep"
				case sp.variant && sp.card != "card": // met before card's object
					want, reason = http.StatusUnprocessableEntity, "duplicate_key"
				case s.levels+2 > 128: // card's object is 128 levels down
					want, reason = http.StatusBadRequest, "body_too_deep"
				case sp.variant:
					want, reason = http.StatusUnprocessableEntity, "duplicate_key"
				}
				if resp.StatusCode != want || !strings.Contains(string(reply), reason) {
					t.Fatalf("%d levels, guard %s, %q.%q: %d %s; want %d %s", s.levels, guard, sp.card, sp.leaf, resp.StatusCode, reply, want, reason)
				}
				outcomes[reason]++
				got := up.requests()[before:]
				if want != http.StatusOK {
					if len(got) != 0 {
						t.Fatalf("%d levels, guard %s, %q.%q: refused, and the upstream got %d requests", s.levels, guard, sp.card, sp.leaf, len(got))
					}
					continue
				}
				if len(got) != 1 {
					t.Fatalf("%d levels, guard %s, %q.%q: the upstream got %d requests", s.levels, guard, sp.card, sp.leaf, len(got))
				}
				assertNoPAN(t, "the upstream's body", got[0].Body)
				assertNoDecodedPAN(t, got[0].Body)
				if !bytes.HasPrefix(got[0].Body, []byte(open.String()+"{"+pad)) || !bytes.HasSuffix(got[0].Body, []byte(`","cvc":"737"}}`+close.String())) {
					t.Fatalf("%d levels, %q.%q: the upstream got %.200q…, want the body around the value as sent", s.levels, sp.card, sp.leaf, got[0].Body)
				}
			}
		}
	}
	for _, r := range []string{"", "duplicate_key", "body_too_deep"} {
		if outcomes[r] < 50 {
			t.Errorf("outcomes %v: fewer than 50 of %q", outcomes, r)
		}
	}
	t.Logf("outcomes (\"\": redacted): %v", outcomes)
}

// assertNoDecodedPAN fails when a string of the JSON body, escapes read,
// holds testPAN.
func assertNoDecodedPAN(t *testing.T, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("the upstream got a body that is not JSON: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if strings.Contains(v, testPAN) {
				t.Fatalf("the upstream got the card number, escaped: %.300q", body)
			}
		case map[string]any:
			for k, e := range v {
				walk(k)
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
}
