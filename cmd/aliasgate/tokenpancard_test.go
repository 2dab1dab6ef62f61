package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenPANStoredAsACardSurvivesTheTokensDelete: a PCI client is shown
// a card's network token PAN, and a card stored with that number gets the
// token's vault alias as its pan_alias (one per value and account).
// Deleting the network token then answered 500 (the vault refused to
// delete a card's pan_alias) after the token service had deleted the
// token, and the token's card could never be deleted (every DELETE 500).
// The alias now stays as the other card's: the token and its card are
// deleted, and the other card keeps its number until it is deleted too.
func TestTokenPANStoredAsACardSurvivesTheTokensDelete(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"
	type doc struct {
		Data struct {
			ID         string
			Attributes struct {
				PAN          string `json:"pan"`
				NetworkToken string `json:"network_token"`
			}
		}
	}
	create := func(pan string) doc {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/cards", ja,
			`{"data":{"attributes":{"pan":"`+pan+`","exp_month":4,"exp_year":2030}}}`, bearer)
		var d doc
		if status != 201 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("create: %d %s", status, body)
		}
		return d
	}
	a := create("4111111111111111")
	status, body := call(t, "POST", g.inbound+"/cards/"+a.Data.ID+"/network-tokens", "", "", bearer)
	var tok doc
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.Data.Attributes.NetworkToken == "" {
		t.Fatalf("provision: %d %s", status, body)
	}
	b := create(tok.Data.Attributes.NetworkToken)

	if status, body := call(t, "DELETE", g.inbound+"/cards/"+a.Data.ID+"/network-tokens", "", "", bearer); status != http.StatusNoContent {
		t.Fatalf("delete the network token: %d %s", status, body)
	}
	if status, body := call(t, "DELETE", g.inbound+"/cards/"+a.Data.ID, "", "", bearer); status != http.StatusNoContent {
		t.Fatalf("delete the token's card: %d %s", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+b.Data.ID, "", "", bearer)
	var got doc
	if status != 200 || json.Unmarshal(body, &got) != nil || got.Data.Attributes.PAN != tok.Data.Attributes.NetworkToken {
		t.Fatalf("the card of the token PAN: %d %s", status, body)
	}
	if status, body := call(t, "DELETE", g.inbound+"/cards/"+b.Data.ID, "", "", bearer); status != http.StatusNoContent {
		t.Fatalf("delete the card of the token PAN: %d %s", status, body)
	}
}

// TestTokensPANAliasCannotBeDeletedThroughTheVaultAPI: a client of the
// account stores a network token's PAN through the vault API (it gets the
// token's own alias, one per value and account) and deletes that alias,
// alone or in a batch. Before, the delete answered 204 (AliasUse knew card
// numbers' aliases only) and the token's cryptogram 409 card_data_gone for
// good. Both deletes now answer 409 alias_in_use, as for a card's
// pan_alias, and the token still makes cryptograms; its own DELETE still
// takes the alias out of the vault.
func TestTokensPANAliasCannotBeDeletedThroughTheVaultAPI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write,aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"
	var card, tok struct {
		Data struct {
			ID         string
			Attributes struct {
				NetworkToken string `json:"network_token"`
			}
		}
	}
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"4111111111111111","exp_month":4,"exp_year":2030}}}`, bearer)
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	id := card.Data.ID
	status, body = call(t, "POST", g.inbound+"/cards/"+id+"/network-tokens", "", "", bearer)
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.Data.Attributes.NetworkToken == "" {
		t.Fatalf("provision: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+tok.Data.Attributes.NetworkToken+`","format":"UUID"}]}`, basicAuth(cred))
	var made struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &made) != nil || len(made.Data) != 1 || len(made.Data[0].Aliases) != 1 {
		t.Fatalf("the token PAN through the vault API: %d %s", status, body)
	}
	alias := made.Data[0].Aliases[0].Alias
	status, body = call(t, "DELETE", g.inbound+"/aliases/"+alias, "", "", basicAuth(cred))
	if status != http.StatusConflict || !strings.Contains(string(body), `"code":"alias_in_use"`) {
		t.Fatalf("the vault API's delete of the token's PAN alias: %d %s, want 409 alias_in_use", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/aliases/delete", "application/json",
		`{"data":["`+alias+`"]}`, basicAuth(cred))
	if status != http.StatusConflict || !strings.Contains(string(body), `"code":"alias_in_use"`) ||
		!strings.Contains(string(body), `"pointer":"/data/0"`) {
		t.Fatalf("the vault API's batch delete of the token's PAN alias: %d %s, want 409 alias_in_use", status, body)
	}
	// Naming the volatile store changes nothing; a batch that mixes the
	// token's alias with another deletes neither.
	status, body = call(t, "DELETE", g.inbound+"/aliases/"+alias+"?storage=VOLATILE", "", "", basicAuth(cred))
	if status != http.StatusConflict || !strings.Contains(string(body), `"code":"alias_in_use"`) {
		t.Fatalf("the delete of the token's PAN alias naming the volatile store: %d %s, want 409 alias_in_use", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"not a card","format":"UUID"}]}`, basicAuth(cred))
	if status != 201 || json.Unmarshal(body, &made) != nil || len(made.Data) != 1 || len(made.Data[0].Aliases) != 1 {
		t.Fatalf("another value through the vault API: %d %s", status, body)
	}
	other := made.Data[0].Aliases[0].Alias
	status, body = call(t, "POST", g.inbound+"/aliases/delete", "application/json",
		`{"data":["`+other+`","`+alias+`"]}`, basicAuth(cred))
	if status != http.StatusConflict || !strings.Contains(string(body), `"pointer":"/data/1"`) {
		t.Fatalf("a batch delete mixing the token's PAN alias with another: %d %s, want 409 alias_in_use at /data/1", status, body)
	}
	if status, body := call(t, "GET", g.inbound+"/aliases/"+other, "", "", basicAuth(cred)); status != http.StatusOK {
		t.Fatalf("the other alias of the refused batch: %d %s, want it kept", status, body)
	}
	if status, body := call(t, "POST", g.inbound+"/cards/"+id+"/cryptogram", ja, `{"data":{"attributes":{}}}`, bearer); status != http.StatusOK {
		t.Fatalf("the cryptogram after the vault API's deletes: %d %s", status, body)
	}
	if status, body := call(t, "DELETE", g.inbound+"/cards/"+id+"/network-tokens", "", "", bearer); status != http.StatusNoContent {
		t.Fatalf("delete the network token: %d %s", status, body)
	}
	if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basicAuth(cred)); status != http.StatusNotFound {
		t.Fatalf("the retired token's PAN alias: %d %s, want 404", status, body)
	}
	// The index holds aliases and card ids, no number: neither the token
	// PAN nor the card's is in the vault file in clear.
	g.stop(t)
	raw, err := os.ReadFile(filepath.Join(data, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{tok.Data.Attributes.NetworkToken, "4111111111111111"} {
		if bytes.Contains(raw, []byte(n)) {
			t.Errorf("the vault file holds card number %s…%s in clear", n[:6], n[len(n)-4:])
		}
	}
}
