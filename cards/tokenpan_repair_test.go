package cards

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
)

// stepVault is the vault with hooks run once: afterDelete after the next
// Delete, beforeRedact and afterRedact before and after the next Redact
// (armed by a test step).
type stepVault struct {
	Vault
	mu           sync.Mutex
	afterDelete  func()
	beforeRedact func()
	afterRedact  func()
}

// take returns the hook *f and disarms it.
func (v *stepVault) take(f *func()) func() {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := *f
	*f = nil
	return g
}

// arm sets the hook *f.
func (v *stepVault) arm(f *func(), g func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	*f = g
}

func (v *stepVault) Delete(ctx context.Context, alias string) error {
	err := v.Vault.Delete(ctx, alias)
	if f := v.take(&v.afterDelete); f != nil {
		f()
	}
	return err
}

func (v *stepVault) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	if f := v.take(&v.beforeRedact); f != nil {
		f()
	}
	toks, err := v.Vault.Redact(ctx, reqs)
	if f := v.take(&v.afterRedact); f != nil {
		f()
	}
	return toks, err
}

// putStepStore is the card store running beforePut once, before the next
// PutCard.
type putStepStore struct {
	*memStore
	mu        sync.Mutex
	beforePut func()
}

func (s *putStepStore) PutCard(ctx context.Context, account, id, fp string, record []byte) (string, error) {
	s.mu.Lock()
	f := s.beforePut
	s.beforePut = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return s.memStore.PutCard(ctx, account, id, fp, record)
}

// TestTokenPANCardRepairedTwiceKeepsItsAliasAsItsOwn forces the
// interleaving TestTokenPANCardRacesTheTokensRetirement caught now and
// then under load, for each of the token's retirements: a create of a
// card whose number is the token PAN redacts it (the token's alias, not
// made by the create: the account's), the retirement finds no card of
// the number and deletes the alias, the create stores its card with the
// deleted alias, and both the create's check (keepPANAlias) and the
// retirement's look-up (restoreUsers) repair the card: one makes a new
// alias of the number, the other finds it and points the card at it
// first, as the account's. The repair that made it then lost its write,
// and the card kept the alias as the account's: the card's DELETE left
// the token PAN in the vault with no card using it. Both orders (the
// create's check makes the alias, or the retirement's repair does).
func TestTokenPANCardRepairedTwiceKeepsItsAliasAsItsOwn(t *testing.T) {
	retirements := []struct {
		name string
		run  func(e *deleteEnv, card string) int
	}{
		{"token DELETE", func(e *deleteEnv, card string) int {
			code, _ := e.doNoContent("DELETE", "/cards/"+card+"/network-tokens", ntw)
			return code
		}},
		{"card DELETE", func(e *deleteEnv, card string) int {
			code, _ := e.doNoContent("DELETE", "/cards/"+card, ntw)
			return code
		}},
		{"token-deleted event", func(e *deleteEnv, card string) int {
			if _, err := e.h.Simulate(context.Background(), SimulateRequest{Account: "ACTaccountA", CardID: card,
				Event: "token-deleted"}); err != nil {
				e.t.Errorf("token-deleted event: %v", err)
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		}},
	}
	for _, rt := range retirements {
		for _, createMakes := range []bool{true, false} {
			name := rt.name + map[bool]string{true: ", the create's check makes the alias",
				false: ", the retirement's repair makes the alias"}[createMakes]
			t.Run(name, func(t *testing.T) { tokenPANCardRepairedTwice(t, rt.run, createMakes) })
		}
	}
}

func tokenPANCardRepairedTwice(t *testing.T, retire func(e *deleteEnv, card string) int, createMakes bool) {
	e, v, st := stepSetup(t)
	a, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	r := e.do("POST", "/cards/"+a+"/network-tokens", "", pci, ntw)
	if r.code != http.StatusOK {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	tokenPAN := attrsOf(t, r.doc)["network_token"].(string)

	atPut, deleted, checking, repaired := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	// The create, having redacted the token PAN (the token's alias),
	// waits before storing its card until the retirement deleted that
	// alias.
	st.beforePut = func() { close(atPut); <-deleted }
	var id string
	var cr resp
	done := make(chan struct{})
	go func() {
		defer close(done)
		id, cr = e.create(`"pan":"`+tokenPAN+`","exp_month":4,"exp_year":2030`, pci)
	}()
	<-atPut
	// The retirement deletes the alias (no card of the number yet), lets
	// the create store its card and waits until the create's check runs;
	// its own look-up (restoreUsers) then finds the card.
	v.arm(&v.afterDelete, func() {
		if createMakes {
			// The create's check makes the new alias and waits; the
			// retirement's repair finds it and writes first.
			v.arm(&v.afterRedact, func() { close(checking); <-repaired })
			close(deleted)
			<-checking
			return
		}
		// The create's check waits before its redaction; the
		// retirement's repair makes the new alias, then waits until the
		// create (its check finding that alias and writing first) is done.
		v.arm(&v.beforeRedact, func() { close(checking); <-repaired })
		close(deleted)
		<-checking
		v.arm(&v.afterRedact, func() { close(repaired); <-done })
	})
	if code := retire(e, a); code != http.StatusNoContent {
		t.Fatalf("retirement: %d", code)
	}
	if createMakes {
		close(repaired)
	}
	<-done
	if cr.code != http.StatusCreated {
		t.Fatalf("create of the token PAN: %d %s", cr.code, cr.body)
	}
	if got := e.cardAttrs(id, pci)["pan"]; got != tokenPAN {
		t.Fatalf("the card of the token PAN lost its number: %v", got)
	}
	for _, c := range []string{id, a} {
		if code, body := e.doNoContent("DELETE", "/cards/"+c, ntw); code != http.StatusNoContent && code != http.StatusNotFound {
			t.Fatalf("delete %s: %d %s", c, code, body)
		}
	}
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil || !toks[0].Created {
		t.Fatalf("an alias of the token PAN was left in the vault with no card: %v", err)
	}
}

// stepSetup is deleteSetup with the Handler's vault a stepVault and its
// store a putStepStore (AliasUse reads the store itself).
func stepSetup(t *testing.T) (*deleteEnv, *stepVault, *putStepStore) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	fpKey := bytes.Repeat([]byte{9}, 32)
	mem := newMemStore()
	use, err := NewAliasUse(mem, fpKey)
	if err != nil {
		t.Fatal(err)
	}
	a := &switchAuditor{}
	svc := newTestVault(t, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: clk.Now,
		DefaultAccount: "ACTaccountA", InUse: use, Auditor: a})
	sim := tsp.NewSimulator(bytes.Repeat([]byte{3}, 32))
	v, st := &stepVault{Vault: svc}, &putStepStore{memStore: mem}
	h, err := New(st, v, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: fpKey, Now: clk.Now,
		Logger: obstest.Logger(t), TSP: sim})
	if err != nil {
		t.Fatal(err)
	}
	return &deleteEnv{env: &env{t: t, h: h, vault: svc, clk: clk, store: mem}, sim: sim, audit: a}, v, st
}
