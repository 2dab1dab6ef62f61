package cards

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
)

// racingTSP is the simulator whose Provision first runs during (another
// gateway's request while the token is being made) and remembers the token
// PAN it made.
type racingTSP struct {
	*tsp.Simulator
	during func()
	mu     sync.Mutex
	made   []string
}

func (r *racingTSP) Provision(ctx context.Context, pan, m, y string) (tsp.Token, error) {
	if r.during != nil {
		r.during()
	}
	tok, err := r.Simulator.Provision(ctx, pan, m, y)
	r.mu.Lock()
	r.made = append(r.made, tok.PAN)
	r.mu.Unlock()
	return tok, err
}

// aliasRecorder is the vault, remembering the aliases Redact made.
type aliasRecorder struct {
	Vault
	mu      sync.Mutex
	aliases []string
}

func (a *aliasRecorder) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	toks, err := a.Vault.Redact(ctx, reqs)
	a.mu.Lock()
	for _, t := range toks {
		if t.Created { // not the provisioning's check of its alias (keepTokenAlias)
			a.aliases = append(a.aliases, t.Alias)
		}
	}
	a.mu.Unlock()
	return toks, err
}

// TestProvisionedTokenIsUndoneWhenTheCardIsGone: the background
// provisioning (gateway A) reads a card and has a token made while
// DELETE /cards/{id} on gateway B (same store and vault, its own card
// locks) removes the card. A's write of the token then fails; the token
// must not outlive it: its token PAN is not left revealable in the vault
// and the token service has deleted it (no cryptogram).
func TestProvisionedTokenIsUndoneWhenTheCardIsGone(t *testing.T) {
	e := setup(t) // network tokens off: the card is stored without a token
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)
	gatewayB := e.h

	sim := tsp.NewSimulator(bytes.Repeat([]byte{6}, 32))
	racer := &racingTSP{Simulator: sim}
	v := &aliasRecorder{Vault: e.vault}
	a, err := New(e.store, v, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), TSP: racer, Settings: fixedSettings{"ACTaccountA": {NetworkTokens: true}}})
	if err != nil {
		t.Fatal(err)
	}
	racer.during = func() {
		racer.during = nil
		e.h = gatewayB
		if code, _ := e.doNoContent("DELETE", "/cards/"+id); code != 204 {
			t.Errorf("DELETE on gateway B: %d", code)
		}
	}
	// The step's error (the card is gone) only makes the next run look at
	// the card again, which is then skipped.
	_, _, _ = a.ProvisionStored(context.Background(), "ACTaccountA", "", 10)
	if len(racer.made) != 1 || len(v.aliases) != 1 {
		t.Fatalf("tokens made %d, aliases made %d", len(racer.made), len(v.aliases))
	}
	out, err := e.vault.Reveal(vault.WithAccount(context.Background(), "ACTaccountA"), v.aliases)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err == nil {
		t.Errorf("the token PAN of a deleted card's token is still in the vault under %s", v.aliases[0])
	}
	if _, err := sim.Cryptogram(context.Background(), racer.made[0], 1, tsp.UseEcommerce, e.clk.Now()); !errors.Is(err, tsp.ErrDeleted) {
		t.Errorf("the token of a deleted card still makes cryptograms: %v", err)
	}
}

// TestTwoGatewaysProvisioningOneCardKeepOneToken: the background
// provisioning on gateway A has the token service make a token for a card
// while POST …/network-tokens on gateway B (same store, its own card
// locks) gives the card a token first. A's compare-and-swap write loses;
// re-reading, A finds the card's token and deletes its own (token service
// and vault): the card keeps exactly B's token, which works.
func TestTwoGatewaysProvisioningOneCardKeepOneToken(t *testing.T) {
	e := setup(t) // network tokens off: the card is stored without a token
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)
	sim := tsp.NewSimulator(bytes.Repeat([]byte{6}, 32))
	racer := &racingTSP{Simulator: sim}
	v := &aliasRecorder{Vault: e.vault}
	gateway := func() *Handler {
		h, err := New(e.store, v, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
			Logger: obstest.Logger(t), TSP: racer, Settings: fixedSettings{"ACTaccountA": {NetworkTokens: true}}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	a, b := gateway(), gateway()
	racer.during = func() {
		racer.during = nil
		e.h = b
		if r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw); r.code != 200 {
			t.Errorf("provisioning on gateway B: %d %s", r.code, r.body)
		}
	}
	next, n, err := a.ProvisionStored(context.Background(), "ACTaccountA", "", 10)
	if err != nil || n != 0 || next != "" {
		t.Fatalf("ProvisionStored on gateway A = %q, %d, %v; want nothing provisioned", next, n, err)
	}
	if len(racer.made) != 2 || len(v.aliases) != 2 {
		t.Fatalf("tokens made %d, aliases made %d; want 2 each", len(racer.made), len(v.aliases))
	}
	b2, _, _ := e.store.GetCard(context.Background(), "ACTaccountA", id)
	rec, err := decodeRecord(b2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Tokens) != 1 || rec.Tokens[0].PANAlias != v.aliases[0] || rec.Tokens[0].State != TokenActive {
		t.Fatalf("card tokens %+v; want only gateway B's, active", rec.Tokens)
	}
	ctx := context.Background()
	// racer.made[0] is B's token (made inside A's Provision call), [1] A's.
	if _, err := sim.Cryptogram(ctx, racer.made[1], 1, tsp.UseEcommerce, e.clk.Now()); !errors.Is(err, tsp.ErrDeleted) {
		t.Errorf("gateway A's extra token still makes cryptograms: %v", err)
	}
	out, err := e.vault.Reveal(vault.WithAccount(ctx, "ACTaccountA"), []string{v.aliases[1]})
	if err != nil || out[0].Err == nil {
		t.Errorf("gateway A's extra token PAN is still in the vault: %v %v", err, out)
	}
	v2, err := b.Payment(vault.WithAccount(vault.WithClient(ctx, "ACHproxy"), "ACTaccountA"), "ACTaccountA", id, false, "")
	if err != nil || !v2.Token || v2.PAN != racer.made[0] {
		t.Errorf("payment with the kept token = token %v, %v", v2.Token, err)
	}
}
