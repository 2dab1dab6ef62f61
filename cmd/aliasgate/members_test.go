package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestMemberNamesAreExactThroughTheGateway: the APIs' documents that are
// read into Go structs (every vault API body, the cryptogram request) are
// read by encoding/json, which matches a member to a field ignoring letter
// case (Unicode folding: "Value", "VALUE", "ſtorage" with a long s). So
// {"value":A,"Value":B} was one member to the gateway (B, the last) and two
// different ones to every parser that reads names exactly (a WAF, a
// front end, the proxy's rewriter): the ambiguity the refusal of repeated
// members (duplicate_member) is there to end, and a lone "ſtorage" was a
// storage class only the gateway saw. Such a member name is refused, 400
// inexact_member naming it; a repeated member of the cryptogram request is
// refused like one of any other /cards document (it was read as the last).
func TestMemberNamesAreExactThroughTheGateway(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_VAULT_API_ENABLED": "true"})
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1",
		"--scopes", "cards:write,cards:read,network-tokens:write,aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)

	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4111111111111111","format":"UUID","classifiers":["keep"]}]}`, bearer)
	var created struct {
		Data []struct {
			Aliases []struct{ Alias string } `json:"aliases"`
		} `json:"data"`
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
		t.Fatalf("create: %d %s", status, body)
	}
	alias := created.Data[0].Aliases[0].Alias

	type errDoc struct {
		Errors []struct {
			Code   string `json:"code"`
			Source struct {
				Pointer string `json:"pointer"`
			} `json:"source"`
		} `json:"errors"`
	}
	refused := func(what string, status int, body []byte, code, pointer string) {
		t.Helper()
		var doc errDoc
		if status != 400 || json.Unmarshal(body, &doc) != nil || len(doc.Errors) == 0 ||
			doc.Errors[0].Code != code || doc.Errors[0].Source.Pointer != pointer {
			t.Errorf("%s: %d %s, want 400 %s at %s", what, status, body, code, pointer)
		}
		obstest.AssertNoPAN(t, what, body)
	}
	for _, c := range []struct{ name, method, path, body, pointer string }{
		{"value and Value", "POST", "/aliases", `{"data":[{"value":"4111111111111111","Value":"5555555555554444","format":"UUID"}]}`, "/data/0/Value"},
		{"VALUE alone", "POST", "/aliases", `{"data":[{"VALUE":"5555555555554444","format":"UUID"}]}`, "/data/0/VALUE"},
		{"long s storage", "POST", "/aliases", `{"data":[{"value":"4111111111111111","format":"UUID","ſtorage":"VOLATILE"}]}`, "/data/0/ſtorage"},
		{"long s in classifiers", "POST", "/aliases", `{"data":[{"value":"4111111111111111","format":"UUID","claſſifiers":["x"]}]}`, "/data/0/claſſifiers"},
		{"Data", "POST", "/aliases", `{"Data":[{"value":"5555555555554444","format":"UUID"}]}`, "/Data"},
		{"Classifiers on PUT", "PUT", "/aliases/" + alias, `{"data":{"classifiers":["keep"],"Classifiers":[]}}`, "/data/Classifiers"},
		{"Storage on batch delete", "POST", "/aliases/delete", `{"data":["` + alias + `"],"Storage":"VOLATILE"}`, "/Storage"},
	} {
		status, body := call(t, c.method, g.inbound+c.path, "application/json", c.body, bearer)
		refused(c.name, status, body, "inexact_member", c.pointer)
	}
	// Nothing of the refused requests was applied.
	status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"classifiers":["keep"]`) {
		t.Fatalf("after the refusals: %d %s", status, body)
	}
	// A member name spelled exactly, and unknown members, are read as before.
	status, body = call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4111111111111111","format":"UUID","note":"x","Note":"y"}]}`, bearer)
	if status != 201 || !strings.Contains(string(body), alias) {
		t.Fatalf("exact document: %d %s", status, body)
	}

	// Members the API does not read are the client's own, whatever their
	// keys: a meta object (JSON:API's place for them) or an unknown member
	// holding "Value", "Data" or "Storage" is not refused, as encoding/json
	// reads none of them (they were 400 inexact_member: every key of the
	// document was checked against every name of the API).
	status, body = call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4111111111111111","format":"UUID","metadata":{"Value":"order-7","Storage":"eu"}}],"meta":{"Data":"trace-1","Classifiers":["a"]}}`, bearer)
	if status != 201 || !strings.Contains(string(body), alias) {
		t.Errorf("create with meta objects: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/aliases/delete", "application/json",
		`{"data":[],"storage":"PERSISTENT","meta":{"Storage":"x"}}`, bearer)
	if status >= 300 && strings.Contains(string(body), "inexact_member") {
		t.Errorf("batch delete with a meta object: %d %s", status, body)
	}

	// The cryptogram request of the Card Management API.
	status, body = call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"4111111111111111","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create card: %d %s", status, body)
	}
	cryptogram := g.inbound + "/cards/" + card.Data.ID + "/cryptogram"
	if status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", "application/vnd.api+json", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	status, body = call(t, "POST", cryptogram, "application/vnd.api+json",
		`{"data":{"attributes":{"transaction_type":"ecommerce","transaction_type":"card_on_file"}}}`, bearer)
	refused("repeated transaction_type", status, body, "duplicate_member", "/data/attributes/transaction_type")
	status, body = call(t, "POST", cryptogram, "application/vnd.api+json",
		`{"data":{"attributes":{}},"Data":{"attributes":{"transaction_type":"card_on_file"}}}`, bearer)
	refused("data and Data", status, body, "inexact_member", "/Data")
	for _, ok := range []string{`{"data":{"attributes":{}}}`, `{"data":{"attributes":{"transaction_type":"card_on_file"}}}`, ``, // a body that is no JSON is refused: TestCryptogramRequestsThatAreNoJSONAreRefused
		`{"data":{"type":"network_tokens","attributes":{"transaction_type":"ecommerce"}},"meta":{"Data":"trace-1","Attributes":"x"}}`} {
		if status, body = call(t, "POST", cryptogram, "application/vnd.api+json", ok, bearer); status != 200 || !strings.Contains(string(body), `"cryptogram"`) {
			t.Errorf("cryptogram with %q: %d %s", ok, status, body)
		}
	}
}
