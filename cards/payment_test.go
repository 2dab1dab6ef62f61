package cards

import (
	"context"
	"errors"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/vault"
)

// TestPaymentResolvesCardsOfItsAccountOnly: Payment takes a card id or any
// alias of the card's PAN in the account; the token path gives a cryptogram
// the token service verifies and counts on; another account's client, a
// deleted card and a non-card alias are ErrUnknownCard; without a token
// the fallback gives the PAN and CVC, or ErrNoActiveToken.
func TestPaymentResolvesCardsOfItsAccountOnly(t *testing.T) {
	e := deleteSetup(t)
	id, cr := e.create(`"pan":"378282246310005","cvc":"1234","exp_month":7,"exp_year":2031`, pci)
	panAlias := attrsOf(t, cr.doc)["pan_alias"].(string)
	ctxA := vault.WithAccount(vault.WithClient(context.Background(), "ACHproxy"), "ACTaccountA")
	ctxB := vault.WithAccount(vault.WithClient(context.Background(), "ACHproxy"), "ACTaccountB")

	v, err := e.h.Payment(ctxA, "ACTaccountA", id, true, tsp.UseEcommerce)
	if err != nil || v.Token || v.PAN != "378282246310005" || v.CVC != "1234" || v.ExpMonth != "07" || v.ExpYear != "2031" || v.Cryptogram != "" {
		t.Fatalf("fallback: %+v %v", v, err)
	}
	if _, err := e.h.Payment(ctxA, "ACTaccountA", id, false, tsp.UseEcommerce); !errors.Is(err, ErrNoActiveToken) {
		t.Fatalf("no token, no fallback: %v", err)
	}
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw); r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	// An alias of the same PAN made through the vault API resolves the card too.
	other, err := e.vault.Redact(ctxA, []vault.RedactRequest{{Value: "378282246310005", Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	for i, ref := range []string{panAlias, other[0].Alias, id} {
		v, err := e.h.Payment(ctxA, "ACTaccountA", ref, false, tsp.UseCardOnFile)
		if err != nil || !v.Token || v.PAN == "378282246310005" || v.CVC != "" || v.ECI != "07" {
			t.Fatalf("token by %d: %+v %v", i, v, err)
		}
		c := tsp.Cryptogram{ECI: v.ECI, Type: tsp.TypeAEVV, Value: v.Cryptogram}
		if err := e.sim.Verify(v.PAN, c, uint64(i+1), e.clk.Now()); err != nil {
			t.Fatalf("token by %d: cryptogram of counter %d: %v", i, i+1, err)
		}
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		account string
		ref     string
	}{
		{"another account, card id", ctxB, "ACTaccountB", id},
		{"another account, alias", ctxB, "ACTaccountB", panAlias},
		{"not an alias", ctxA, "ACTaccountA", "tok_sandbox_nope"},
	} {
		if _, err := e.h.Payment(tc.ctx, tc.account, tc.ref, true, tsp.UseEcommerce); !errors.Is(err, ErrUnknownCard) {
			t.Errorf("%s: %v, want ErrUnknownCard", tc.name, err)
		}
	}
	if code, _ := e.doNoContent("DELETE", "/cards/"+id); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if _, err := e.h.Payment(ctxA, "ACTaccountA", id, true, tsp.UseEcommerce); !errors.Is(err, ErrUnknownCard) {
		t.Fatalf("deleted card: %v", err)
	}
}

// TestPaymentLosingEveryWriteIsACardConflict: a token payment whose card is
// changed under each of its compare-and-swap tries (another gateway writing
// it all the time) is refused with ErrCardConflict (card_conflict, which the
// outbound proxy answers 409 without calling the processor), not an
// internal error, and no cryptogram is handed out; once the card is quiet
// again the payment goes through.
func TestPaymentLosingEveryWriteIsACardConflict(t *testing.T) {
	e := deleteSetup(t)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":7,"exp_year":2031`, pci)
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw); r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHproxy"), "ACTaccountA")
	st := e.store
	st.stale.Store(true)
	v, err := e.h.Payment(ctx, "ACTaccountA", id, true, tsp.UseEcommerce)
	var pe *PaymentError
	if !errors.Is(err, ErrCardConflict) || !errors.As(err, &pe) || pe.PaymentCode() != "card_conflict" || v != (PaymentValues{}) {
		t.Fatalf("payment while every write loses: %+v %v, want ErrCardConflict and nothing", v, err)
	}
	st.stale.Store(false)
	if v, err := e.h.Payment(ctx, "ACTaccountA", id, true, tsp.UseEcommerce); err != nil || !v.Token || v.Cryptogram == "" {
		t.Fatalf("payment once quiet: %+v %v", v, err)
	}
}

// TestPaymentByAliasNeverFollowsAStaleIndexEntry: when the fingerprint index
// names a card whose record holds another number (an index entry left
// behind, which no store writes but a restored backup or a hand edit could
// leave), a payment by the alias of that number does not pay with the
// other card: ErrUnknownCard, and the alias-in-use check does not see it.
func TestPaymentByAliasNeverFollowsAStaleIndexEntry(t *testing.T) {
	e := deleteSetup(t)
	other, _ := e.create(`"pan":"5555555555554444","cvc":"123","exp_month":7,"exp_year":2031`, pci)
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHproxy"), "ACTaccountA")
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111", Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	st := e.store
	st.mu.Lock()
	st.fingers["ACTaccountA/"+fingerprint(e.h.fpKey, "ACTaccountA", "4111111111111111")] = other
	st.mu.Unlock()
	if v, err := e.h.Payment(ctx, "ACTaccountA", toks[0].Alias, true, tsp.UseEcommerce); !errors.Is(err, ErrUnknownCard) {
		t.Fatalf("payment by the alias of 4111… through a stale entry naming another card: %+v %v", v.Token, err)
	}
	use, err := NewAliasUse(st, e.h.fpKey)
	if err != nil {
		t.Fatal(err)
	}
	if used, err := use.AliasInUse(ctx, "ACTaccountA", toks[0].Alias, []byte("4111111111111111")); used || err != nil {
		t.Fatalf("alias in use through a stale entry: %v %v", used, err)
	}
}
