package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawCardRoutes is the README's route for raw card data: an inbound route
// in front of internal:cards that redacts pan_alias (persistent) and
// cvc_alias (volatile) in every body under /cards (the route redacts
// request bodies, so a body no filter matched would be refused:
// unmatched_body).
const rawCardRoutes = `routes:
  - id: cards-in
    direction: inbound
    host: "*"
    path_prefix: /cards
    upstream: internal:cards
    filters:
      - id: raw-card
        operation: redact
        targets:
          - {json: data.attributes.pan_alias}
          - {json: data.attributes.cvc_alias, storage: volatile}
`

// rawCardRouteEnv writes rawCardRoutes to dir/routes.yaml and returns the
// test environment whose gateway serves it.
func rawCardRouteEnv(t *testing.T, dir string) func(string) string {
	t.Helper()
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(rawCardRoutes), 0o600); err != nil {
		t.Fatal(err)
	}
	return testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile})
}

// TestRawCardDataThroughARedactRouteIntoTheCardsAPI posts raw card data
// through an inbound redact route mounted on internal:cards: the Card
// Management API receives (and stores) aliases only.
func TestRawCardDataThroughARedactRouteIntoTheCardsAPI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := rawCardRouteEnv(t, dir)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)

	status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(cred.ID, cred.Secret) })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("token: %d %s", status, body)
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	raw := `{"data":{"attributes":{"pan_alias":"4111111111111111","cvc_alias":"123","exp_month":4,"exp_year":2030}}}`
	status, body = call(t, "POST", g.inbound+"/cards", "application/vnd.api+json", raw, bearer)
	if status != 201 {
		t.Fatalf("create through the route: %d %s", status, body)
	}
	var doc struct {
		Data struct {
			ID         string         `json:"id"`
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	a := doc.Data.Attributes
	if !strings.HasPrefix(doc.Data.ID, "CRD") || !strings.HasPrefix(a["pan_alias"].(string), "tok_sandbox_") ||
		a["last4"] != "1111" || a["card_brand"] != "VISA" || a["cvc_status"] != "active" {
		t.Fatalf("card document: %s", body)
	}
	if strings.Contains(string(body), "4111111111111111") || strings.Contains(string(body), `"123"`) {
		t.Fatalf("a non-PCI client sees card data: %s", body)
	}
	// The same PAN again: 303 to the existing card.
	req, _ := http.NewRequest("POST", g.inbound+"/cards", strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/vnd.api+json")
	bearer(req)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cards/"+doc.Data.ID {
		t.Fatalf("duplicate: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+doc.Data.ID, "", "", bearer)
	if status != 200 || !strings.Contains(string(body), doc.Data.ID) {
		t.Fatalf("get: %d %s", status, body)
	}

	// Network tokens through the same listener: provision, cryptogram, delete, refused cryptogram.
	status, body = call(t, "POST", g.inbound+"/cards/"+doc.Data.ID+"/network-tokens", "application/vnd.api+json", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"type":"network_tokens"`) || !strings.Contains(string(body), `"state":"active"`) {
		t.Fatalf("provision: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/cards/"+doc.Data.ID+"/cryptogram", "application/vnd.api+json", `{"data":{"attributes":{}}}`, bearer)
	if status != 200 || !strings.Contains(string(body), `"type":"TAVV"`) {
		t.Fatalf("cryptogram: %d %s", status, body)
	}
	if status, body = call(t, "DELETE", g.inbound+"/cards/"+doc.Data.ID+"/network-tokens", "", "", bearer); status != 204 {
		t.Fatalf("delete token: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards/"+doc.Data.ID+"/cryptogram", "application/vnd.api+json", `{"data":{"attributes":{}}}`, bearer); status != 409 {
		t.Fatalf("cryptogram after delete: %d %s", status, body)
	}
}
