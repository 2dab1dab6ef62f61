package cards

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

func (s *memStore) DeleteCard(_ context.Context, account, id, fp string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := account + "/" + id
	if _, ok := s.cards[k]; !ok {
		return false, nil
	}
	delete(s.cards, k)
	delete(s.updates, k)
	if s.fingers[account+"/"+fp] == id {
		delete(s.fingers, account+"/"+fp)
	}
	return true, nil
}

func (s *memStore) CardsByFingerprint(_ context.Context, account, fp string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.fingers {
		if k == account+"/"+fp || strings.HasPrefix(k, account+"/"+fp+vault.CardIndexSep) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = s.fingers[k]
	}
	return ids, nil
}

func (s *memStore) ListCards(_ context.Context, account, after string, limit int) ([]string, [][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for k := range s.cards {
		if id, ok := strings.CutPrefix(k, account+"/"); ok && id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = ids[:min(len(ids), limit)]
	recs := make([][]byte, len(ids))
	for i, id := range ids {
		recs[i] = slices.Clone(s.cards[account+"/"+id])
	}
	return ids, recs, nil
}

// newTestVault is a vault on two in-memory stores whose expiry follows o.Now.
func newTestVault(t *testing.T, o vault.Options) *vault.Service {
	t.Helper()
	p := memstore.New(memstore.Options{Now: o.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: o.Now, SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// deleteEnv is setup with the vault refusing to delete a card's PAN alias
// (AliasUse, as the server wires it), an audit trail and a simulator the
// test can ask.
type deleteEnv struct {
	*env
	sim   *tsp.Simulator
	audit *switchAuditor
}

func deleteSetup(t *testing.T) *deleteEnv {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	fpKey := bytes.Repeat([]byte{9}, 32)
	st := newMemStore()
	use, err := NewAliasUse(st, fpKey)
	if err != nil {
		t.Fatal(err)
	}
	a := &switchAuditor{}
	svc := newTestVault(t, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: clk.Now,
		DefaultAccount: "ACTaccountA", InUse: use, Auditor: a})
	sim := tsp.NewSimulator(bytes.Repeat([]byte{3}, 32))
	h, err := New(st, svc, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: fpKey, Now: clk.Now,
		Logger: obstest.Logger(t), TSP: sim})
	if err != nil {
		t.Fatal(err)
	}
	return &deleteEnv{env: &env{t: t, h: h, vault: svc, clk: clk, store: st}, sim: sim, audit: a}
}

// revealAs reveals alias as the test account's client.
func (e *deleteEnv) revealAs(alias string) error {
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
	out, err := e.vault.Reveal(ctx, []string{alias})
	if err != nil {
		return err
	}
	return out[0].Err
}

// TestDeleteCardErasesItEverywhere: DELETE /cards/{id} deletes the active
// network token at the token service, the values behind the card's
// aliases (PAN, CVC, token PAN) from the vault, each audited with the
// client as the actor, and the card with its updates; everything answers
// 404 afterwards and the same card can be created again.
func TestDeleteCardErasesItEverywhere(t *testing.T) {
	e := deleteSetup(t)
	id, cr := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	ca := attrsOf(t, cr.doc)
	panAlias, cvcAlias := ca["pan_alias"].(string), ca["cvc_alias"].(string)
	if r := e.do("PATCH", "/cards/"+id, cardBody(`"exp_month":5`), pci); r.code != 200 {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", pci, ntw)
	if r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
	rec, err := e.h.loadAny(&request{ctx: context.Background(), p: principalA()}, id)
	if err != nil {
		t.Fatal(err)
	}
	tokenAlias := rec.Tokens[0].PANAlias
	for _, a := range []string{panAlias, cvcAlias, tokenAlias} {
		if err := e.revealAs(a); err != nil {
			t.Fatalf("before the delete, reveal %s: %v", a, err)
		}
	}
	// The vault API cannot delete the PAN alias while the card exists.
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
	if err := e.vault.Delete(ctx, panAlias); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("vault delete of a card's PAN alias = %v, want ErrInUse", err)
	}
	e.audit.mu.Lock()
	e.audit.events = nil
	e.audit.mu.Unlock()

	code, body := e.doNoContent("DELETE", "/cards/"+id, pci, "X-Test-Client: ACHdeleter")
	if code != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	for _, a := range []string{panAlias, cvcAlias, tokenAlias} {
		if err := e.revealAs(a); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("after the delete, reveal of a card alias = %v, want ErrNotFound", err)
		}
	}
	if _, err := e.sim.Cryptogram(context.Background(), tokenPAN, 1, tsp.UseEcommerce, e.clk.Now()); !errors.Is(err, tsp.ErrDeleted) {
		t.Errorf("the token service still makes cryptograms for the token: %v", err)
	}
	e.audit.mu.Lock()
	var deleted []string
	for _, ev := range e.audit.events {
		if ev.Op == vault.AuditDelete && ev.Outcome == vault.OutcomeOK && ev.Actor.Client == "ACHdeleter" {
			deleted = append(deleted, ev.Aliases...)
		}
	}
	e.audit.mu.Unlock()
	slices.Sort(deleted)
	want := []string{panAlias, cvcAlias, tokenAlias}
	slices.Sort(want)
	if !slices.Equal(deleted, want) {
		t.Errorf("audited deletions = %v, want %v", deleted, want)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/cards/" + id}, {"PATCH", "/cards/" + id}, {"DELETE", "/cards/" + id},
		{"POST", "/cards/" + id + "/network-tokens"}, {"POST", "/cards/" + id + "/cryptogram"},
	} {
		body := ""
		if c.method == "PATCH" {
			body = cardBody(`"exp_month":6`)
		}
		if r := e.do(c.method, c.path, body, pci, ntw); r.code != http.StatusNotFound {
			t.Errorf("%s %s after the delete: %d %s", c.method, c.path, r.code, r.body)
		}
	}
	if ups, _ := e.store.CardUpdates(context.Background(), "ACTaccountA", id); len(ups) != 0 {
		t.Errorf("the card's updates stay: %d", len(ups))
	}
	// The same card number makes a new card (201, not 303 to the old one).
	id2, r2 := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	if id2 == id || attrsOf(t, r2.doc)["pan_alias"] == panAlias {
		t.Errorf("the card created again reuses the deleted one: %s", r2.body)
	}
}

func principalA() auth.Principal {
	return auth.Principal{ClientID: "ACHtestclient", Account: "ACTaccountA"}
}

// TestDeleteCardIsScopedToItsAccount: another account's client gets 404
// and the card stays whole.
func TestDeleteCardIsScopedToItsAccount(t *testing.T) {
	e := deleteSetup(t)
	id, cr := e.create(`"pan":"5555555555554444","cvc":"737","exp_month":4,"exp_year":2030`)
	if code, body := e.doNoContent("DELETE", "/cards/"+id, "X-Test-Account: ACTaccountB"); code != http.StatusNotFound {
		t.Fatalf("DELETE from another account: %d %s", code, body)
	}
	if code, _ := e.doNoContent("DELETE", "/cards/"+id, "X-Test-Scopes: cards:read"); code != http.StatusForbidden {
		t.Fatalf("DELETE without cards:write: %d", code)
	}
	if err := e.revealAs(attrsOf(t, cr.doc)["pan_alias"].(string)); err != nil {
		t.Fatalf("the PAN is gone after refused deletes: %v", err)
	}
	if r := e.do("GET", "/cards/"+id, ""); r.code != 200 {
		t.Fatalf("GET after refused deletes: %d", r.code)
	}
}

// TestDeleteCardFinishesAnInterruptedDelete: a DELETE that failed part way
// (the audit log refused the alias deletions: 503) leaves a card that
// answers 404 to reads and is finished by the next DELETE.
func TestDeleteCardFinishesAnInterruptedDelete(t *testing.T) {
	e := deleteSetup(t)
	id, cr := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`)
	panAlias := attrsOf(t, cr.doc)["pan_alias"].(string)
	e.audit.mu.Lock()
	e.audit.fail = true
	e.audit.mu.Unlock()
	if code, body := e.doNoContent("DELETE", "/cards/"+id); code != http.StatusServiceUnavailable ||
		bytes.Contains(body, []byte("4111")) {
		t.Fatalf("DELETE with the audit log down: %d %s", code, body)
	}
	if r := e.do("GET", "/cards/"+id, ""); r.code != http.StatusNotFound {
		t.Fatalf("GET of a half-deleted card: %d", r.code)
	}
	e.audit.mu.Lock()
	e.audit.fail = false
	e.audit.mu.Unlock()
	if code, body := e.doNoContent("DELETE", "/cards/"+id); code != http.StatusNoContent {
		t.Fatalf("second DELETE: %d %s", code, body)
	}
	if err := e.revealAs(panAlias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("PAN alias after the finished delete: %v", err)
	}
	if _, ok, _ := e.store.GetCard(context.Background(), "ACTaccountA", id); ok {
		t.Fatal("the card record stays")
	}
}

// TestDeleteNetworkTokenDeletesItsPAN: DELETE /cards/{id}/network-tokens
// removes the token PAN from the vault (its alias answers 404) and the
// token service refuses cryptograms for it; the card stays.
func TestDeleteNetworkTokenDeletesItsPAN(t *testing.T) {
	e := deleteSetup(t)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", pci, ntw)
	if r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
	rec, _ := e.h.loadAny(&request{ctx: context.Background(), p: principalA()}, id)
	alias := rec.Tokens[0].PANAlias
	if code, body := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw); code != http.StatusNoContent {
		t.Fatalf("delete token: %d %s", code, body)
	}
	if err := e.revealAs(alias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the token PAN is still in the vault: %v", err)
	}
	if _, err := e.sim.Cryptogram(context.Background(), tokenPAN, 9, tsp.UseEcommerce, e.clk.Now()); !errors.Is(err, tsp.ErrDeleted) {
		t.Fatalf("token service: %v", err)
	}
	if r := e.do("GET", "/cards/"+id+"?include=network_tokens", "", pci); r.code != 200 ||
		bytes.Contains(r.body, []byte(tokenPAN)) || bytes.Contains(r.body, []byte(`"type":"network_tokens"`)) { // neither included nor linked
		t.Fatalf("card after the token delete: %d %s", r.code, r.body)
	}
	// A new token can be provisioned.
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", pci, ntw); r.code != 200 ||
		attrsOf(t, r.doc)["network_token"] == tokenPAN {
		t.Fatalf("provision again: %d %s", r.code, r.body)
	}
}

func (nopVault) Delete(context.Context, string) error { return nil }
