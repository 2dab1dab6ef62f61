package cards

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// fixedSettings turns network tokens on for the accounts listed.
type fixedSettings map[string]AccountSettings

func (f fixedSettings) CardSettings(account string) AccountSettings { return f[account] }

// failingTSP is a token service that is down.
type failingTSP struct{ *tsp.Simulator }

func (failingTSP) Provision(context.Context, string, string, string) (tsp.Token, error) {
	return tsp.Token{}, errors.New("tsp: connection refused")
}

func settingsSetup(t *testing.T, s Settings, provider tsp.Provider) *env {
	t.Helper()
	e := setup(t)
	h, err := New(e.store, e.vault, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), Settings: s, TSP: provider})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// TestNetworkTokensOnProvisionEveryCard: in an account with network tokens
// on, a card created has an active token at once (enrollment_status
// "enrolled"), a brand without a token service is "unsupported", a token
// service failure is "failed" without failing the create (and POST
// …/network-tokens enrolls it later); a duplicate provisions nothing more;
// another account's cards keep the spec's attributes exactly.
func TestNetworkTokensOnProvisionEveryCard(t *testing.T) {
	settings := fixedSettings{"ACTaccountA": {NetworkTokens: true, TokenType: TokenTypeCardOnFile}}
	e := settingsSetup(t, settings, nil)
	id, r := e.create(`"pan":"5555555555554444","exp_month":4,"exp_year":30`, pci)
	if a := attrsOf(t, r.doc); a["enrollment_status"] != "enrolled" {
		t.Fatalf("create: %v", a)
	}
	g := e.do("GET", "/cards/"+id+"?include=network_tokens", "", pci)
	inc := g.doc["included"].([]any)
	if len(inc) != 1 || attrsOf(t, map[string]any{"data": inc[0]})["state"] != "active" {
		t.Fatalf("token: %s", g.body)
	}
	// A card-on-file token's cryptogram carries the merchant-initiated ECI by default.
	c := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw)
	if cg := attrsOf(t, c.doc)["cryptogram"].(map[string]any); cg["eci"] != "07" || cg["type"] != "UCAF" {
		t.Errorf("card-on-file cryptogram: %v", cg)
	}
	// A duplicate: 303, still one token.
	if d := e.do("POST", "/cards", cardBody(`"pan":"5555555555554444","exp_month":4,"exp_year":30`)); d.code != 303 {
		t.Fatalf("duplicate: %d", d.code)
	}
	rec, _ := e.h.loadAny(&request{ctx: context.Background(), p: principalA()}, id)
	if len(rec.Tokens) != 1 {
		t.Fatalf("tokens after a duplicate: %d", len(rec.Tokens))
	}
	if _, r := e.create(`"pan":"3530111333300000","exp_month":4,"exp_year":30`); attrsOf(t, r.doc)["enrollment_status"] != "unsupported" {
		t.Errorf("JCB: %s", r.body)
	}
	// Another account: no token, no enrollment_status.
	_, r = e.create(`"pan":"4242424242424242","exp_month":4,"exp_year":30`, "X-Test-Account: ACTaccountB")
	if strings.Contains(string(r.body), "enrollment_status") {
		t.Errorf("an account without network tokens shows enrollment: %s", r.body)
	}
	sameShape(t, "create in an account without network tokens", loadSpec(t, "create"), r.doc, []string{"metadata"}, []string{"pan", "cvc", "cvc_alias"})

	// The token service is down: the card is created, "failed", and enrolled later.
	f := settingsSetup(t, settings, failingTSP{tsp.NewSimulator([]byte("k"))})
	id, r = f.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)
	if r.code != 201 || attrsOf(t, r.doc)["enrollment_status"] != "failed" {
		t.Fatalf("TSP down: %d %s", r.code, r.body)
	}
	f.h.tsp = tsp.NewSimulator([]byte("k"))
	if p := f.do("POST", "/cards/"+id+"/network-tokens", "", ntw); p.code != 200 {
		t.Fatalf("provision after the outage: %d %s", p.code, p.body)
	}
	f.clk.Add(time.Second)
	if g := f.do("GET", "/cards/"+id, ""); attrsOf(t, g.doc)["enrollment_status"] != "enrolled" {
		t.Errorf("after the provision: %s", g.body)
	}
	// A deleted token: not_enrolled.
	if code, _ := f.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw); code != 204 {
		t.Fatalf("delete token: %d", code)
	}
	if g := f.do("GET", "/cards/"+id, ""); attrsOf(t, g.doc)["enrollment_status"] != "not_enrolled" {
		t.Errorf("after the token delete: %s", g.body)
	}
}
