package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The vaults of testdata/premigration-accounts were written by main before
// accounts existed (issue 18), with clients and cards in two accounts:
// acct_1 has card1 (378282246310005) and card3 (5555555555554444), acct_2
// card2 (4111111111111111, with a network token) and card4
// (5555555555554444: the same PAN as card3, so before accounts both cards
// referenced one alias); each account's API client made one alias through
// the vault API that no card references. The default account is `default`
// (clients were in several accounts), or acct_1 when default_account says
// so. After the upgrade every card works for its own account (PCI read,
// network token, cryptogram, outbound reveal of its alias), and no account
// reaches another's records.

// The values behind the fixture's aliases.
var premigrationAccountsPANs = map[string]string{
	"card1": "378282246310005", "card3": "5555555555554444", "card2": "4111111111111111", "card4": "5555555555554444",
}

func TestPremigrationAccountsBolt(t *testing.T) {
	premigrationAccounts(t, "bolt", nil, "")
}

func TestPremigrationAccountsBoltDefaultAccount(t *testing.T) {
	premigrationAccounts(t, "bolt", nil, "acct_1")
}

func TestPremigrationAccountsPostgresAndRedis(t *testing.T) {
	pgURL := testPostgresURL(t)
	dump, err := os.ReadFile(filepath.Join("testdata", "premigration-accounts", "postgres", "dump.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(dump)); err != nil { // simple protocol: the whole dump at once
		t.Fatalf("load the dump: %v", err)
	}
	conn.Close(ctx)
	premigrationAccounts(t, "postgres", map[string]string{"ALIASGATE_VAULT_STORE": "postgres", "ALIASGATE_VAULT_POSTGRES_URL": pgURL,
		"ALIASGATE_VAULT_VOLATILE": "redis", "ALIASGATE_VAULT_REDIS_URL": testRedisURL(), "ALIASGATE_VAULT_REDIS_PREFIX": "agtest" + randomHex(6) + ":"}, "")
}

func premigrationAccounts(t *testing.T, kind string, extra map[string]string, defaultAccount string) {
	base := filepath.Join("testdata", "premigration-accounts", kind)
	var fx map[string]string
	b, err := os.ReadFile(filepath.Join(base, "fixture.json"))
	if err != nil || json.Unmarshal(b, &fx) != nil {
		t.Fatalf("fixture: %v", err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	copyDir(t, filepath.Join(base, "data"), data)
	psp := newRecorder(t)
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    unsafe_reveal_over_plain_http: true # the processor stand-in speaks plain HTTP
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
`), 0o600)
	// audit.max_age off: the fixture's audit log began when it was written
	// (2026-12-05), and the default 24 h rotated it into another file at
	// the first append a day later, which the line count below does not
	// read (TestPremigrationBoltVaultKeepsWorking failed so on 2026-12-06).
	vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
		"ALIASGATE_AUDIT_MAX_AGE": "0"}
	if defaultAccount != "" {
		vars["ALIASGATE_DEFAULT_ACCOUNT"] = defaultAccount
	}
	for k, v := range extra {
		vars[k] = v
	}
	env := testEnv(vars)
	cred := func(name string) credential { return credential{ID: fx[name+"_id"], Secret: fx[name+"_secret"]} }
	acctOf := map[string]string{"card1": "1", "card3": "1", "card2": "2", "card4": "2"}
	const jsonAPI = "application/vnd.api+json"

	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	if !strings.Contains(g.stderr.String(), `"msg":"accounts migration done"`) {
		t.Fatalf("the gateway did not run the accounts migration:\n%s", g.stderr.String())
	}
	// Every card of each account: its PCI client reads the PAN, and the
	// pan_alias it answers now is its account's.
	panAlias := map[string]string{}
	for card, acct := range acctOf {
		pci := bearerToken(t, g, cred("pci"+acct))
		status, body := call(t, "GET", g.inbound+"/cards/"+fx[card+"_id"], "", "", pci)
		var doc struct {
			Data struct{ Attributes map[string]any }
		}
		if status != 200 || json.Unmarshal(body, &doc) != nil || doc.Data.Attributes["pan"] != premigrationAccountsPANs[card] {
			t.Fatalf("%s read by its own PCI client after the upgrade: %d %s", card, status, body)
		}
		panAlias[card], _ = doc.Data.Attributes["pan_alias"].(string)
		// Its plain client gets a network token and a cryptogram.
		plain := bearerToken(t, g, cred("plain"+acct))
		if status, body = call(t, "POST", g.inbound+"/cards/"+fx[card+"_id"]+"/network-tokens", jsonAPI, "", plain); status != 200 && status != 201 {
			t.Fatalf("%s's network token: %d %s", card, status, body)
		}
		if status, body = call(t, "POST", g.inbound+"/cards/"+fx[card+"_id"]+"/cryptogram", jsonAPI, `{"data":{"attributes":{}}}`, plain); status != 200 && status != 201 {
			t.Fatalf("%s's cryptogram: %d %s", card, status, body)
		}
		// The other account's clients reach neither the card nor its alias.
		other := map[string]string{"1": "2", "2": "1"}[acct]
		if status, body = call(t, "GET", g.inbound+"/cards/"+fx[card+"_id"], "", "", bearerToken(t, g, cred("pci"+other))); status != 404 {
			t.Fatalf("%s read by the other account: %d %s", card, status, body)
		}
		if status, body = call(t, "GET", g.inbound+"/aliases/"+panAlias[card], "", "", basicAuth(cred("api"+other))); status != 404 {
			t.Fatalf("%s's pan_alias revealed by the other account: %d %s", card, status, body)
		}
		// Its own API client reveals it.
		if status, body = call(t, "GET", g.inbound+"/aliases/"+panAlias[card], "", "", basicAuth(cred("api"+acct))); status != 200 ||
			!strings.Contains(string(body), premigrationAccountsPANs[card]) {
			t.Fatalf("%s's pan_alias revealed by its account: %d %s", card, status, body)
		}
	}
	// Cards one account alone referenced keep their alias (the record is
	// now that account's); the alias card3 and card4 shared stays the
	// default account's, and each non-default account's card got its own.
	for _, card := range []string{"card1", "card2"} {
		if panAlias[card] != fx[card+"_pan_alias"] {
			t.Errorf("%s's pan_alias changed: %s, was %s", card, panAlias[card], fx[card+"_pan_alias"])
		}
	}
	sharedAlias := fx["card3_pan_alias"]
	if panAlias["card4"] == sharedAlias || panAlias["card4"] == panAlias["card3"] {
		t.Errorf("card4 still shares an alias: %s (card3 %s, before %s)", panAlias["card4"], panAlias["card3"], sharedAlias)
	}
	if (defaultAccount == "acct_1") != (panAlias["card3"] == sharedAlias) {
		t.Errorf("card3's pan_alias %s (before %s): the default account %q keeps the shared alias, another account gets a copy",
			panAlias["card3"], sharedAlias, defaultAccount)
	}
	status, _ := call(t, "GET", g.inbound+"/aliases/"+sharedAlias, "", "", basicAuth(cred("api1")))
	if want := map[bool]int{true: 200, false: 404}[defaultAccount == "acct_1"]; status != want {
		t.Errorf("acct_1 reveals the shared alias: %d, want %d", status, want)
	}
	if status, _ := call(t, "GET", g.inbound+"/aliases/"+sharedAlias, "", "", basicAuth(cred("api2"))); status != 404 {
		t.Errorf("acct_2 reveals the alias left to the default account: %d", status)
	}
	// Vault API aliases no card references stay the default account's.
	for _, a := range []string{"1", "2"} {
		want := 404
		if a == "1" && defaultAccount == "acct_1" {
			want = 200
		}
		if status, body := call(t, "GET", g.inbound+"/aliases/"+fx["api"+a+"_alias"], "", "", basicAuth(cred("api"+a))); status != want {
			t.Errorf("acct_%s's vault API alias: %d %s, want %d", a, status, body, want)
		}
	}
	// Determinism within the account: acct_2's tokenize of card2's PAN
	// gives the card's alias, now that the record is acct_2's.
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"4111111111111111"}]}`, basicAuth(cred("api2")))
	if status != 201 || !strings.Contains(string(body), `"alias":"`+panAlias["card2"]+`"`) {
		t.Errorf("acct_2's tokenize of card2's PAN: %d %s; want %s", status, body, panAlias["card2"])
	}
	// Outbound: each account's proxy client reveals its own card's alias,
	// and the other's alias reaches the processor as it was sent, never
	// revealed.
	proxy := func(c credential) *http.Client {
		u, _ := url.Parse(g.outbound)
		u.User = url.UserPassword(c.ID, c.Secret)
		return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
	}
	send := func(c credential, alias string) int {
		res, err := proxy(c).Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+alias+`"}}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := send(cred("outbound2"), panAlias["card2"]); st != 200 {
		t.Fatalf("acct_2's outbound reveal of card2: %d", st)
	}
	if st := send(cred("outbound1"), panAlias["card2"]); st == 200 {
		t.Fatalf("acct_1's outbound client revealed acct_2's card alias: %d", st)
	}
	for _, got := range psp.bodies() {
		if got != `{"card":{"number":"4111111111111111"}}` {
			t.Fatalf("the processor got %q", got)
		}
	}
	if n := len(psp.bodies()); n != 1 {
		t.Fatalf("the processor got %d requests, want acct_2's only", n)
	}
	g.stop(t)

	// A restart does not run the migration again, and everything still
	// works.
	g = startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	if strings.Contains(g.stderr.String(), "accounts migration done") {
		t.Fatalf("the migration ran again:\n%s", g.stderr.String())
	}
	for card, acct := range acctOf {
		status, body := call(t, "GET", g.inbound+"/cards/"+fx[card+"_id"], "", "", bearerToken(t, g, cred("pci"+acct)))
		if status != 200 || !strings.Contains(string(body), premigrationAccountsPANs[card]) {
			t.Fatalf("%s after a restart: %d %s", card, status, body)
		}
	}
	g.stop(t)
	lines := auditLines(t, filepath.Join(data, "audit.log"))
	if stdout, _, err := runCmd(t, env, "audit", "verify", "--data-dir", data); err != nil || stdout != "ok, "+itoa(len(lines))+" lines\n" {
		t.Fatalf("audit verify across the migration = %q, %v", stdout, err)
	}
}
