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

// The vaults of testdata/premigration were written by main before accounts
// existed (issue 18): three clients of acct_1, two aliases and a card. A
// gateway of this version opens them, everything keeps working for the
// clients, and the records are the default account's, which is acct_1 (the
// account every existing client shared). The audit log, with its lines from
// before, still verifies.

type premigrationFixture struct {
	APIID          string `json:"api_id"`
	APISecret      string `json:"api_secret"`
	PCIID          string `json:"pci_id"`
	PCISecret      string `json:"pci_secret"`
	OutboundID     string `json:"outbound_id"`
	OutboundSecret string `json:"outbound_secret"`
	FPEAlias       string `json:"fpe_alias"`
	UUIDAlias      string `json:"uuid_alias"`
	CardID         string `json:"card_id"`
	CardPANAlias   string `json:"card_pan_alias"`
}

// The values behind the fixture's aliases.
const (
	premigrationFPEValue  = "4111111111111111"
	premigrationUUIDValue = "5555555555554444"
	premigrationCardPAN   = "378282246310005"
)

// copyDir copies the files of a fixture's data dir src into a new dir,
// keeping their modes, but for the gateway CA (ca.pem, ca.key): the
// fixtures' CAs expire ten years after they were written (2036-12-05),
// and serve refuses an expired CA; the tests reveal over plain HTTP and
// never use it, so serve makes a new one.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == caCertFile || e.Name() == caKeyFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPremigrationBoltVaultKeepsWorking(t *testing.T) {
	premigration(t, "bolt", nil)
}

func TestPremigrationPostgresVaultKeepsWorking(t *testing.T) {
	pgURL := testPostgresURL(t)
	dump, err := os.ReadFile(filepath.Join("testdata", "premigration", "postgres", "dump.sql"))
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
	premigration(t, "postgres", map[string]string{"ALIASGATE_VAULT_STORE": "postgres", "ALIASGATE_VAULT_POSTGRES_URL": pgURL})
}

func premigration(t *testing.T, kind string, extra map[string]string) {
	base := filepath.Join("testdata", "premigration", kind)
	var fx premigrationFixture
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
	// the first append a day later, where the lines from before the
	// migration are looked for below.
	vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
		"ALIASGATE_AUDIT_MAX_AGE": "0"}
	for k, v := range extra {
		vars[k] = v
	}
	env := testEnv(vars)

	// A client of another account, and one made without --account: the
	// default account is acct_1, the one the existing clients share.
	other := createClient(t, env, data, "--name", "other", "--account", "acct_2", "--scopes", "aliases:write,aliases:reveal")
	later := createClient(t, env, data, "--name", "later", "--scopes", "aliases:write,aliases:reveal")
	list, _ := clientsListOf(t, env, "--data-dir", data)
	if list[later.ID].Account != "acct_1" || list[other.ID].Account != "acct_2" || list[fx.APIID].Account != "acct_1" {
		t.Fatalf("accounts after the migration: later %q, other %q, api %q", list[later.ID].Account, list[other.ID].Account, list[fx.APIID].Account)
	}

	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	if !strings.Contains(g.stderr.String(), `"default_account":"acct_1"`) {
		t.Errorf("the gateway does not log the default account acct_1:\n%s", g.stderr.String())
	}
	api := func(r *http.Request) { r.SetBasicAuth(fx.APIID, fx.APISecret) }
	for alias, value := range map[string]string{fx.FPEAlias: premigrationFPEValue, fx.UUIDAlias: premigrationUUIDValue} {
		// The existing client reveals, as before.
		if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", api); status != 200 || !strings.Contains(string(body), `"value":"`+value+`"`) {
			t.Fatalf("reveal of a pre-account alias: %d %s", status, body)
		}
		// So does the new client of the default account; acct_2 does not.
		if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basicAuth(later)); status != 200 {
			t.Fatalf("the default account's new client: %d %s", status, body)
		}
		if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basicAuth(other)); status != 404 {
			t.Fatalf("acct_2 revealed a record of the default account: %d %s", status, body)
		}
	}
	// Determinism across the migration: the same values give the same
	// aliases, and no new record.
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+premigrationFPEValue+`","format":"FPE_SIX_T_FOUR"},{"value":"`+premigrationUUIDValue+`"}]}`, api)
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 ||
		created.Data[0].Aliases[0].Alias != fx.FPEAlias || created.Data[1].Aliases[0].Alias != fx.UUIDAlias {
		t.Fatalf("create of the existing values: %d %s; want %s and %s", status, body, fx.FPEAlias, fx.UUIDAlias)
	}
	// The card made before: its PCI client reads it, its PAN alias backs it.
	pci := bearerToken(t, g, credential{ID: fx.PCIID, Secret: fx.PCISecret})
	if status, body = call(t, "GET", g.inbound+"/cards/"+fx.CardID, "", "", pci); status != 200 || !strings.Contains(string(body), premigrationCardPAN) {
		t.Fatalf("the pre-account card: %d %s", status, body)
	}
	if status, body = call(t, "DELETE", g.inbound+"/aliases/"+fx.CardPANAlias, "", "", api); status != 409 {
		t.Fatalf("delete of the pre-account card's PAN alias: %d %s", status, body)
	}
	// The outbound client reveals on the way to the processor.
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(fx.OutboundID, fx.OutboundSecret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	res, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+fx.UUIDAlias+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := psp.bodies(); res.StatusCode != 200 || len(got) != 1 || got[0] != `{"card":{"number":"`+premigrationUUIDValue+`"}}` {
		t.Fatalf("outbound reveal: %d, processor got %q", res.StatusCode, got)
	}
	g.stop(t)

	// The audit log: the lines from before, then the new ones, which name
	// the account; it verifies as a whole.
	lines := auditLines(t, filepath.Join(data, "audit.log"))
	var before, after int
	for _, l := range lines {
		if l["event"] != "reveal" {
			continue
		}
		if _, ok := l["account"]; ok {
			after++
			if l["account"] != "acct_1" && l["account"] != "acct_2" {
				t.Errorf("reveal line of account %v", l["account"])
			}
		} else {
			before++
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("%d reveal lines from before the migration, %d after: want both", before, after)
	}
	if stdout, _, err := runCmd(t, env, "audit", "verify", "--data-dir", data); err != nil || stdout != "ok, "+itoa(len(lines))+" lines\n" {
		t.Fatalf("audit verify across the migration = %q, %v", stdout, err)
	}
}
