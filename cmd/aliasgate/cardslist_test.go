package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCardsListAndDeleteThroughTheGateway: through the real gateway, a
// client lists its account's cards a page at a time and with filters, and
// DELETE /cards/{id} erases a card: 204, the card and the values behind its
// aliases answer 404 (vault API too), the list leaves it out, and the audit
// log holds one delete line per alias (PAN, CVC, network token PAN) with
// the client as the actor. Another account's client sees none of it.
func TestCardsListAndDeleteThroughTheGateway(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_VAULT_API_ENABLED": "true"})
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write,aliases:reveal")
	other := createClient(t, env, data, "--name", "other", "--account", "acct_2", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	otherBearer := bearerToken(t, g, other)

	type card struct{ id, panAlias, cvcAlias string }
	var cards []card
	for i, p := range []string{"4111111111111111", "5555555555554444", "4242424242424242", "5200828282828210", "4000056655665556"} {
		body := fmt.Sprintf(`{"data":{"attributes":{"pan":%q,"cvc":"123","exp_month":%d,"exp_year":2030}}}`, p, 1+i%2)
		status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json", body, bearer)
		var doc struct {
			Data struct {
				ID         string            `json:"id"`
				Attributes map[string]any    `json:"attributes"`
				Links      map[string]string `json:"links"`
			} `json:"data"`
		}
		if status != 201 || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("create: %d %s", status, b)
		}
		cards = append(cards, card{doc.Data.ID, doc.Data.Attributes["pan_alias"].(string), doc.Data.Attributes["cvc_alias"].(string)})
	}
	list := func(path string, auth func(*http.Request)) (ids []string) {
		t.Helper()
		for pages := 0; path != ""; pages++ {
			if pages > 10 {
				t.Fatal("links.next never ends")
			}
			status, b := call(t, "GET", g.inbound+path, "", "", auth)
			var doc struct {
				Data []struct {
					ID         string         `json:"id"`
					Attributes map[string]any `json:"attributes"`
				} `json:"data"`
				Links struct{ Next string } `json:"links"`
			}
			if status != 200 || json.Unmarshal(b, &doc) != nil || len(doc.Data) > 2 {
				t.Fatalf("GET %s: %d %s", path, status, b)
			}
			if strings.Contains(string(b), "4111111111111111") || strings.Contains(string(b), `"cvc":`) {
				t.Fatalf("a list carries card data: %s", b)
			}
			for _, d := range doc.Data {
				ids = append(ids, d.ID)
			}
			path = doc.Links.Next
		}
		return ids
	}
	var all []string
	for _, c := range cards {
		all = append(all, c.id)
	}
	slices.Sort(all)
	if got := list("/cards?page%5Bsize%5D=2", bearer); !slices.Equal(got, all) {
		t.Fatalf("paged list = %v, want %v", got, all)
	}
	if got := list("/cards?page%5Bsize%5D=2&filter%5Blast4%5D=4444", bearer); !slices.Equal(got, []string{cards[1].id}) {
		t.Fatalf("filter[last4] = %v", got)
	}
	if got := list("/cards?filter%5Bexp_month%5D=2&page%5Bsize%5D=1", bearer); len(got) != 2 {
		t.Fatalf("filter[exp_month] = %v", got)
	}
	if got := list("/cards", otherBearer); len(got) != 0 {
		t.Fatalf("another account lists %v", got)
	}

	victim := cards[0]
	if status, b := call(t, "POST", g.inbound+"/cards/"+victim.id+"/network-tokens", "application/vnd.api+json", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, b)
	}
	if status, b := call(t, "DELETE", g.inbound+"/cards/"+victim.id, "", "", otherBearer); status != 404 {
		t.Fatalf("DELETE from another account: %d %s", status, b)
	}
	if status, b := call(t, "GET", g.inbound+"/aliases/"+victim.panAlias, "", "", bearer); status != 200 {
		t.Fatalf("PAN alias before the delete: %d %s", status, b)
	}
	if status, b := call(t, "DELETE", g.inbound+"/cards/"+victim.id, "", "", bearer); status != 204 || len(b) != 0 {
		t.Fatalf("DELETE: %d %s", status, b)
	}
	for _, path := range []string{"/cards/" + victim.id, "/aliases/" + victim.panAlias, "/aliases/" + victim.cvcAlias} {
		if status, b := call(t, "GET", g.inbound+path, "", "", bearer); status != 404 {
			t.Errorf("GET %s after the delete: %d %s", path, status, b)
		}
	}
	if status, _ := call(t, "DELETE", g.inbound+"/cards/"+victim.id, "", "", bearer); status != 404 {
		t.Errorf("second DELETE: %d", status)
	}
	if got := list("/cards?page%5Bsize%5D=2", bearer); len(got) != len(all)-1 || slices.Contains(got, victim.id) {
		t.Fatalf("list after the delete = %v", got)
	}

	lines := auditLines(t, filepath.Join(data, "audit.log"))
	deletes := 0
	for _, l := range lines {
		if l["event"] == "delete" && l["actor"] == "client:"+cred.ID && l["route"] == "internal:cards" &&
			l["outcome"] == "ok" && l["found"] == 1.0 && l["account"] == "acct_1" {
			deletes++
		}
	}
	if deletes != 3 {
		t.Errorf("audit delete lines of the card delete = %d, want 3 (PAN, CVC, network token PAN)", deletes)
	}
}
