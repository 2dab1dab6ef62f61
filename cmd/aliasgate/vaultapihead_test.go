package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestHEADOfTheVaultAPIRevealsNothing: HEAD on /aliases/{alias} and
// /aliases?q= was served as GET (http.ServeMux matches HEAD to a GET
// pattern): the value was decrypted, audited as a reveal and counted
// against the client's limits, for an answer that said only whether the
// alias exists and how long its record is. HEAD is not a method of the
// vault API (VGS's API has none): 405 method_not_allowed with the path's
// Allow, before any vault work and without an audit line, for the
// client's own alias, another account's and one that does not exist.
func TestHEADOfTheVaultAPIRevealsNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_VAULT_API_ENABLED": "true"})
	a := createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
	b := createClient(t, env, data, "--name", "api", "--account", "acct_b", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"a secret value"}]}`, basicAuth(a))
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	alias := string(body[strings.Index(string(body), `"alias":"`)+len(`"alias":"`):])
	alias = alias[:strings.IndexByte(alias, '"')]

	for _, c := range []struct {
		who   credential
		path  string
		allow string
	}{
		{a, "/aliases/" + alias, "GET, PUT, DELETE"},
		{a, "/aliases?q=" + alias, "GET, POST"},
		{b, "/aliases/" + alias, "GET, PUT, DELETE"},
		{a, "/aliases/" + mutate(alias), "GET, PUT, DELETE"},
	} {
		before := vaultOps(t, g)
		req, _ := http.NewRequest("HEAD", g.inbound+c.path, nil)
		req.SetBasicAuth(c.who.ID, c.who.Secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 405 || res.Header.Get("Allow") != c.allow {
			t.Errorf("HEAD %s: %d, Allow %q; want 405, Allow %q", c.path, res.StatusCode, res.Header.Get("Allow"), c.allow)
		}
		if n := vaultOps(t, g) - before; n != 0 {
			t.Errorf("HEAD %s: %v vault store operations", c.path, n)
		}
	}
	// GET still reveals.
	if status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basicAuth(a)); status != 200 || !strings.Contains(string(body), "a secret value") {
		t.Fatalf("GET: %d %s", status, body)
	}
	g.stop(t)
	reveals := 0
	for _, l := range auditLines(t, filepath.Join(data, "audit.log")) {
		if l["event"] == "reveal" {
			reveals++
		}
	}
	if reveals != 1 {
		t.Errorf("%d reveal lines in the audit log; want the GET's only", reveals)
	}
}
