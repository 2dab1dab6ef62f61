package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestCreateThroughAnotherAccountsRouteLeavesNothingInIt: an inbound route
// of acct_a in front of internal:cards redacts the raw card number a front
// end posts as pan_alias, in acct_a (the route's account). A client of
// acct_b sending a card number through that route gets no card (the alias
// is not its account's: 422 unknown_alias), and the alias the route made
// must not stay in acct_a: a create that stores no card releases what its
// request made, as it does for the same request refused by the guard
// (401). Before, it was released in the client's account, where it is no
// alias, and acct_b's card number stayed acct_a's for good (acct_a's vault
// API shows it among the value's aliases).
func TestCreateThroughAnotherAccountsRouteLeavesNothingInIt(t *testing.T) {
	const number = "4000056655665556"
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: cards_a
    direction: inbound
    host: "*"
    path_prefix: /cards
    upstream: internal:cards
    account: acct_a
    filters:
      - {id: redact, operation: redact, targets: [{json: data.attributes.pan_alias, storage: persistent}]}
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_VAULT_API_ENABLED": "true"})
	apiA := createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
	shopA := createClient(t, env, data, "--name", "shop", "--account", "acct_a", "--scopes", "cards:read,cards:write")
	shopB := createClient(t, env, data, "--name", "shop", "--account", "acct_b", "--scopes", "cards:read,cards:write")
	g := startGateway(t, env, "--data-dir", data)
	doc := `{"data":{"type":"cards","attributes":{"pan_alias":"` + number + `","exp_month":4,"exp_year":2031}}}`

	// acct_a's aliases of the number (one per format): its vault API's
	// answer to a create of it in another format lists the others.
	aliasesOfA := func() int {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
			`{"data":[{"value":"`+number+`","format":"FPE_SIX_T_FOUR"}]}`, basicAuth(apiA))
		var created struct {
			Data []struct {
				Aliases []struct{ Alias, Format string }
			}
		}
		if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
			t.Fatalf("acct_a's create: %d %s", status, body)
		}
		return len(created.Data[0].Aliases)
	}
	// The guard refuses (no credentials): nothing stays.
	if status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, nil); status != 401 {
		t.Fatalf("anonymous create: %d %s", status, body)
	}
	if n := aliasesOfA(); n != 1 {
		t.Fatalf("after a create the guard refused, acct_a holds %d aliases of the number, want its own 1", n)
	}
	// acct_b's client: no card, and nothing left in acct_a.
	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, bearerToken(t, g, shopB))
	if status != 422 {
		t.Fatalf("acct_b's create through acct_a's route: %d %s", status, body)
	}
	if n := aliasesOfA(); n != 1 {
		t.Fatalf("after acct_b's create through acct_a's route, acct_a holds %d aliases of acct_b's card number, want its own 1", n)
	}
	// acct_a's own client still makes its card through the route.
	if status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, bearerToken(t, g, shopA)); status != 201 {
		t.Fatalf("acct_a's create through its route: %d %s", status, body)
	}
}
