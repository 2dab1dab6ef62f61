package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestVolatileStoreFloodEvictsTheOldest: a gateway whose volatile store
// holds 5 values keeps tokenizing CVCs after a flood (the oldest are
// evicted and counted), and refuses whole a request over
// limits.max_volatile_per_message.
func TestVolatileStoreFloodEvictsTheOldest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "5", "ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "3"})
	c := createClient(t, env, dir, "--name", "flood", "--account", "acct_flood", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")
	auth := func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) }
	create := func(values ...string) (int, []string, string) {
		items := make([]string, len(values))
		for i, v := range values {
			items[i] = `{"value":"` + v + `","storage":"VOLATILE"}`
		}
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[`+strings.Join(items, ",")+`]}`, auth)
		var created struct {
			Data []struct{ Aliases []struct{ Alias string } }
		}
		_ = json.Unmarshal(body, &created)
		var aliases []string
		for _, d := range created.Data {
			aliases = append(aliases, d.Aliases[0].Alias)
		}
		return status, aliases, string(body)
	}
	var flood []string
	for i := range 8 {
		status, aliases, body := create(fmt.Sprintf("%03d", i))
		if status != 201 || len(aliases) != 1 {
			t.Fatalf("CVC %d into a store of 5: %d %s", i, status, body)
		}
		flood = append(flood, aliases[0])
	}
	for i, a := range flood {
		status, _ := call(t, "GET", g.inbound+"/aliases/"+a, "", "", auth)
		if want := map[bool]int{true: 404, false: 200}[i < 3]; status != want {
			t.Errorf("reveal of CVC %d: %d, want %d (the three oldest evicted)", i, status, want)
		}
	}
	if status, _, body := create("900", "901", "902", "903"); status < 400 || status >= 500 {
		t.Fatalf("4 CVCs in one request with limits.max_volatile_per_message 3: %d %s", status, body)
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if !strings.Contains(string(metrics), "aliasgate_vault_volatile_evictions_total 3") {
		t.Errorf("metrics lack aliasgate_vault_volatile_evictions_total 3")
	}
}

// TestVolatileStoreFloodThroughARoute: the README's `items.#.cvc` route
// keeps redacting CVCs past vault.volatile_max_records, and a body with
// more CVCs than limits.max_volatile_per_message is refused whole without
// reaching the upstream.
func TestVolatileStoreFloodThroughARoute(t *testing.T) {
	var calls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer upstream.Close()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(`routes:
  - id: shop
    direction: inbound
    host: "*"
    upstream: `+upstream.URL+`
    filters:
      - id: cvc-in
        match: {content_type: json}
        operation: redact
        targets:
          - {json: items.#.cvc, storage: volatile}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "5", "ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "3"})
	g := startGateway(t, env, "--data-dir", filepath.Join(dir, "data"))
	body := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"cvc":"%03d"}`, i)
		}
		return `{"items":[` + strings.Join(items, ",") + `]}`
	}
	for i := range 3 { // 9 CVCs into a store of 5
		if status, got := call(t, "POST", g.inbound+"/checkout", "application/json", body(3), nil); status != 200 {
			t.Fatalf("request %d of 3 CVCs: %d %s", i, status, got)
		}
	}
	status, got := call(t, "POST", g.inbound+"/checkout", "application/json", body(4), nil)
	if status < 400 || status >= 500 || calls.Load() != 3 {
		t.Fatalf("4 CVCs with limits.max_volatile_per_message 3: %d %s, upstream calls %d", status, got, calls.Load())
	}
	t.Logf("4 CVCs refused: %d %s", status, got)
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if !strings.Contains(string(metrics), "aliasgate_vault_volatile_evictions_total 4") {
		t.Errorf("metrics lack aliasgate_vault_volatile_evictions_total 4")
	}
}
