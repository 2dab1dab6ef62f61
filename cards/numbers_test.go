package cards

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// offNumbers is a numbers index that indexes nothing: the Handler of a
// gateway before the index existed.
type offNumbers struct{}

func (offNumbers) Claim(context.Context, string, string) error  { return nil }
func (offNumbers) Add(context.Context, string, string) error    { return nil }
func (offNumbers) Remove(context.Context, string, string) error { return nil }

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

// recordReads is the bbolt store whose Get calls are counted: the
// records the numbers index reads.
type recordReads struct {
	*boltstore.Store
	gets atomic.Int64
}

func (s *recordReads) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, aliases)
}

// countedNumbers gives e's Handler a numbers index whose record reads are
// counted, and returns it with the counter.
func countedNumbers(t *testing.T, e *env) (*vault.Numbers, *recordReads) {
	t.Helper()
	kr, err := vault.OpenKeyring(context.Background(), e.bolt, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	reads := &recordReads{Store: e.bolt}
	numbers := vault.NewNumbers(reads, e.bolt, kr)
	opts := e.opts
	opts.Numbers = numbers
	if e.h, err = New(e.bolt, e.vault, fakeGuard{}, opts); err != nil {
		t.Fatal(err)
	}
	return numbers, reads
}

// TestCardCreationTellsNothingOfOtherAccountsNumbers: creating a card
// indexed its number as a provisioning checks a token PAN (Claim): the
// index's other entries of the number, any account's, were read from the
// store, and an entry of a deleted card removed (a write). So a create of
// a number another account's card holds, or held, did more work than one
// of a number no one holds: an account that can create cards could time
// its creates to learn whether another merchant on the gateway has a
// customer's card (or once had). Seen failing first (one read of the other
// account's record). A create now only adds its entry; the entries are
// read where the gateway chooses nothing, on a token service's answer.
// Another account's token PAN given as a card number is accepted, as any
// number held elsewhere is: refusing it would be that oracle.
func TestCardCreationTellsNothingOfOtherAccountsNumbers(t *testing.T) {
	e, _ := tspEnv(t)
	_, reads := countedNumbers(t, e)
	card := func(pan string) string { return `"pan":"` + pan + `","cvc":"737","exp_month":4,"exp_year":2030` }
	a, _ := e.create(card("4111111111111111"), pci)
	tokenA := e.provisioned(a)
	gone, _ := e.create(card("5555555555554444"), pci)
	if code, body := e.doNoContent("DELETE", "/cards/"+gone, ntw, pci); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	for _, c := range []struct{ what, pan string }{
		{"a number no one holds", "4012888888881881"},
		{"another account's card number", "4111111111111111"},
		{"another account's token PAN", tokenA},
		{"a deleted card's number", "5555555555554444"},
	} {
		before := reads.gets.Load()
		e.create(card(c.pan), pci, acctB)
		if n := reads.gets.Load() - before; n != 0 {
			t.Errorf("creating a card of %s read %d times from the numbers' records: what another account holds shows in the create's work", c.what, n)
		}
	}
}

// TestDeletedCardsLeaveNoNumbersBehind: a card's number was indexed at
// each create (Add) and its entry kept when the card, or its network
// token, was deleted; since Add no longer reads (and so no longer cleans)
// the number's other entries, an account that created and deleted cards
// grew the index by one entry per create for good, and the next Claim of
// such a number read every one of them and removed each with its own
// write. A delete now removes the entry of the alias it deletes.
func TestDeletedCardsLeaveNoNumbersBehind(t *testing.T) {
	e, _ := tspEnv(t)
	ctx := context.Background()
	numbers, reads := countedNumbers(t, e)
	const pan = "4111111111111111"
	deleteCard := func(id string) {
		t.Helper()
		if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != http.StatusNoContent {
			t.Fatalf("delete: %d %s", code, body)
		}
	}
	for range 3 {
		id, _ := e.create(`"pan":"`+pan+`","cvc":"737","exp_month":4,"exp_year":2030`, pci)
		deleteCard(id)
	}
	id, _ := e.create(`"pan":"`+pan+`","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	token := e.provisioned(id)
	deleteCard(id)
	// What the index holds of each number: a Claim reads the records of
	// the number's other entries, if any.
	for _, c := range []struct{ what, number string }{
		{"the card number of four deleted cards", pan},
		{"the token PAN of a deleted card's token", token},
	} {
		before := reads.gets.Load()
		if err := numbers.Claim(ctx, c.number, "probe-"+c.what); err != nil {
			t.Fatalf("%s: Claim = %v; want no live holder", c.what, err)
		}
		if n := reads.gets.Load() - before; n != 0 {
			t.Errorf("%s: the numbers index still holds entries of deleted aliases (a Claim read %d times)", c.what, n)
		}
	}
}
