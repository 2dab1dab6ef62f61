package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestCardDeleteKeepsTheAccountsOwnAliasOfItsNumber: a card's pan_alias is
// the account's UUID alias of the number, the one the vault API and a
// UUID route give for it. An alias the merchant made through the vault API
// before the card stays when the card is deleted (its systems hold it);
// an alias the card's own create made (a new number, through the raw card
// data route or sent in clear by a PCI client) leaves the vault with the
// card.
func TestCardDeleteKeepsTheAccountsOwnAliasOfItsNumber(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := rawCardRouteEnv(t, dir)
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1",
		"--scopes", "cards:write,cards:read,aliases:write,aliases:reveal")
	pci := createClient(t, env, data, "--name", "pci", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	shopBearer, pciBearer, shopBasic := bearerToken(t, g, shop), bearerToken(t, g, pci), basicAuth(shop)

	tokenize := func(t *testing.T, pan string) string {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
			`{"data":[{"value":"`+pan+`","format":"UUID","storage":"PERSISTENT"}]}`, shopBasic)
		var doc struct {
			Data []struct {
				Aliases []struct{ Alias, Format string }
			}
		}
		if status != 201 || json.Unmarshal(body, &doc) != nil || len(doc.Data) != 1 || len(doc.Data[0].Aliases) == 0 {
			t.Fatalf("vault API create: %d %s", status, body)
		}
		return doc.Data[0].Aliases[0].Alias
	}
	createCard := func(t *testing.T, auth func(*http.Request), attrs string) (id, panAlias string) {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
			`{"data":{"attributes":{`+attrs+`,"exp_month":4,"exp_year":2030}}}`, auth)
		var doc struct {
			Data struct {
				ID         string `json:"id"`
				Attributes struct {
					PANAlias string `json:"pan_alias"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if status != 201 || json.Unmarshal(body, &doc) != nil {
			t.Fatalf("create card: %d %s", status, body)
		}
		return doc.Data.ID, doc.Data.Attributes.PANAlias
	}
	deleteCard := func(t *testing.T, auth func(*http.Request), id string) {
		t.Helper()
		if status, body := call(t, "DELETE", g.inbound+"/cards/"+id, "", "", auth); status != 204 {
			t.Fatalf("delete card: %d %s", status, body)
		}
	}
	reveal := func(t *testing.T, alias string) (int, string) {
		t.Helper()
		status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", shopBasic)
		return status, string(body)
	}

	for _, c := range []struct {
		name, pan string
		auth      func(*http.Request)
		attrs     func(pan string) string
	}{
		{"raw card data route", "4111111111111111", shopBearer,
			func(pan string) string { return `"pan_alias":"` + pan + `","cvc_alias":"123"` }},
		{"PCI client in clear", "5555555555554444", pciBearer,
			func(pan string) string { return `"pan":"` + pan + `","cvc":"123"` }},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The merchant's alias, made first: the card shares it.
			mine := tokenize(t, c.pan)
			id, panAlias := createCard(t, c.auth, c.attrs(c.pan))
			if panAlias != mine {
				t.Fatalf("the card's pan_alias %q is not the account's UUID alias %q of its number", panAlias, mine)
			}
			deleteCard(t, c.auth, id)
			if status, body := reveal(t, mine); status != 200 || !strings.Contains(body, c.pan) {
				t.Fatalf("the merchant's alias made before the card was deleted with it: %d %s", status, body)
			}
			if status, body := call(t, "GET", g.inbound+"/cards/"+id, "", "", c.auth); status != 404 {
				t.Fatalf("deleted card: %d %s", status, body)
			}
			// The merchant deletes its own alias through the vault API.
			if status, body := call(t, "DELETE", g.inbound+"/aliases/"+mine, "", "", shopBasic); status != 204 {
				t.Fatalf("vault API delete: %d %s", status, body)
			}
			// The card's own alias (the number new to the vault): it goes with the card.
			id, panAlias = createCard(t, c.auth, c.attrs(c.pan))
			deleteCard(t, c.auth, id)
			if status, body := reveal(t, panAlias); status != 404 {
				t.Fatalf("the alias the card made outlived it: %d %s", status, body)
			}
		})
	}
}

// TestRawCardDataCreateRefusedThenRetriedLeavesNoNumberBehindItsCard: a
// create through the raw card data route that the Card Management API
// refuses (422: an invalid expiry month, an attribute it does not take;
// 401: an access token that expired) after the
// route's redaction made the number's alias, then retried with the
// mistake fixed: the card's delete removes the number from the vault.
// The refused create made the alias, not the merchant (its client never
// saw it), so it leaves the vault with the refusal and the retry's card
// makes it again as its own. Before, the retry found the alias in the
// vault, took it for the account's (pan_alias_origin "account") and the
// card's delete kept the PAN, which nothing referenced.
func TestRawCardDataCreateRefusedThenRetriedLeavesNoNumberBehindItsCard(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := rawCardRouteEnv(t, dir)
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1",
		"--scopes", "cards:write,cards:read,aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	bearer, basic := bearerToken(t, g, shop), basicAuth(shop)

	expired := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 40)) }
	const valid = `"exp_month":4,"exp_year":2030`
	for _, c := range []struct {
		name, pan, refused string
		auth               func(*http.Request)
		code               int
	}{
		{"invalid expiry month", "4111111111111111", `"exp_month":13,"exp_year":2030`, bearer, 422},
		{"attribute it does not take", "5555555555554444", valid + `,"pan_alias_origin":"account"`, bearer, 422},
		{"access token refused", "4012888888881881", valid, expired, 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
				`{"data":{"attributes":{"pan_alias":"`+c.pan+`","cvc_alias":"123",`+c.refused+`}}}`, c.auth)
			if status != c.code {
				t.Fatalf("refused create: %d %s, want %d", status, body, c.code)
			}
			obstest.AssertNoPAN(t, "refused create", body)
			status, body = call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
				`{"data":{"attributes":{"pan_alias":"`+c.pan+`","cvc_alias":"123","exp_month":4,"exp_year":2030}}}`, bearer)
			var doc struct {
				Data struct {
					ID         string `json:"id"`
					Attributes struct {
						PANAlias string `json:"pan_alias"`
					} `json:"attributes"`
				} `json:"data"`
			}
			if status != 201 || json.Unmarshal(body, &doc) != nil {
				t.Fatalf("retried create: %d %s", status, body)
			}
			if status, body := call(t, "DELETE", g.inbound+"/cards/"+doc.Data.ID, "", "", bearer); status != 204 {
				t.Fatalf("delete card: %d %s", status, body)
			}
			if status, body := call(t, "GET", g.inbound+"/aliases/"+doc.Data.Attributes.PANAlias, "", "", basic); status != 404 {
				t.Fatalf("the number outlived its only card: %d %s", status, body)
			}
		})
	}
}
