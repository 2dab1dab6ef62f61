package routes

import (
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes/rewrite"
)

const networkTokenRoute = `routes:
  - id: psp
    direction: outbound
    host: api.psp.example
    filters:
      - id: pay
        operation: network_token
        fallback: pan
        transaction_type: card_on_file
        targets:
          - {json: card.number, role: card}
          - {json: card.exp_month, role: exp_month}
          - {json: card.exp_year, role: exp_year}
          - {json: card.cryptogram, role: cryptogram}
          - {json: card.eci, role: eci}
          - {json: card.cvc, role: cvc}
`

func TestNetworkTokenFilterLoads(t *testing.T) {
	set, err := Parse([]byte(networkTokenRoute), "r.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := set.Routes[0].Filters[0]
	if f.Operation != rewrite.NetworkToken || !f.Fallback || f.TransactionType != "card_on_file" ||
		f.Program == nil || f.Targets[3].Role != "cryptogram" {
		t.Fatalf("filter %+v", f)
	}
	if lg := set.Routes[0].LeakGuard; lg != LeakBlock {
		t.Fatalf("leak_guard of a network_token route = %s, want block", lg)
	}
	logged, err := Parse([]byte(strings.Replace(networkTokenRoute, "host: api.psp.example", "host: api.psp.example\n    leak_guard: log", 1)), "r.yaml", Options{})
	if err != nil || logged.Routes[0].LeakGuard != LeakLog {
		t.Fatalf("an explicit leak_guard is kept: %v", err)
	}
	def, err := Parse([]byte(strings.NewReplacer("        fallback: pan\n", "", "        transaction_type: card_on_file\n", "").Replace(networkTokenRoute)), "r.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f := def.Routes[0].Filters[0]; f.Fallback || f.TransactionType != "" {
		t.Fatalf("defaults: %+v", f)
	}
}

func TestNetworkTokenFilterProblems(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"inbound", "direction: outbound\n    host: api.psp.example", "direction: inbound\n    host: api.psp.example\n    upstream: http://127.0.0.1:1", "outbound requests only"},
		{"response phase", "operation: network_token", "operation: network_token\n        phase: response", "outbound requests only"},
		{"bad fallback", "fallback: pan", "fallback: cvc", `fallback "cvc"`},
		{"bad transaction type", "transaction_type: card_on_file", "transaction_type: moto", `transaction_type "moto"`},
		{"no role", "{json: card.eci, role: eci}", "{json: card.eci}", "role goes with network_token"},
		{"role on reveal", "operation: network_token\n        fallback: pan\n        transaction_type: card_on_file", "operation: reveal", "role goes with network_token"},
		{"unknown role", "role: eci}", "role: pin}", `role "pin"`},
		{"no card", "{json: card.number, role: card}", "{json: card.number, role: eci}", "twice"},
		{"fallback on reveal", "operation: network_token\n        fallback: pan\n        transaction_type: card_on_file\n        targets:\n          - {json: card.number, role: card}\n          - {json: card.exp_month, role: exp_month}\n          - {json: card.exp_year, role: exp_year}\n          - {json: card.cryptogram, role: cryptogram}\n          - {json: card.eci, role: eci}\n          - {json: card.cvc, role: cvc}",
			"operation: reveal\n        fallback: pan\n        targets:\n          - {json: card.number}", "go with operation network_token"},
	} {
		src := strings.Replace(networkTokenRoute, tc.from, tc.to, 1)
		if src == networkTokenRoute {
			t.Fatalf("%s: the replacement did not apply", tc.name)
		}
		_, err := Parse([]byte(src), "r.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
