package cards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// redactHook is the vault, running after once, after its first Redact.
type redactHook struct {
	Vault
	after func()
}

func (r *redactHook) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	toks, err := r.Vault.Redact(ctx, reqs)
	if f := r.after; f != nil {
		r.after = nil
		f()
	}
	return toks, err
}

// TestSharedAliasSurvivesADeleteDuringACreate: with duplicate detection
// off, gateway A creates a second card of a number while gateway B (same
// store and vault) deletes the first one, between A's redaction of the
// number (which returns the shared pan_alias) and A's write of its card.
// The new card must keep a revealable pan_alias.
func TestSharedAliasSurvivesADeleteDuringACreate(t *testing.T) {
	for _, off := range []bool{true, false} {
		t.Run(map[bool]string{true: "detection off", false: "detection on"}[off], func(t *testing.T) {
			sharedAliasDuringDelete(t, off)
		})
	}
}

func sharedAliasDuringDelete(t *testing.T, off bool) {
	e, s, w := dupSetup(t)
	s.set("ACTaccountA", AccountSettings{NetworkTokens: true, DuplicateDetectionOff: off})
	const p = "4111111111111111"
	id1, _ := e.create(`"pan":"` + p + `","exp_month":4,"exp_year":2031`)
	gatewayB := e.h
	hook := &redactHook{Vault: e.vault}
	a, err := New(e.store, hook, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), TSP: e.sim, Settings: s, Duplicates: w})
	if err != nil {
		t.Fatal(err)
	}
	hook.after = func() {
		e.h = gatewayB
		if code, _ := e.doNoContent("DELETE", "/cards/"+id1); code != 204 {
			t.Errorf("DELETE on gateway B: %d", code)
		}
		e.h = a
	}
	e.h = a
	id2, r := e.create(`"pan":"`+p+`","exp_month":4,"exp_year":2031`, pci)
	alias := attrsOf(t, r.doc)["pan_alias"].(string)
	e.h = gatewayB
	if err := e.revealAs(alias); err != nil {
		t.Fatalf("card %s made during the delete of %s: its pan_alias: %v", id2, id1, err)
	}
	if got := e.cardAttrs(id2, pci)["pan"]; got != p {
		t.Fatalf("card %s: pan %v", id2, got)
	}
}

// raceVault is a gateway's vault that runs hooks at the steps of the
// race: afterRedact once after the next Redact, beforeDelete[alias] once
// before that alias's Delete.
type raceVault struct {
	Vault
	mu           sync.Mutex
	afterRedact  func()
	beforeDelete map[string]func()
}

func (v *raceVault) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	toks, err := v.Vault.Redact(ctx, reqs)
	v.mu.Lock()
	f := v.afterRedact
	v.afterRedact = nil
	v.mu.Unlock()
	if f != nil {
		f()
	}
	return toks, err
}

func (v *raceVault) Delete(ctx context.Context, alias string) error {
	v.mu.Lock()
	f := v.beforeDelete[alias]
	delete(v.beforeDelete, alias)
	v.mu.Unlock()
	if f != nil {
		f()
	}
	return v.Vault.Delete(ctx, alias)
}

// raceGateways are two Handlers on one store (gatewayStores), each with
// its raceVault, and the account's settings.
type raceGateways struct {
	*gateways
	va, vb   *raceVault
	settings *mutableSettings
}

func newRaceGateways(t *testing.T, open gatewayStore) *raceGateways {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	sa, sb, va, vb := open(t, clk.Now)
	g := &raceGateways{gateways: &gateways{t: t, reader: sa}, va: &raceVault{Vault: va},
		vb:       &raceVault{Vault: vb, beforeDelete: map[string]func(){}},
		settings: &mutableSettings{m: map[string]AccountSettings{gwAccount: {NetworkTokens: true}}}}
	sim := tsp.NewSimulator(bytes.Repeat([]byte{6}, 32))
	mk := func(st Store, v Vault) *Handler {
		h, err := New(st, v, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: bytes.Repeat([]byte{9}, 32),
			Now: clk.Now, Logger: obstest.Logger(t), TSP: sim, Settings: g.settings})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	g.a, g.b = mk(sa, g.va), mk(sb, g.vb)
	return g
}

// create posts card number p to h; want is the status expected.
func (g *raceGateways) create(h *Handler, p string, want int) (id, alias string) {
	g.t.Helper()
	code, body := g.serve(h, "POST", "/cards", cardBody(`"pan":"`+p+`","exp_month":4,"exp_year":2031`))
	if code != want {
		g.t.Fatalf("create: %d %s; want %d", code, body, want)
	}
	var doc struct {
		Data struct {
			ID         string
			Attributes struct {
				PANAlias string `json:"pan_alias"`
			}
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		g.t.Fatal(err)
	}
	return doc.Data.ID, doc.Data.Attributes.PANAlias
}

// checkNumber: card id answers its number p on both gateways, and the
// pan_alias it shows is the stored one.
func (g *raceGateways) checkNumber(id, p string) {
	g.t.Helper()
	for name, h := range map[string]*Handler{"A": g.a, "B": g.b} {
		code, body := g.serve(h, "GET", "/cards/"+id, "")
		if code != http.StatusOK {
			g.t.Fatalf("GET card %s on gateway %s: %d %s", id, name, code, body)
		}
		var doc struct {
			Data struct {
				Attributes struct {
					PAN      string `json:"pan"`
					PANAlias string `json:"pan_alias"`
				}
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			g.t.Fatal(err)
		}
		if doc.Data.Attributes.PAN != p {
			g.t.Fatalf("card %s on gateway %s: its number is not the one stored", id, name)
		}
		if stored := g.stored(id).PANAlias; doc.Data.Attributes.PANAlias != stored {
			g.t.Fatalf("card %s shows pan_alias %s, stored %s", id, doc.Data.Attributes.PANAlias, stored)
		}
	}
}

// TestSharedAliasRaceOnTwoGateways: gateway A creates a card of a number
// while gateway B deletes the account's last other card of it, on one
// store (PostgreSQL with two pools and two vault services, one bbolt file,
// one memory store), with duplicate detection off and on, in both orders:
// B's delete between A's redaction and A's PutCard (A's re-check finds the
// alias gone), and A's whole create between B's look-up of the cards that
// use the alias and B's delete of it (B's re-check finds A's card). The
// new card must answer its number on both gateways afterwards.
func TestSharedAliasRaceOnTwoGateways(t *testing.T) {
	const p = "4111111111111111"
	for _, st := range gatewayStores {
		for _, off := range []bool{true, false} {
			detection := map[bool]string{true: "detection off", false: "detection on"}[off]
			t.Run(st.name+"/"+detection+"/delete during create", func(t *testing.T) {
				g := newRaceGateways(t, st.open)
				g.settings.set(gwAccount, AccountSettings{NetworkTokens: true, DuplicateDetectionOff: off})
				id1, _ := g.create(g.b, p, http.StatusCreated)
				g.va.afterRedact = func() {
					if code, body := g.serve(g.b, "DELETE", "/cards/"+id1, ""); code != http.StatusNoContent {
						t.Errorf("DELETE on gateway B: %d %s", code, body)
					}
				}
				id2, _ := g.create(g.a, p, http.StatusCreated)
				g.checkNumber(id2, p)
			})
			t.Run(st.name+"/"+detection+"/create during delete", func(t *testing.T) {
				g := newRaceGateways(t, st.open)
				// The card B deletes was made with detection off (with it on,
				// its bare index entry makes A's PutCard wait for its removal,
				// which comes after the alias's delete); the account then has
				// detection as the subtest says.
				g.settings.set(gwAccount, AccountSettings{NetworkTokens: true, DuplicateDetectionOff: true})
				id1, alias := g.create(g.b, p, http.StatusCreated)
				g.settings.set(gwAccount, AccountSettings{NetworkTokens: true, DuplicateDetectionOff: off})
				var id2, told string
				g.vb.beforeDelete[alias] = func() { id2, told = g.create(g.a, p, http.StatusCreated) }
				if code, body := g.serve(g.b, "DELETE", "/cards/"+id1, ""); code != http.StatusNoContent {
					t.Fatalf("DELETE on gateway B: %d %s", code, body)
				}
				if id2 == "" {
					t.Fatal("the create did not run during the delete")
				}
				if told != alias {
					t.Fatalf("the create answered pan_alias %s, not the shared %s: it did not race", told, alias)
				}
				g.checkNumber(id2, p)
				if now := g.stored(id2).PANAlias; now == alias {
					t.Fatalf("card %s still has the deleted alias", id2)
				}
			})
		}
	}
}

// racingInUse is the vault's InUse (AliasUse, a vault.InUseRecheck) with
// during run once after AliasInUse answered, before the vault deletes the
// alias.
type racingInUse struct {
	*AliasUse
	mu     sync.Mutex
	during func()
}

func (u *racingInUse) AliasInUse(ctx context.Context, account, alias string, value []byte) (bool, error) {
	used, err := u.AliasUse.AliasInUse(ctx, account, alias, value)
	u.mu.Lock()
	f := u.during
	u.during = nil
	u.mu.Unlock()
	if f != nil {
		f()
	}
	return used, err
}

// flaggedAdmission refuses every persistent value of one client, as the
// abuse guard refuses a client flagged for enumeration.
type flaggedAdmission struct{ client string }

func (a flaggedAdmission) Admit(ctx context.Context, values [][]byte, _ []bool, _ int) error {
	if len(values) > 0 && vault.ActorFrom(ctx).Client == a.client {
		return &vault.ThrottleError{RetryAfter: time.Hour, Limit: "enumeration"}
	}
	return nil
}

// TestVaultAPIDeleteDuringACreateOnAnotherGateway: a client deletes a
// persistent alias through the vault API (vault.Delete) on gateway B
// while gateway A creates a card of its number: A's whole create runs
// between the vault's in-use check (no card yet) and its delete, so A's
// re-check still finds the alias and answers it. The vault's re-check
// (AliasUse.AliasDeleted) must give the card its number back, although the
// client is flagged by the abuse limits (its own Redact is refused).
func TestVaultAPIDeleteDuringACreateOnAnotherGateway(t *testing.T) {
	const p = "4111111111111111"
	for _, st := range gatewayStores {
		for _, off := range []bool{true, false} {
			t.Run(st.name+"/"+map[bool]string{true: "detection off", false: "detection on"}[off], func(t *testing.T) {
				clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
				sa, sb, va, _ := st.open(t, clk.Now)
				fpKey := bytes.Repeat([]byte{9}, 32)
				use, err := NewAliasUse(sb, fpKey)
				if err != nil {
					t.Fatal(err)
				}
				ru := &racingInUse{AliasUse: use}
				aud := &switchAuditor{}
				vol := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
				t.Cleanup(func() { vol.Close() })
				kr, err := vault.OpenKeyring(context.Background(), sb.(vault.Store), bytes.Repeat([]byte{7}, 32))
				if err != nil {
					t.Fatal(err)
				}
				vb, err := vault.New(sb.(vault.Store), vol, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour,
					Now: clk.Now, DefaultAccount: gwAccount, InUse: ru, Auditor: aud,
					Admission: flaggedAdmission{client: "ACHflagged"}})
				if err != nil {
					t.Fatal(err)
				}
				settings := fixedSettings{gwAccount: {DuplicateDetectionOff: off}}
				mk := func(st Store, v Vault) *Handler {
					h, err := New(st, v, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: fpKey, Now: clk.Now,
						Logger: obstest.Logger(t), Settings: settings})
					if err != nil {
						t.Fatal(err)
					}
					return h
				}
				g := &raceGateways{gateways: &gateways{t: t, reader: sa, a: mk(sa, va), b: mk(sb, vb)}}
				use.RestoreWith(g.b)

				ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHflagged"), gwAccount)
				toks, err := va.Redact(ctx, []vault.RedactRequest{{Value: p}}) // an earlier message, on A
				if err != nil {
					t.Fatal(err)
				}
				alias := toks[0].Alias
				if _, err := vb.Redact(ctx, []vault.RedactRequest{{Value: p}}); !errors.Is(err, vault.ErrThrottled) {
					t.Fatalf("the flagged client's own redaction on B = %v; want ErrThrottled", err)
				}
				var id, told string
				ru.during = func() { id, told = g.create(g.a, p, http.StatusCreated) }
				if err := vb.Delete(ctx, alias); err != nil {
					t.Fatalf("vault delete: %v", err)
				}
				if id == "" || told != alias {
					t.Fatalf("the create during the delete: card %q told pan_alias %q; want the deleted %s", id, told, alias)
				}
				g.checkNumber(id, p)
				if now := g.stored(id).PANAlias; now == alias {
					t.Fatalf("card %s still has the deleted alias", id)
				}
				if out, err := vb.Reveal(ctx, []string{alias}); err != nil || !errors.Is(out[0].Err, vault.ErrNotFound) {
					t.Fatalf("the deleted alias after the repair: %v %v; want not found", out, err)
				}
			})
		}
	}
}

// TestReissueDuringACreateOnAnotherGateway: the account updater reissues
// card X (gateway B applies it) while gateway A creates a card of X's old
// number: A's whole create runs between B's check that no card uses the
// old alias and B's delete of it. The new card must keep its number.
func TestReissueDuringACreateOnAnotherGateway(t *testing.T) {
	const p = "4111111111111111"
	for _, st := range gatewayStores {
		t.Run(st.name, func(t *testing.T) {
			g := newRaceGateways(t, st.open)
			g.settings.set(gwAccount, AccountSettings{NetworkTokens: true, DuplicateDetectionOff: true})
			id1, alias := g.create(g.b, p, http.StatusCreated)
			var id2, told string
			g.vb.beforeDelete[alias] = func() { id2, told = g.create(g.a, p, http.StatusCreated) }
			if _, err := g.b.Simulate(context.Background(), SimulateRequest{Account: gwAccount, CardID: id1,
				Event: "card-reissued", NewPAN: true}); err != nil {
				t.Fatalf("reissue: %v", err)
			}
			if g.stored(id1).PANAlias == alias {
				t.Fatal("the card was not reissued to a new number")
			}
			if id2 == "" || told != alias {
				t.Fatalf("the create during the reissue: card %q told pan_alias %q; want %s", id2, told, alias)
			}
			g.checkNumber(id2, p)
		})
	}
}

// TestDeleteReadsTheNumberOnlyForTheLastCardOfIt: DELETE /cards/{id}
// reads the card number before it deletes the pan_alias (an audited
// reveal by the client, purpose restore, then the audited delete), and
// only when the card is the last that uses the alias: deleting one of two
// cards of a number (detection off) neither reads nor deletes it.
func TestDeleteReadsTheNumberOnlyForTheLastCardOfIt(t *testing.T) {
	e, s, _ := dupSetup(t)
	s.set("ACTaccountA", AccountSettings{DuplicateDetectionOff: true})
	const p = "4111111111111111"
	id1, r := e.create(`"pan":"`+p+`","exp_month":4,"exp_year":2031`, pci)
	alias := attrsOf(t, r.doc)["pan_alias"].(string)
	id2, _ := e.create(`"pan":"`+p+`","exp_month":4,"exp_year":2031`, pci)
	uses := func() (reveals, deletes []vault.AuditEvent) {
		e.audit.mu.Lock()
		defer e.audit.mu.Unlock()
		for _, ev := range e.audit.events {
			if slices.Contains(ev.Aliases, alias) {
				switch ev.Op {
				case vault.AuditReveal:
					reveals = append(reveals, ev)
				case vault.AuditDelete:
					deletes = append(deletes, ev)
				}
			}
		}
		return reveals, deletes
	}
	before, _ := uses()
	if code, _ := e.doNoContent("DELETE", "/cards/"+id1); code != 204 {
		t.Fatalf("DELETE %s: %d", id1, code)
	}
	if rv, del := uses(); len(rv) != len(before) || len(del) != 0 {
		t.Fatalf("deleting one of two cards of the number: %d reveals (before %d), %d deletes of its alias", len(rv), len(before), len(del))
	}
	if code, _ := e.doNoContent("DELETE", "/cards/"+id2); code != 204 {
		t.Fatalf("DELETE %s: %d", id2, code)
	}
	rv, del := uses()
	if len(rv) != len(before)+1 || len(del) != 1 {
		t.Fatalf("deleting the last card of the number: %d new reveals, %d deletes; want 1 and 1", len(rv)-len(before), len(del))
	}
	last := rv[len(rv)-1]
	if last.Actor.Client != "ACHtestclient" || last.Actor.Purpose != vault.PurposeRestore || last.Outcome != vault.OutcomeOK {
		t.Fatalf("the reveal before the delete: %+v", last)
	}
	if del[0].Actor.Client != "ACHtestclient" || del[0].Outcome != vault.OutcomeOK {
		t.Fatalf("the delete: %+v", del[0])
	}
	if err := e.revealAs(alias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the alias after the last card's delete: %v", err)
	}
}
