package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestCardsRefuseQueryParametersTheyDoNotRead: the Card Management API
// ignored every query parameter but include on GET /cards/{id}, and every
// one on the other card endpoints. JSON:API makes a client's sparse
// fieldset binding (an endpoint "MUST NOT include additional fields") and
// tells a server that cannot process a parameter to answer 400; a PCI
// client asking GET /cards/{id}?fields[cards]=last4 to keep the number out
// of its logs got pan and cvc in clear, and a create or update sent with
// parameters it meant was applied without them. Now a parameter an
// endpoint does not read is refused before anything is done: 400
// invalid_parameter naming it (when the name is safe to echo).
func TestCardsRefuseQueryParametersTheyDoNotRead(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"

	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	id := card.Data.ID
	if status, body = call(t, "POST", g.inbound+"/cards/"+id+"/network-tokens", ja, "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}

	refused := func(what string, status int, body []byte, param string) {
		t.Helper()
		var doc struct {
			Errors []struct {
				Code   string `json:"code"`
				Source *struct {
					Parameter string `json:"parameter"`
				} `json:"source"`
			} `json:"errors"`
		}
		if status != 400 || json.Unmarshal(body, &doc) != nil || len(doc.Errors) != 1 || doc.Errors[0].Code != "invalid_parameter" {
			t.Errorf("%s: %d %s, want 400 invalid_parameter", what, status, body)
			return
		}
		switch {
		case param == "" && doc.Errors[0].Source != nil:
			t.Errorf("%s: the error names the parameter: %s", what, body)
		case param != "" && (doc.Errors[0].Source == nil || doc.Errors[0].Source.Parameter != param):
			t.Errorf("%s: %s, want source.parameter %q", what, body, param)
		}
		obstest.AssertNoPAN(t, what, body)
		if strings.Contains(string(body), `"123"`) {
			t.Errorf("%s: the CVC is in the answer: %s", what, body)
		}
	}
	newPAN := `{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`
	for _, c := range []struct{ name, method, path, body, param string }{
		{"sparse fieldset on GET", "GET", "/cards/" + id + "?fields%5Bcards%5D=last4", "", "fields[cards]"},
		{"sparse fieldset of an include", "GET", "/cards/" + id + "?include=network_tokens&fields%5Bnetwork_tokens%5D=state", "", "fields[network_tokens]"},
		{"unknown parameter on GET", "GET", "/cards/" + id + "?sort=pan", "", "sort"},
		{"card-like parameter name", "GET", "/cards/" + id + "?4111111111111111=1", "", ""},
		{"parameter on POST", "POST", "/cards?fields%5Bcards%5D=last4", newPAN, "fields[cards]"},
		{"parameter on PATCH", "PATCH", "/cards/" + id + "?fields%5Bcards%5D=exp_month", `{"data":{"attributes":{"exp_month":5}}}`, "fields[cards]"},
		{"parameter on DELETE", "DELETE", "/cards/" + id + "?force=1", "", "force"},
		{"parameter on provision", "POST", "/cards/" + id + "/network-tokens?fields%5Bnetwork_tokens%5D=state", "", "fields[network_tokens]"},
		{"parameter on cryptogram", "POST", "/cards/" + id + "/cryptogram?fields%5Bnetwork_tokens%5D=cryptogram", `{"data":{"attributes":{}}}`, "fields[network_tokens]"},
		{"parameter on token delete", "DELETE", "/cards/" + id + "/network-tokens?x=1", "", "x"},
	} {
		status, body := call(t, c.method, g.inbound+c.path, ja, c.body, bearer)
		refused(c.name, status, body, c.param)
	}

	// Nothing of the refused requests was done: no second card, the card
	// and its token unchanged, and the documented parameters still work.
	status, body = call(t, "GET", g.inbound+"/cards", "", "", bearer)
	if status != 200 || strings.Count(string(body), `"type":"cards"`) != 1 {
		t.Fatalf("list after the refusals: %d %s", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+id+"?include=card_updates,network_tokens", "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"exp_month":4`) || !strings.Contains(string(body), `"state":"active"`) ||
		!strings.Contains(string(body), `"included":[{`) {
		t.Fatalf("card after the refusals: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/cards?page%5Bsize%5D=1", "", "", bearer); status != 200 {
		t.Fatalf("list with page[size]: %d %s", status, body)
	}
	// An unauthenticated request is still answered 401 first.
	if status, body = call(t, "GET", g.inbound+"/cards/"+id+"?fields%5Bcards%5D=last4", "", "", func(*http.Request) {}); status != 401 {
		t.Fatalf("without credentials: %d %s", status, body)
	}
}
