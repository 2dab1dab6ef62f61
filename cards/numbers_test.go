package cards

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// offNumbers is a numbers index that indexes nothing: the Handler of a
// gateway before the index existed.
type offNumbers struct{}

func (offNumbers) Claim(context.Context, string, string) error { return nil }
func (offNumbers) Add(context.Context, string, string) error   { return nil }

// wantOtherAccountsNumbersRefused: each number of account A's card a (its
// card number and its token PAN, tokenA) answered by the token service to
// a provisioning of account B's card b is refused without naming account
// A, and card a keeps its token.
func wantOtherAccountsNumbersRefused(t *testing.T, e *env, sim *scriptedTSP, a, tokenA, b string) {
	t.Helper()
	for _, c := range []struct{ name, answer string }{
		{"another account's token PAN", tokenA},
		{"another account's card number", "4111111111111111"},
	} {
		sim.script(func(s *scriptedTSP) { s.tokenPAN = c.answer })
		r := e.do("POST", "/cards/"+b+"/network-tokens", "", ntw, pci, acctB)
		wantTokenServiceError(t, c.name, r.code, r.body, c.answer, "ACTaccountA", a)
		if r := e.do("GET", "/cards/"+b+"?include=network_tokens", "", pci, acctB); strings.Contains(string(r.body), `"network_tokens"`) &&
			strings.Contains(string(r.body), c.answer) {
			t.Errorf("%s: card B has the number as its token: %s", c.name, r.body)
		}
	}
	sim.script(func(s *scriptedTSP) { s.tokenPAN = "" })
	if tok := e.tokenOf(a); tok == nil || tok["network_token"] != tokenA || tok["state"] != "active" {
		t.Fatalf("card A's token after B's refused provisionings: %v", tok)
	}
	if r := e.do("POST", "/cards/"+a+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci); r.code != http.StatusOK {
		t.Fatalf("card A's cryptogram: %d %s", r.code, r.body)
	}
}

// TestTokenServiceAnsweringAnotherAccountsNumberIsRefused: a token
// service answering account B's provisioning with account A's token PAN
// or card number is refused (502 token_service_unavailable, card B left
// without a token, account A named nowhere), as the same numbers of B's
// own are. Seen failing before the numbers index: only B's vault was asked,
// and B's card took A's token PAN (or A's card number) as its token.
// Once A's card is deleted (its numbers leave the vault) the number is no
// one's and B's card may be given it.
func TestTokenServiceAnsweringAnotherAccountsNumberIsRefused(t *testing.T) {
	e, sim := tspEnv(t)
	a, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	b, _ := e.create(`"pan":"4012888888881881","cvc":"737","exp_month":4,"exp_year":2030`, pci, acctB)
	tokenA := e.provisioned(a)
	wantOtherAccountsNumbersRefused(t, e, sim, a, tokenA, b)
	if code, body := e.doNoContent("DELETE", "/cards/"+a, ntw, pci); code != http.StatusNoContent {
		t.Fatalf("delete card A: %d %s", code, body)
	}
	sim.script(func(s *scriptedTSP) { s.tokenPAN = "4111111111111111" })
	r := e.do("POST", "/cards/"+b+"/network-tokens", "", ntw, pci, acctB)
	if r.code != http.StatusOK || attrsOf(t, r.doc)["network_token"] != "4111111111111111" {
		t.Fatalf("card B's provisioning with the number of a deleted card: %d %s", r.code, r.body)
	}
}

// TestNumbersIndexIsBuiltOverCardsStoredBefore: cards and tokens stored
// by a gateway without the numbers index are indexed by IndexNumbers, and
// their numbers are then refused to another account's card.
func TestNumbersIndexIsBuiltOverCardsStoredBefore(t *testing.T) {
	e, sim := tspEnvWith(t, Options{Numbers: offNumbers{}})
	a, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	b, _ := e.create(`"pan":"4012888888881881","cvc":"737","exp_month":4,"exp_year":2030`, pci, acctB)
	tokenA := e.provisioned(a)
	ctx := context.Background()
	if ok, err := e.numbers.Indexed(ctx); ok || err != nil {
		t.Fatalf("Indexed before the build: %v %v", ok, err)
	}
	if err := IndexNumbers(ctx, e.bolt, e.numbers); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.numbers.Indexed(ctx); !ok || err != nil {
		t.Fatalf("Indexed after the build: %v %v", ok, err)
	}
	opts := e.opts
	opts.Numbers = e.numbers
	h, err := New(e.bolt, e.vault, fakeGuard{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	wantOtherAccountsNumbersRefused(t, e, sim, a, tokenA, b)
}
