package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestNetworkLifecycleThroughTheGateway: each network event raised with
// `aliasgate tsp simulate` (through the running gateway's admin listener)
// changes the card and its token and lands in card_updates with its
// source; a suspended token makes the outbound network_token route fall
// back to the card number (or refuse, without calling the processor) and
// a resumed one pays with the token again; a token update reaches the
// processor as the token's new expiry; a reissued PAN replaces the card's
// alias (the old one answers 404 through the vault API, the new one
// reveals through the outbound route); a deleted token is gone. The
// simulator cannot reach a card named with another account, the endpoint
// needs admin.token, and the CLI never prints a card or token number.
func TestNetworkLifecycleThroughTheGateway(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	calls := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	last := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		c, _ := got[len(got)-1]["card"].(map[string]any)
		return c
	}

	dir := t.TempDir()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	routesFile := filepath.Join(dir, "routes.yaml")
	targets := `
        targets:
          - {json: card.number, role: card}
          - {json: card.exp_month, role: exp_month}
          - {json: card.exp_year, role: exp_year}
          - {json: card.cryptogram, role: cryptogram}
          - {json: card.eci, role: eci}
`
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp-token
    direction: outbound
    host: 127.0.0.1
    path_prefix: /token-only
    filters:
      - id: pay
        operation: network_token`+targets+`
  - id: psp
    direction: outbound
    host: 127.0.0.1
    path_prefix: /
    filters:
      - id: pay
        operation: network_token
        fallback: pan`+targets), 0o600)
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true", "ALIASGATE_CARDS_NETWORK_TOKENS": "true",
		"ALIASGATE_ADMIN_TOKEN": adminToken, "ALIASGATE_VAULT_API_ENABLED": "true"})
	backend := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:read,cards:write,network-tokens:write,aliases:reveal")
	other := createClient(t, env, data, "--name", "other", "--account", "acct_2", "--scopes", "cards:read,cards:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, shop)

	type card struct {
		ID         string `json:"id"`
		Attributes struct {
			PAN      string `json:"pan"`
			PANAlias string `json:"pan_alias"`
			Last4    string `json:"last4"`
			ExpMonth int    `json:"exp_month"`
			ExpYear  int    `json:"exp_year"`
		} `json:"attributes"`
	}
	var doc struct {
		Data     card `json:"data"`
		Included []struct {
			Type       string         `json:"type"`
			Attributes map[string]any `json:"attributes"`
		} `json:"included"`
	}
	get := func(id, include string) {
		t.Helper()
		doc.Included = nil
		status, b := call(t, "GET", g.inbound+"/cards/"+id+"?include="+include, "", "", bearer)
		if status != 200 || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("GET card: %d %s", status, b)
		}
	}
	status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":30}}}`, bearer)
	if status != 201 || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("create: %d %s", status, b)
	}
	id, oldAlias := doc.Data.ID, doc.Data.Attributes.PANAlias
	otherStatus, otherBody := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":30}}}`, bearerToken(t, g, other))
	if otherStatus != 201 {
		t.Fatalf("create in acct_2: %d %s", otherStatus, otherBody)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(backend.ID, backend.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	pay := func(path, ref string) (int, string) {
		t.Helper()
		res, err := client.Post(psp.URL+path, "application/json", strings.NewReader(
			`{"card":{"number":"`+ref+`","exp_month":"","exp_year":"","cryptogram":"","eci":""}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	var printed []string
	simulate := func(args ...string) map[string]any {
		t.Helper()
		out, errOut, err := runCmd(t, env, append([]string{"tsp", "simulate"}, append(args, "--admin", g.admin)...)...)
		printed = append(printed, out, errOut)
		var m map[string]any
		if err != nil || json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("tsp simulate %v: %v %q %q", args, err, out, errOut)
		}
		return m
	}
	lastUpdate := func() map[string]any {
		t.Helper()
		get(id, "card_updates")
		if len(doc.Included) == 0 {
			t.Fatal("no card updates")
		}
		return doc.Included[len(doc.Included)-1].Attributes
	}
	card1 := []string{"--account", "acct_1", "--card", id}

	// The token pays.
	if s, a := pay("/token-only/charges", oldAlias); s != 200 {
		t.Fatalf("token payment: %d %s", s, a)
	}
	tokenPAN, _ := last()["number"].(string)
	if !strings.HasPrefix(tokenPAN, "489537") {
		t.Fatalf("the processor got %v", last())
	}

	// Suspended: the fallback route pays with the PAN, the token-only route refuses.
	if m := simulate(append([]string{"token-suspended"}, card1...)...); m["network_token_state"] != "suspended" || m["card_update_id"] == nil {
		t.Fatalf("suspend: %v", m)
	}
	if u := lastUpdate(); u["event"] != "network-token-status" {
		t.Errorf("card update of suspend: %v", u)
	}
	before := calls()
	if s, a := pay("/token-only/charges", oldAlias); s != 422 || !strings.Contains(a, "no_active_network_token") || calls() != before {
		t.Fatalf("suspended, no fallback: %d %s", s, a)
	}
	if s, a := pay("/charges", oldAlias); s != 200 || last()["number"] != "4111111111111111" || last()["cryptogram"] != "" {
		t.Fatalf("suspended, fallback: %d %s, processor %v", s, a, last()["cryptogram"])
	}
	// Resumed: the token again.
	simulate(append([]string{"token-resumed"}, card1...)...)
	if s, a := pay("/token-only/charges", oldAlias); s != 200 || last()["number"] != tokenPAN || last()["eci"] != "07" {
		t.Fatalf("resumed: %d %s", s, a)
	}
	// Token updated: the processor gets the token's new expiry.
	simulate(append([]string{"token-updated", "--exp-month", "7", "--exp-year", "2031"}, card1...)...)
	if u := lastUpdate(); u["event"] != "network-token-update" {
		t.Errorf("card update of token-updated: %v", u)
	}
	if s, _ := pay("/token-only/charges", id); s != 200 || last()["exp_month"] != "07" || last()["exp_year"] != "2031" {
		t.Fatalf("after token-updated the processor got exp %v/%v", last()["exp_month"], last()["exp_year"])
	}

	// Reissued with a new PAN and expiry.
	m := simulate(append([]string{"card-reissued", "--new-pan", "--exp-month", "9", "--exp-year", "2032"}, card1...)...)
	get(id, "card_updates")
	newPAN, newAlias := doc.Data.Attributes.PAN, doc.Data.Attributes.PANAlias
	if !pan.Valid(newPAN) || newPAN == "4111111111111111" || !strings.HasPrefix(newPAN, "411111") || newAlias == oldAlias ||
		m["last4"] != newPAN[12:] || doc.Data.Attributes.ExpMonth != 9 || doc.Data.Attributes.ExpYear != 2032 {
		t.Fatalf("after reissue: %+v (simulate %v)", doc.Data.Attributes.Last4, m)
	}
	if u := doc.Included[len(doc.Included)-1].Attributes; u["event"] != "account-updater" || strings.Contains(string(mustJSON(u)), newPAN) {
		t.Errorf("card update of reissue: %v", u["event"])
	}
	if s, b := call(t, "GET", g.inbound+"/aliases/"+oldAlias, "", "", bearer); s != 404 {
		t.Errorf("the old PAN alias after reissue: %d %s", s, b)
	}
	// The token is kept (with the new expiry); the fallback reveals the new PAN by its new alias.
	if s, _ := pay("/token-only/charges", newAlias); s != 200 || last()["number"] != tokenPAN || last()["exp_month"] != "09" || last()["exp_year"] != "2032" {
		t.Fatalf("token after reissue: exp %v/%v", last()["exp_month"], last()["exp_year"])
	}
	simulate(append([]string{"token-suspended"}, card1...)...)
	if s, _ := pay("/charges", newAlias); s != 200 || last()["number"] != newPAN || last()["exp_month"] != "09" {
		t.Fatalf("fallback after reissue: the processor did not get the new PAN")
	}

	// Deleted by the network: no token, the token-only route refuses.
	if m := simulate(append([]string{"token-deleted"}, card1...)...); m["network_token_state"] != "deleted" {
		t.Fatalf("delete: %v", m)
	}
	get(id, "network_tokens")
	if len(doc.Included) != 0 {
		t.Errorf("a deleted token is still included")
	}
	if s, _ := pay("/token-only/charges", newAlias); s != 422 {
		t.Errorf("after the token was deleted: %d", s)
	}

	// Another account's name does not reach the card; a missing token is 409; the endpoint needs the token.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"token-resumed", "--account", "acct_2", "--card", id}, "404"},
		{[]string{"token-resumed", "--account", "acct_1", "--card", id}, "409"},
		// ... and says how to give the card one.
		{[]string{"token-resumed", "--account", "acct_1", "--card", id}, "POST /cards/{id}/network-tokens"},
		{[]string{"explode", "--account", "acct_1", "--card", id}, "422"},
		{[]string{"card-reissued", "--account", "acct_1", "--card", id, "--exp-month", "4111111111111111", "--exp-year", "1"}, "422"},
		{[]string{"card-reissued", "--account", "acct_1", "--card", id, "--exp-month", "x4111111111111111"}, "invalid value"},
		{[]string{"token-resumed", "4111111111111111", "--account", "acct_1", "--card", id}, "argument"},
	} {
		out, errOut, err := runCmd(t, env, append([]string{"tsp", "simulate"}, append(c.args, "--admin", g.admin)...)...)
		printed = append(printed, out, errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tsp simulate %v: %v, want %q", c.args[0], err, c.want)
		} else {
			printed = append(printed, err.Error())
		}
	}
	if s, _ := call(t, "POST", g.admin+"/admin/tsp/simulate", "application/json",
		`{"account":"acct_1","card_id":"`+id+`","event":"token-suspended"}`, nil); s != http.StatusUnauthorized {
		t.Errorf("simulate without the admin token: %d", s)
	}
	if s, b := call(t, "POST", g.admin+"/admin/tsp/simulate", "application/json",
		`{"account":"acct_1","card_id":"`+id+`","event":"card-reissued","new_pan":"4000000000000002"}`,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adminToken) }); s != 400 || strings.Contains(string(b), "4000000000000002") {
		t.Errorf("a PAN in the body: %d %s", s, b)
	}
	for _, p := range printed {
		for _, secret := range []string{"4111111111111111", newPAN, tokenPAN} {
			if strings.Contains(p, secret) {
				t.Errorf("the CLI printed a card or token number: %s", pan.Mask(p))
			}
		}
		if pan.ContainsString(p) {
			t.Errorf("the CLI printed a card-like number: %s", pan.Mask(p))
		}
	}
	g.stop(t)
	if log := g.stderr.String(); strings.Contains(log, newPAN) || strings.Contains(log, tokenPAN) {
		t.Errorf("the gateway log holds a card or token number")
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// TestStoredCardsProvisionedAtServe: cards stored while network tokens
// were off get their token in the background after a restart with
// network tokens on and cards.provision_stored; a JCB card is marked
// unsupported; another account's card is left.
func TestStoredCardsProvisionedAtServe(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "cards:read,cards:write")
	other := createClient(t, env, data, "--name", "other", "--account", "acct_2", "--scopes", "cards:read,cards:write")
	g := startGateway(t, env, "--data-dir", data)
	create := func(bearer func(*http.Request), p string) string {
		t.Helper()
		status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
			`{"data":{"attributes":{"pan":"`+p+`","exp_month":4,"exp_year":30}}}`, bearer)
		var doc struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if status != 201 || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("create: %d %s", status, b)
		}
		return doc.Data.ID
	}
	shopBearer, otherBearer := bearerToken(t, g, shop), bearerToken(t, g, other)
	var visa []string
	for _, p := range []string{"4111111111111111", "5555555555554444", "378282246310005"} {
		visa = append(visa, create(shopBearer, p))
	}
	jcb := create(shopBearer, "3530111333300000")
	otherCard := create(otherBearer, "4111111111111111")
	g.stop(t)

	env2 := testEnv(map[string]string{"ALIASGATE_CARDS_NETWORK_TOKEN_ACCOUNTS": "acct_1", "ALIASGATE_CARDS_PROVISION_STORED": "true"})
	g = startGateway(t, env2, "--data-dir", data)
	shopBearer, otherBearer = bearerToken(t, g, shop), bearerToken(t, g, other)
	enrollment := func(bearer func(*http.Request), id string) string {
		t.Helper()
		status, b := call(t, "GET", g.inbound+"/cards/"+id, "", "", bearer)
		var doc struct {
			Data struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"data"`
		}
		if status != 200 || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("get: %d %s", status, b)
		}
		s, _ := doc.Data.Attributes["enrollment_status"].(string)
		return s
	}
	if !waitFor(20*time.Second, func() bool {
		for _, id := range visa {
			if enrollment(shopBearer, id) != "enrolled" {
				return false
			}
		}
		return enrollment(shopBearer, jcb) == "unsupported"
	}) {
		t.Fatalf("the stored cards were not provisioned:\n%s", g.stderr.String())
	}
	if s := enrollment(otherBearer, otherCard); s != "" {
		t.Errorf("another account's card: enrollment %q", s)
	}
	g.stop(t)
	if log := g.stderr.String(); !strings.Contains(log, `"network_tokens":3`) {
		t.Errorf("the provisioning is not logged")
	}
}

// TestSimulateRefusesStatusEventsThatChangeNothing: `aliasgate tsp
// simulate token-resumed` for an active token, or token-suspended for a
// suspended one, is refused with a clear error (409 through the admin
// listener, the CLI failing with the reason) and records nothing; the
// transitions that change the state work, and a token deleted is refused
// every event. Before, the no-op events answered success (only a missing
// card_update_id told the operator nothing happened).
func TestSimulateRefusesStatusEventsThatChangeNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_CARDS_NETWORK_TOKENS": "true", "ALIASGATE_ADMIN_TOKEN": adminToken})
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1",
		"--scopes", "cards:read,cards:write,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, shop)
	status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"4111111111111111","exp_month":4,"exp_year":30}}}`, bearer)
	var doc struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("create: %d %s", status, b)
	}
	updates := func() int {
		t.Helper()
		status, b := call(t, "GET", g.inbound+"/cards/"+doc.Data.ID+"?include=card_updates", "", "", bearer)
		var d struct{ Included []any }
		if status != 200 || json.Unmarshal(b, &d) != nil {
			t.Fatalf("GET: %d %s", status, b)
		}
		return len(d.Included)
	}
	simulate := func(event string) (string, error) {
		t.Helper()
		out, errOut, err := runCmd(t, env, "tsp", "simulate", event, "--account", "acct_1", "--card", doc.Data.ID, "--admin", g.admin)
		return out + errOut, err
	}
	refused := func(event, why string) {
		t.Helper()
		n := updates()
		out, err := simulate(event)
		if err == nil || !strings.Contains(out+err.Error(), why) {
			t.Errorf("%s: %v %q, want a refusal saying %q", event, err, out, why)
		}
		if updates() != n {
			t.Errorf("%s: a refused event recorded a card update", event)
		}
		status, b := call(t, "POST", g.admin+"/admin/tsp/simulate", "application/json",
			`{"account":"acct_1","card_id":"`+doc.Data.ID+`","event":"`+event+`"}`,
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adminToken) })
		if status != http.StatusConflict || !strings.Contains(string(b), why) {
			t.Errorf("%s through the admin endpoint: %d %s, want 409", event, status, b)
		}
	}
	ok := func(event string) {
		t.Helper()
		if out, err := simulate(event); err != nil {
			t.Fatalf("%s: %v %s", event, err, out)
		}
	}
	refused("token-resumed", "the network token is active")
	ok("token-suspended")
	refused("token-suspended", "the network token is already suspended")
	ok("token-resumed")
	refused("token-resumed", "the network token is active")
	ok("token-deleted")
	for _, ev := range []string{"token-resumed", "token-suspended", "token-deleted"} {
		if out, err := simulate(ev); err == nil {
			t.Errorf("%s of a deleted token: accepted %s", ev, out)
		}
	}
}
