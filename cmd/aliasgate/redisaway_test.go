package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestStoredCardsServeWhileRedisIsAway: Redis holds the volatile values
// (CVCs) only; PANs, token PANs and cards are in the persistent store. A
// reveal asked the volatile store first and failed whole when it could not
// be reached, so while Redis was away every stored card stopped: a
// network token's cryptogram (a card-on-file payment needs no CVC) and a
// PCI read of a card without a CVC answered 503. They are served now: an
// alias the persistent store holds is answered by it. A card whose CVC is
// in Redis still answers 503 (what its CVC is cannot be known: fail
// closed), and is served again once Redis is back.
func TestStoredCardsServeWhileRedisIsAway(t *testing.T) {
	redisURL, fault := throughFault(t, testRedisURL())
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_VAULT_VOLATILE": "redis", "ALIASGATE_VAULT_REDIS_URL": redisURL,
		"ALIASGATE_VAULT_REDIS_PREFIX": "agtest" + randomHex(6) + ":"})
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"
	create := func(attrs string) string {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/cards", ja, `{"data":{"attributes":{`+attrs+`}}}`, bearer)
		var card struct{ Data struct{ ID string } }
		if status != 201 || json.Unmarshal(body, &card) != nil {
			t.Fatalf("create: %d %s", status, body)
		}
		return card.Data.ID
	}
	stored := create(`"pan":"5555555555554444","exp_month":4,"exp_year":2030`)
	withCVC := create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`)
	if status, body := call(t, "POST", g.inbound+"/cards/"+stored+"/network-tokens", "", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}

	fault.Down()
	status, body := call(t, "POST", g.inbound+"/cards/"+stored+"/cryptogram", ja, `{"data":{"attributes":{}}}`, bearer)
	if status != 200 || !strings.Contains(string(body), `"cryptogram"`) {
		t.Errorf("cryptogram while Redis is away: %d %s, want 200", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+stored, "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"pan":"5555555555554444"`) {
		t.Errorf("PCI read of a card without a CVC while Redis is away: %d %s, want 200", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+withCVC, "", "", bearer)
	if status != 503 || strings.Contains(string(body), "4111111111111111") || strings.Contains(string(body), `"cvc_status"`) {
		t.Errorf("PCI read of a card with a CVC while Redis is away: %d %s, want 503", status, body)
	}
	obstest.AssertNoPAN(t, "card with a CVC while Redis is away", body)

	fault.Up()
	status, body = call(t, "GET", g.inbound+"/cards/"+withCVC, "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"cvc":"737"`) {
		t.Errorf("PCI read of a card with a CVC once Redis is back: %d %s, want 200 with its CVC", status, body)
	}
}
