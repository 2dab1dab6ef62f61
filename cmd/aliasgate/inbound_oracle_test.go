package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// candidates returns n Luhn-valid numbers other than alias with its first
// six and last four digits: the numbers an attacker who knows a card's
// BIN and last four tries to find its FPE alias.
func candidates(alias string, n int) []string {
	var out []string
	b := []byte(alias)
	for i := 0; len(out) < n && i < 1000000; i++ {
		mid := []byte(strings.Repeat("0", 6) + strconv.Itoa(i))
		copy(b[6:len(b)-4], mid[len(mid)-(len(b)-10):])
		if s := string(b); s != alias && pan.Valid(s) {
			out = append(out, s)
		}
	}
	return out
}

// TestLeakGuardIsNoAliasOracle: anyone may post a number to a route whose
// leak guard blocks; the gateway forwards a live alias and refuses any
// other card-like number (422 card_data_leak), so an attacker who knows
// a card's BIN and last four could try its 100,000 FPE candidates and
// learn its alias. The guard's refusals of card-like numbers that are no
// alias are charged to the sender's budget
// (limits.inbound_unknown_numbers); once it is spent every request of the
// sender that carries a card-like number its route's filters did not
// make is answered 429 before the vault is asked, the live alias
// included, so the answer no longer tells a right guess from a wrong one.
// A request without such a number, and one whose number the route's
// filter redacts, still pass.
func TestLeakGuardIsNoAliasOracle(t *testing.T) {
	up := newRecorder(t)
	forwarded := func() int { return len(up.bodies()) }
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: `+up.URL+`
    leak_guard: block
  - id: tokenize
    direction: inbound
    host: "*"
    path_prefix: /tokenize
    upstream: `+up.URL+`
    leak_guard: block
    filters:
      - {id: card, operation: redact, targets: [{json: card.number, format: FPE_SIX_T_FOUR}]}
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_LIMITS_INBOUND_UNKNOWN_NUMBERS": "2", "ALIASGATE_LIMITS_INBOUND_UNKNOWN_BURST": "2"})
	api := createClient(t, env, data, "--name", "api", "--scopes", "aliases:write")
	g := startGateway(t, env, "--data-dir", data)
	alias := createAlias(t, g, api, "4111111111111111", "FPE_SIX_T_FOUR")[0]
	post := func(path, number string) (int, string) {
		status, body := call(t, "POST", g.inbound+path, "application/json", `{"card":{"number":"`+number+`"}}`, nil)
		return status, string(body)
	}

	// A checkout page re-posting the alias it got earlier: forwarded.
	if status, body := post("/checkout", alias); status != 200 {
		t.Fatalf("the live alias: %d %s", status, body)
	}
	guesses := candidates(alias, 4)
	for _, c := range guesses[:2] {
		if status, body := post("/checkout", c); status != 422 || !strings.Contains(body, "card_data_leak") {
			t.Fatalf("a wrong guess: %d %s", status, body)
		}
	}
	before := forwarded()
	aliasStatus, aliasBody := post("/checkout", alias)
	guessStatus, guessBody := post("/checkout", guesses[2])
	if aliasStatus != 429 || guessStatus != 429 || forwarded() != before {
		t.Fatalf("after its budget is spent the sender's live alias answers %d %s and a wrong guess %d %s (%d forwarded): the answer tells them apart",
			aliasStatus, aliasBody, guessStatus, guessBody, forwarded()-before)
	}
	if aliasBody != guessBody || !strings.Contains(aliasBody, "too_many_unknown_numbers") {
		t.Errorf("the answers differ: %s and %s", aliasBody, guessBody)
	}
	if v, ok := metricValue(t, g, `aliasgate_abuse_refused_total{limit="inbound_unknown_numbers"}`); !ok || v != 2 {
		t.Errorf("refusals counted: %v (%v), want 2", v, ok)
	}
	for _, b := range []string{aliasBody, guessBody} {
		if strings.Contains(b, alias) || strings.Contains(b, guesses[2]) {
			t.Errorf("the refusal names the number: %s", b)
		}
	}
	// The sender's other traffic goes on: a body without a card-like
	// number, and a card number the route's filter turns into an alias.
	if status, body := call(t, "POST", g.inbound+"/checkout", "application/json", `{"order":"A-17"}`, nil); status != 200 {
		t.Errorf("a request without a card number: %d %s", status, body)
	}
	if status, body := post("/tokenize", "5555555555554444"); status != 200 {
		t.Errorf("a card number the route redacts: %d %s", status, body)
	}
}
