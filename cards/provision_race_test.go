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
		a.aliases = append(a.aliases, t.Alias)
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
