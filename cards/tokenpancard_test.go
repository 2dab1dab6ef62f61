package cards

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/vault"
)

// TestCardWhoseNumberIsANetworkTokenPANKeepsIt: a card stored with a
// number that is another card's network token PAN (a PCI client is shown
// the token PAN, and wallets hand merchants token PANs as card numbers)
// gets the token's vault alias as its pan_alias (the vault gives one
// persistent alias per value and account). Retiring the token — its
// DELETE, its card's DELETE, a token-deleted event from the network —
// deleted that alias: with the vault wired as serve wires it (AliasUse
// refuses to delete a card's pan_alias) every one of them failed (500)
// after the token was already deleted at the token service, so the
// token's card could never be deleted (its PAN and CVC stayed in the
// vault, the card answering 404 from its deleting mark); without that
// check the other card lost its number for good (409 card_data_gone).
// Now the alias stays in the vault as that card's, and leaves it with the
// card.
func TestCardWhoseNumberIsANetworkTokenPANKeepsIt(t *testing.T) {
	retire := map[string]func(t *testing.T, e *deleteEnv, id string){
		"DELETE of the token": func(t *testing.T, e *deleteEnv, id string) {
			if code, body := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw); code != http.StatusNoContent {
				t.Fatalf("delete the network token: %d %s", code, body)
			}
		},
		"DELETE of its card": func(t *testing.T, e *deleteEnv, id string) {},
		"token-deleted event": func(t *testing.T, e *deleteEnv, id string) {
			if _, err := e.h.Simulate(context.Background(), SimulateRequest{Account: "ACTaccountA", CardID: id,
				Event: "token-deleted"}); err != nil {
				t.Fatalf("token-deleted event: %v", err)
			}
		},
	}
	for name, retire := range retire {
		t.Run(name, func(t *testing.T) {
			e := deleteSetup(t)
			e.t = t
			a, _ := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":2030`, pci)
			r := e.do("POST", "/cards/"+a+"/network-tokens", "", pci, ntw)
			if r.code != http.StatusOK {
				t.Fatalf("provision: %d %s", r.code, r.body)
			}
			tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
			b, cr := e.create(`"pan":"`+tokenPAN+`","exp_month":4,"exp_year":2030`, pci)
			bAlias := attrsOf(t, cr.doc)["pan_alias"].(string)

			retire(t, e, a)
			if code, body := e.doNoContent("DELETE", "/cards/"+a, ntw); code != http.StatusNoContent {
				t.Fatalf("delete the token's card: %d %s", code, body)
			}
			if r := e.do("GET", "/cards/"+a, "", pci); r.code != http.StatusNotFound {
				t.Fatalf("the deleted card: %d %s", r.code, r.body)
			}
			if err := e.sim.Update(context.Background(), tokenPAN, "4", "2030"); !errors.Is(err, tsp.ErrDeleted) {
				t.Errorf("the token at the token service: %v, want deleted", err)
			}

			r = e.do("GET", "/cards/"+b, "", pci)
			if r.code != http.StatusOK || attrsOf(t, r.doc)["pan"] != tokenPAN {
				t.Fatalf("the card of the token PAN lost its number: %d %s", r.code, r.body)
			}
			bAlias = attrsOf(t, r.doc)["pan_alias"].(string)
			if code, body := e.doNoContent("DELETE", "/cards/"+b, ntw); code != http.StatusNoContent {
				t.Fatalf("delete the card of the token PAN: %d %s", code, body)
			}
			if _, err := e.reveal("ACTaccountA", bAlias); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("the number outlived its last card: %v", err)
			}
		})
	}
}

// TestTokenWhoseAliasTheVaultAPIDeletedIsDeletedAtTheTokenService: a
// client of the account stores the token PAN in the vault (it gets the
// token's own alias, one per value and account) and deletes that alias
// through the vault API, as it could before AliasUse knew token aliases
// (a token missing from the token alias index, tokenaliases.go). The
// token's DELETE then answered 204 and marked it deleted while the token
// stayed live at the token service: the token service was only ever asked
// with the token PAN, which no one had any more. It is now deleted by its
// reference (tsp.Token.Ref).
func TestTokenWhoseAliasTheVaultAPIDeletedIsDeletedAtTheTokenService(t *testing.T) {
	for _, how := range []string{"DELETE of the token", "DELETE of its card"} {
		t.Run(how, func(t *testing.T) {
			e := deleteSetup(t)
			e.t = t
			a, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
			r := e.do("POST", "/cards/"+a+"/network-tokens", "", pci, ntw)
			if r.code != http.StatusOK {
				t.Fatalf("provision: %d %s", r.code, r.body)
			}
			tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
			ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
			toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID,
				Storage: vault.StoragePersistent}})
			if err != nil || toks[0].Created {
				t.Fatalf("the token PAN in the vault: %v %+v (want the token's own alias)", err, toks)
			}
			if err := e.vault.Delete(ctx, toks[0].Alias); !errors.Is(err, vault.ErrInUse) {
				t.Fatalf("the vault API's delete of an indexed token's alias = %v, want ErrInUse", err)
			}
			if err := e.store.RemoveTokenAlias(ctx, "ACTaccountA", toks[0].Alias); err != nil {
				t.Fatal(err)
			}
			if err := e.vault.Delete(ctx, toks[0].Alias); err != nil {
				t.Fatalf("the vault API's delete: %v", err)
			}
			path := "/cards/" + a + "/network-tokens"
			if how == "DELETE of its card" {
				path = "/cards/" + a
			}
			if code, body := e.doNoContent("DELETE", path, ntw); code != http.StatusNoContent {
				t.Fatalf("%s: %d %s", how, code, body)
			}
			if err := e.sim.Update(context.Background(), tokenPAN, "4", "2030"); !errors.Is(err, tsp.ErrDeleted) {
				t.Errorf("the token at the token service after %s: %v, want deleted", how, err)
			}
		})
	}
}
