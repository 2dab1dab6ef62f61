package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestVGSVaultScopeNames: a client written for VGS's Vault API asks its
// token for VGS's scope names, aliases:read, aliases:write and
// aliases:delete (the OAuth2 scopes of the Vault HTTP API 2.0.0 and of VGS
// service accounts). Through the gateway, aliases:read is aliases:reveal,
// at clients create and in a token request; aliases:delete is accepted in
// a token request as the aliases:write the client holds, which is the
// scope of every delete, and is refused at clients create (aliasgate has
// no delete-only scope: granting aliases:write for it would let the client
// create aliases too).
func TestVGSVaultScopeNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	// A client made with VGS's names for writing and reading.
	vgs := createClient(t, env, dir, "--name", "vgs", "--account", "acct_vgs", "--scopes", "aliases:read,aliases:write")
	out, _, err := runCmd(t, env, "clients", "create", "--data-dir", dir, "--name", "del", "--account", "acct_vgs", "--scopes", "aliases:delete")
	if err == nil || out != "" {
		t.Fatalf("clients create --scopes aliases:delete: %q %v, want a refusal", out, err)
	}
	if !strings.Contains(err.Error(), "aliases:write") {
		t.Errorf("the refusal of aliases:delete does not name aliases:write: %v", err)
	}
	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")

	token := func(scope string) (int, string, string) {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded",
			"grant_type=client_credentials&scope="+url.QueryEscape(scope), basicAuth(vgs))
		var tok struct {
			AccessToken string `json:"access_token"`
			Scope       string `json:"scope"`
		}
		_ = json.Unmarshal(body, &tok)
		return status, tok.AccessToken, tok.Scope
	}
	// What a VGS client asks for: the three alias scopes.
	status, tok, scope := token("aliases:read aliases:write aliases:delete")
	if status != 200 || scope != "aliases:reveal aliases:write" {
		t.Fatalf("token for VGS's alias scopes: %d scope %q", status, scope)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"122105155","classifiers":["bank-account"],"format":"UUID"}]}`, bearer(tok))
	var created struct {
		Data []struct {
			Aliases []struct {
				Alias string `json:"alias"`
			} `json:"aliases"`
		} `json:"data"`
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 || len(created.Data[0].Aliases) != 1 {
		t.Fatalf("create with the token: %d %s", status, body)
	}
	alias := created.Data[0].Aliases[0].Alias
	if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearer(tok)); status != 200 || !strings.Contains(string(body), `"122105155"`) {
		t.Fatalf("reveal with the token: %d %s", status, body)
	}

	// aliases:read alone reveals and cannot write; aliases:delete alone
	// deletes (it is the client's aliases:write).
	status, readTok, scope := token("aliases:read")
	if status != 200 || scope != "aliases:reveal" {
		t.Fatalf("token for aliases:read: %d %q", status, scope)
	}
	if status, body := call(t, "GET", g.inbound+"/aliases?aliases="+alias, "", "", bearer(readTok)); status != 200 {
		t.Fatalf("reveal multiple with aliases:read: %d %s", status, body)
	}
	if status, _ := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"x"}]}`, bearer(readTok)); status != 403 {
		t.Fatalf("create with aliases:read: %d, want 403", status)
	}
	status, delTok, scope := token("aliases:delete")
	if status != 200 || scope != "aliases:write" {
		t.Fatalf("token for aliases:delete: %d %q", status, scope)
	}
	if status, body := call(t, "DELETE", g.inbound+"/aliases/"+alias, "", "", bearer(delTok)); status != 204 {
		t.Fatalf("delete with aliases:delete: %d %s", status, body)
	}
	if status, _ := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearer(readTok)); status != 404 {
		t.Fatalf("reveal after delete: %d, want 404", status)
	}
}

// TestVGSWrongJSONTypeErrors: a member of the wrong JSON type is refused
// with an error that names the member by its pointer and says which JSON
// type the API reads there, never the Go type it is decoded into
// ("want []vaultapi.createItem", "want struct { Data … }" were sent to
// clients), for every body of the vault API.
func TestVGSWrongJSONTypeErrors(t *testing.T) {
	g, c, _ := vgsGateway(t, nil)
	auth := func(r *http.Request) { r.SetBasicAuth(c.user, c.pass) }
	cases := []struct {
		method, path, body, pointer, want string
	}{
		{"POST", "/aliases", `{"data":{"value":"x"}}`, "/data", "an array"},
		{"POST", "/aliases", `[]`, "", "an object"},
		{"POST", "/aliases", `{"data":[{"value":"x"},{"value":"y","classifiers":"pan"}]}`, "/data/1/classifiers", "an array"},
		{"POST", "/aliases", `{"data":[{"value":"x","classifiers":["a",7]}]}`, "/data/0/classifiers/1", "a string"},
		{"POST", "/aliases", `{"data":[{"value":"x","format":{"f":1}}]}`, "/data/0/format", "a string"},
		{"POST", "/aliases", `{"data":[{"alias":7,"format":"UUID"}]}`, "/data/0/alias", "a string"},
		{"PUT", "/aliases/tok_sandbox_x", `{"data":{"classifiers":[1]}}`, "/data/classifiers/0", "a string"},
		{"POST", "/aliases/delete", `{"data":"abc"}`, "/data", "an array"},
		{"POST", "/aliases/delete", `{"data":["a"],"storage":false}`, "/storage", "a string"},
	}
	for _, tc := range cases {
		status, body := call(t, tc.method, g.inbound+tc.path, "application/json", tc.body, auth)
		var doc struct {
			Errors []struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Source *struct {
					Pointer string `json:"pointer"`
				} `json:"source"`
			} `json:"errors"`
		}
		if status != 400 || json.Unmarshal(body, &doc) != nil || len(doc.Errors) != 1 || doc.Errors[0].Status != 400 {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, status, body)
			continue
		}
		e := doc.Errors[0]
		if !strings.Contains(e.Detail, "want "+tc.want) || strings.ContainsAny(e.Detail, "[]{}") || strings.Contains(e.Detail, "vaultapi") {
			t.Errorf("%s %s %s: detail %q, want it to say %q in JSON's terms", tc.method, tc.path, tc.body, e.Detail, tc.want)
		}
		if got := ""; e.Source != nil {
			got = e.Source.Pointer
			if got != tc.pointer {
				t.Errorf("%s %s %s: source.pointer %q, want %q", tc.method, tc.path, tc.body, got, tc.pointer)
			}
		} else if tc.pointer != "" {
			t.Errorf("%s %s %s: no source.pointer, want %q", tc.method, tc.path, tc.body, tc.pointer)
		}
	}
}

// TestVGSStorageParameterOnEveryAliasOperation: the spec declares the
// storage query parameter on /aliases/{alias} for every method, and VGS's
// generated clients send it on PUT too (updateAlias(alias, storage, …)).
// It is validated the same way everywhere: PERSISTENT or VOLATILE is
// accepted (the alias is found in whichever store holds it), anything else
// is 400 invalid_storage and changes nothing.
func TestVGSStorageParameterOnEveryAliasOperation(t *testing.T) {
	g, c, _ := vgsGateway(t, nil)
	auth := func(r *http.Request) { r.SetBasicAuth(c.user, c.pass) }
	a, _, err := c.CreateAliases([]map[string]any{{"value": "storage-param", "classifiers": []string{"kept"}, "format": "UUID"}})
	if err != nil {
		t.Fatal(err)
	}
	alias := a[0].Aliases[0].Alias
	put := func(storage, classifier string) (int, []byte) {
		return call(t, "PUT", g.inbound+"/aliases/"+alias+"?storage="+storage, "application/json",
			`{"data":{"classifiers":["`+classifier+`"]}}`, auth)
	}
	for _, bad := range []string{"bogus", "", "PERSISTENT,VOLATILE"} {
		status, body := put(url.QueryEscape(bad), "changed")
		if status != 400 || !strings.Contains(string(body), `"invalid_storage"`) || !strings.Contains(string(body), `"parameter":"storage"`) {
			t.Errorf("PUT ?storage=%q: %d %s, want 400 invalid_storage", bad, status, body)
		}
	}
	if got, _, err := c.RevealAlias(alias, ""); err != nil || len(got.Classifiers) != 1 || got.Classifiers[0] != "kept" {
		t.Fatalf("after refused PUTs: %+v %v, want the classifiers unchanged", got, err)
	}
	if status, body := put("PERSISTENT", "changed"); status != 204 {
		t.Fatalf("PUT ?storage=PERSISTENT: %d %s", status, body)
	}
	if got, _, err := c.RevealAlias(alias, "PERSISTENT"); err != nil || len(got.Classifiers) != 1 || got.Classifiers[0] != "changed" {
		t.Fatalf("after PUT: %+v %v", got, err)
	}
}
