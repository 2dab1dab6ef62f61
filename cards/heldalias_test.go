package cards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// TestReissueAndDuplicatesKeepTheAccountsOwnAlias: the account's UUID
// alias of a number, made through the vault API before the card, stays in
// the vault when a reissue replaces the card's number (it was deleted
// with the old number) and when every duplicate card of the number
// (detection off) is deleted; an alias the cards made still goes with the
// last of them.
func TestReissueAndDuplicatesKeepTheAccountsOwnAlias(t *testing.T) {
	e, _ := tspEnv(t)
	ctx := vault.WithAccount(context.Background(), "ACTaccountA")
	tokenize := func(pan string) string {
		t.Helper()
		toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: pan, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
		if err != nil || !toks[0].Created {
			t.Fatalf("vault API alias of a new number: %v", err)
		}
		return toks[0].Alias
	}

	// Reissue with a new number.
	mine := tokenize("4111111111111111")
	id, r := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	if attrsOf(t, r.doc)["pan_alias"] != mine {
		t.Fatal("the card does not share the account's UUID alias of its number")
	}
	e.provisioned(id)
	if _, err := e.h.Simulate(context.Background(), SimulateRequest{Account: "ACTaccountA", CardID: id,
		Event: "card-reissued", NewPAN: true}); err != nil {
		t.Fatal(err)
	}
	if v, err := e.reveal("ACTaccountA", mine); err != nil || v != "4111111111111111" {
		t.Fatalf("the account's alias of the old number after the reissue: %v", err)
	}
	// The new number was new to the vault: its alias is the card's.
	newAlias := attrsOf(t, e.do("GET", "/cards/"+id, "", pci).doc)["pan_alias"].(string)
	if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if _, err := e.reveal("ACTaccountA", newAlias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the alias the reissue made outlived the card: %v", err)
	}
	if _, err := e.reveal("ACTaccountA", mine); err != nil {
		t.Fatalf("the account's alias after the card's delete: %v", err)
	}

	// Duplicates (detection off) of a number the account tokenized first:
	// the alias outlives them all; of a number new to the vault: it goes
	// with the last of them.
	d, _ := tspEnvWith(t, Options{Settings: fixedSettings{"ACTaccountA": {DuplicateDetectionOff: true}}})
	e = d
	held := tokenize("5555555555554444")
	for _, c := range []struct {
		pan, alias string
		kept       bool
	}{{"5555555555554444", held, true}, {"4012888888881881", "", false}} {
		a, ra := e.create(`"pan":"`+c.pan+`","exp_month":4,"exp_year":2030`, pci)
		b, rb := e.create(`"pan":"`+c.pan+`","exp_month":4,"exp_year":2030`, pci)
		alias := attrsOf(t, ra.doc)["pan_alias"].(string)
		if attrsOf(t, rb.doc)["pan_alias"] != alias || c.alias != "" && alias != c.alias {
			t.Fatalf("duplicates of %s…: aliases differ", c.pan[:6])
		}
		for _, id := range []string{a, b} {
			if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != 204 {
				t.Fatalf("delete: %d %s", code, body)
			}
		}
		_, err := e.reveal("ACTaccountA", alias)
		if c.kept && err != nil {
			t.Errorf("the account's alias after its duplicates' deletes: %v", err)
		}
		if !c.kept && !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("the alias the duplicates made outlived them: %v", err)
		}
	}
}

// TestCardStoredBeforeTheMarkKeepsAnAliasOlderThanIt: a card stored before
// cards recorded who made their pan_alias has no mark; its delete keeps
// the alias when the vault record is older than the card by more than
// legacyAliasMargin (the account made it before the card's create), and
// deletes it otherwise (the card's create made it), as before.
func TestCardStoredBeforeTheMarkKeepsAnAliasOlderThanIt(t *testing.T) {
	e, _ := tspEnv(t)
	ctx := vault.WithAccount(context.Background(), "ACTaccountA")
	legacy := func(id string) {
		t.Helper()
		raw, ok, err := e.h.store.GetCard(ctx, "ACTaccountA", id)
		if err != nil || !ok {
			t.Fatalf("read card: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "pan_alias_origin")
		b, _ := json.Marshal(m)
		if err := e.h.store.ReplaceCard(ctx, "ACTaccountA", id, raw, b); err != nil {
			t.Fatal(err)
		}
	}
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111", Format: vault.FormatUUID,
		Storage: vault.StoragePersistent}})
	if err != nil {
		t.Fatal(err)
	}
	mine := toks[0].Alias
	e.clk.Add(time.Hour)
	old, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	fresh, r := e.create(`"pan":"5555555555554444","exp_month":4,"exp_year":2030`, pci)
	made := attrsOf(t, r.doc)["pan_alias"].(string)
	for _, id := range []string{old, fresh} {
		legacy(id)
		if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != 204 {
			t.Fatalf("delete: %d %s", code, body)
		}
	}
	if v, err := e.reveal("ACTaccountA", mine); err != nil || v != "4111111111111111" {
		t.Fatalf("the account's alias, an hour older than the unmarked card, after its delete: %v", err)
	}
	if _, err := e.reveal("ACTaccountA", made); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the alias an unmarked card's create made outlived it: %v", err)
	}
}

// TestNumberACardMadeLeavesWithTheLastCardAfterAnInterruptedDelete: a
// card's delete that the token service interrupted (502: the card is
// marked deleting, its pan_alias still in the vault) and a card of the
// same number created before the delete is retried (duplicate detection
// off): that create finds the alias in the vault, but the alias is the
// first card's, not the account's, so the number leaves the vault with
// the last of the two cards. Before, the second card took the alias for
// the account's (pan_alias_origin "account") and both deletes kept it:
// the PAN stayed in the vault with no card and nothing of the merchant's
// referencing it.
func TestNumberACardMadeLeavesWithTheLastCardAfterAnInterruptedDelete(t *testing.T) {
	for _, order := range []string{"first card deleted first", "second card deleted first"} {
		t.Run(order, func(t *testing.T) {
			e, sim := tspEnvWith(t, Options{Settings: fixedSettings{"ACTaccountA": {DuplicateDetectionOff: true}}})
			first, r := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
			alias := attrsOf(t, r.doc)["pan_alias"].(string)
			e.provisioned(first)
			sim.script(func(s *scriptedTSP) { s.down = errors.New("token service down") })
			code, body := e.doNoContent("DELETE", "/cards/"+first, ntw, pci)
			wantTokenServiceError(t, "delete while the token service is down", code, body)
			second, r := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
			if attrsOf(t, r.doc)["pan_alias"] != alias {
				t.Fatal("the second card of the number has another pan_alias")
			}
			sim.script(func(s *scriptedTSP) { s.down = nil })
			ids := []string{first, second}
			if order == "second card deleted first" {
				ids = []string{second, first}
			}
			for i, id := range ids {
				if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != 204 {
					t.Fatalf("delete: %d %s", code, body)
				}
				_, err := e.reveal("ACTaccountA", alias)
				if i == 0 && err != nil {
					t.Fatalf("the alias after the delete of one of the two cards: %v", err)
				}
				if i == 1 && !errors.Is(err, vault.ErrNotFound) {
					t.Fatalf("the number the first card's create made outlived both cards: %v", err)
				}
			}
		})
	}
}

// interleavedStore runs a step once, at the start of the next
// CardsByFingerprint call after it is armed: a create looks the number's
// cards up after its redaction and before its PutCard, so the step is a
// request that runs whole between the two.
type interleavedStore struct {
	*boltstore.Store
	mu       sync.Mutex
	step     func()
	putFails bool
}

func (s *interleavedStore) arm(f func()) { s.mu.Lock(); s.step = f; s.mu.Unlock() }

// failPutCard makes the next PutCard fail, as a store that timed out.
func (s *interleavedStore) failPutCard() { s.mu.Lock(); s.putFails = true; s.mu.Unlock() }

func (s *interleavedStore) PutCard(ctx context.Context, account, id, fp string, record []byte) (string, error) {
	s.mu.Lock()
	fail := s.putFails
	s.putFails = false
	s.mu.Unlock()
	if fail {
		return "", fmt.Errorf("store: write timed out: %w", vault.ErrUnavailable)
	}
	return s.Store.PutCard(ctx, account, id, fp, record)
}

func (s *interleavedStore) CardsByFingerprint(ctx context.Context, account, fp string) ([]string, error) {
	s.mu.Lock()
	f := s.step
	s.step = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return s.Store.CardsByFingerprint(ctx, account, fp)
}

// TestCardsCreatedAtOnceOfANewNumberRemoveItWithTheLastOfThem: two
// creates of a number new to the vault at once (duplicate detection off),
// the second one's redaction and look-up of the number's cards both made
// between the first one's redaction and its PutCard: the second finds the
// alias in the vault and no card of it, but the first card's create made
// the alias, so the number leaves the vault with the last of the two
// cards, whether the first card goes by a delete or by a reissue onto
// another number. Before, the second card took the alias for the
// account's (pan_alias_origin "account") and kept it: the PAN stayed in
// the vault after both cards were gone.
func TestCardsCreatedAtOnceOfANewNumberRemoveItWithTheLastOfThem(t *testing.T) {
	for _, first := range []string{"deleted", "reissued"} {
		t.Run("first card "+first, func(t *testing.T) {
			var is *interleavedStore
			e, _ := tspEnvOn(t, Options{Settings: fixedSettings{"ACTaccountA": {DuplicateDetectionOff: true}}},
				func(st *boltstore.Store) Store { is = &interleavedStore{Store: st}; return is })
			const card = `"pan":"4111111111111111","exp_month":4,"exp_year":2030`
			var second string
			var rb resp
			is.arm(func() { second, rb = e.create(card, pci) })
			firstID, ra := e.create(card, pci)
			alias := attrsOf(t, ra.doc)["pan_alias"].(string)
			if second == "" || attrsOf(t, rb.doc)["pan_alias"] != alias {
				t.Fatal("the two cards of the number do not share its alias")
			}
			switch first {
			case "deleted":
				if code, body := e.doNoContent("DELETE", "/cards/"+firstID, ntw, pci); code != 204 {
					t.Fatalf("delete: %d %s", code, body)
				}
			case "reissued":
				e.provisioned(firstID)
				if _, err := e.h.Simulate(context.Background(), SimulateRequest{Account: "ACTaccountA", CardID: firstID,
					Event: "card-reissued", NewPAN: true}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.reveal("ACTaccountA", alias); err != nil {
				t.Fatalf("the alias while the second card has it: %v", err)
			}
			if code, body := e.doNoContent("DELETE", "/cards/"+second, ntw, pci); code != 204 {
				t.Fatalf("delete: %d %s", code, body)
			}
			if _, err := e.reveal("ACTaccountA", alias); !errors.Is(err, vault.ErrNotFound) {
				t.Fatalf("the number the first card's create made outlived both cards: %v", err)
			}
		})
	}
}

// TestCreateThatStoresNoCardLeavesNoNumberBehind: a create whose
// redaction made the card number's alias and that then stores no card —
// it lost the race to a create of the same number (303, duplicate
// detection on) or the store failed (503) — leaves no number nobody will
// delete: the card that won takes the alias as a card's, and a failed
// create's alias leaves the vault, so the retry's card makes it again as
// its own. Before, the card that won, or the retry's, took the alias for
// the account's (pan_alias_origin "account"), and its delete kept the PAN
// in the vault with no card referencing it.
func TestCreateThatStoresNoCardLeavesNoNumberBehind(t *testing.T) {
	const card = `"pan":"4111111111111111","exp_month":4,"exp_year":2030`
	setup := func(t *testing.T) (*env, *interleavedStore) {
		var is *interleavedStore
		e, _ := tspEnvOn(t, Options{}, func(st *boltstore.Store) Store { is = &interleavedStore{Store: st}; return is })
		return e, is
	}
	t.Run("duplicate of a card created meanwhile", func(t *testing.T) {
		e, is := setup(t)
		var won string
		is.arm(func() { won, _ = e.create(card, pci) })
		r := e.do("POST", "/cards", cardBody(card), pci)
		if r.code != 303 || r.hdr.Get("Location") != "/cards/"+won {
			t.Fatalf("the create that lost: %d %s, want 303 to the card that won", r.code, r.body)
		}
		alias := attrsOf(t, e.do("GET", "/cards/"+won, "", pci).doc)["pan_alias"].(string)
		if code, body := e.doNoContent("DELETE", "/cards/"+won, ntw, pci); code != 204 {
			t.Fatalf("delete: %d %s", code, body)
		}
		if _, err := e.reveal("ACTaccountA", alias); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("the number outlived its only card: %v", err)
		}
	})
	t.Run("retry of a create the store failed", func(t *testing.T) {
		e, is := setup(t)
		is.failPutCard()
		r := e.do("POST", "/cards", cardBody(card), pci)
		if r.code != 503 {
			t.Fatalf("create with the store failing: %d %s, want 503", r.code, r.body)
		}
		obstest.AssertNoPAN(t, "failed create", r.body)
		id, cr := e.create(card, pci)
		alias := attrsOf(t, cr.doc)["pan_alias"].(string)
		if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != 204 {
			t.Fatalf("delete: %d %s", code, body)
		}
		if _, err := e.reveal("ACTaccountA", alias); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("the number outlived its only card: %v", err)
		}
	})
}

// TestReissueThatIsNotAppliedLeavesNoNewNumberBehind: a card-reissued
// notification whose new number is stored in the vault (a new alias) but
// that the card then does not take — another gateway marked the card
// deleting between the two — leaves no alias of the new number behind:
// nothing references it and no delete would ever remove it. Before, the
// new PAN stayed in the vault (a later card of that number took it for the
// account's own, so even that card's delete kept it).
func TestReissueThatIsNotAppliedLeavesNoNewNumberBehind(t *testing.T) {
	var is *interleavedStore
	e, _ := tspEnvOn(t, Options{}, func(st *boltstore.Store) Store { is = &interleavedStore{Store: st}; return is })
	ctx := vault.WithAccount(context.Background(), "ACTaccountA")
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	tokenPAN := e.provisioned(id)
	is.arm(func() {
		// Another gateway's DELETE /cards/{id} marks the card (its card
		// locks are its own).
		raw, ok, err := is.Store.GetCard(ctx, "ACTaccountA", id)
		if err != nil || !ok {
			t.Fatalf("read card: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["deleting"] = true
		b, _ := json.Marshal(m)
		if err := is.Store.ReplaceCard(ctx, "ACTaccountA", id, raw, b); err != nil {
			t.Fatal(err)
		}
	})
	const newPAN = "4012888888881881"
	err := tokenEvents{e.h}.TokenEvent(context.Background(), tsp.Event{Type: tsp.EventCardReissued, TokenPAN: tokenPAN,
		Requestor: requestorRef("ACTaccountA", id), NewPAN: newPAN})
	if !errors.Is(err, ErrNoSuchCard) {
		t.Fatalf("reissue of a card marked deleting: %v, want ErrNoSuchCard", err)
	}
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: newPAN, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil {
		t.Fatal(err)
	}
	if !toks[0].Created {
		t.Fatal("the new number of a reissue the card never took is still in the vault")
	}
}

// TestDuplicateOfAnUnmarkedCardKeepsTheAliasTheAccountMadeBefore: a card
// of a number (duplicate detection off) whose other card was stored before
// cards recorded who made their pan_alias, and whose alias the account
// made before that card (older by more than legacyAliasMargin), takes the
// alias for the account's, as the unmarked card's own delete does: the
// alias outlives both cards, whichever goes last. Before, any card of the
// number without the mark counted as the alias's maker, so the new card
// took it for a card's and its delete erased the merchant's alias.
func TestDuplicateOfAnUnmarkedCardKeepsTheAliasTheAccountMadeBefore(t *testing.T) {
	for _, last := range []string{"new card deleted last", "unmarked card deleted last"} {
		t.Run(last, func(t *testing.T) {
			e, _ := tspEnvWith(t, Options{Settings: fixedSettings{"ACTaccountA": {DuplicateDetectionOff: true}}})
			ctx := vault.WithAccount(context.Background(), "ACTaccountA")
			toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111", Format: vault.FormatUUID,
				Storage: vault.StoragePersistent}})
			if err != nil {
				t.Fatal(err)
			}
			mine := toks[0].Alias
			e.clk.Add(time.Hour)
			old, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
			raw, ok, err := e.h.store.GetCard(ctx, "ACTaccountA", old)
			if err != nil || !ok {
				t.Fatalf("read card: %v", err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "pan_alias_origin")
			b, _ := json.Marshal(m)
			if err := e.h.store.ReplaceCard(ctx, "ACTaccountA", old, raw, b); err != nil {
				t.Fatal(err)
			}
			e.clk.Add(time.Hour)
			fresh, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
			ids := []string{old, fresh}
			if last == "unmarked card deleted last" {
				ids = []string{fresh, old}
			}
			for _, id := range ids {
				if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != 204 {
					t.Fatalf("delete: %d %s", code, body)
				}
			}
			if v, err := e.reveal("ACTaccountA", mine); err != nil || v != "4111111111111111" {
				t.Fatalf("the account's alias, made before both cards, after their deletes: %v", err)
			}
		})
	}
}
