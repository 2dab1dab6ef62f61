package cards

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
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
