package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVolatileStoreFloodEvictsTheOldest: a gateway whose volatile store
// holds 5 values keeps tokenizing CVCs after a flood (the oldest are
// evicted and counted), and refuses whole a request over
// limits.max_volatile_per_message.
func TestVolatileStoreFloodEvictsTheOldest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "5", "ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "3",
		"ALIASGATE_LIMITS_ACCOUNT_VOLATILE_SHARE": "0"}) // one account: a test of the store's bound
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
	routesFile := cvcRoute(t, dir, upstream.URL, "")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "5", "ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "3",
		"ALIASGATE_LIMITS_ACCOUNT_VOLATILE_SHARE": "0"}) // one account: a test of the store's bound
	g := startGateway(t, env, "--data-dir", filepath.Join(dir, "data"))
	body := cvcItems
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

// TestVolatileFloodWhileOthersCheckOut: two anonymous senders flood the
// README's items.#.cvc route with as many CVCs per message as a message
// may hold, without pause, while other customers check out through the
// same gateway: every checkout is tokenized (200) and its CVC alias
// reveals right after, the flood's oversized messages are refused whole,
// and the store holds its bound by evicting the oldest values. The
// senders and the checkouts share 127.0.0.1, so the per-source bucket of
// volatile values, which would refuse the flood (and the checkouts with
// it: abuse_volatile_test.go), is off: this is the store's bound at work.
func TestVolatileFloodWhileOthersCheckOut(t *testing.T) {
	var upstreamCalls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		b := make([]byte, 1<<20)
		n, _ := io.ReadFull(r.Body, b)
		w.Write(b[:n]) // echoes the aliases
	}))
	defer upstream.Close()
	dir := t.TempDir()
	routesFile := cvcRoute(t, dir, upstream.URL, "/shop")
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "5000", "ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "200",
		"ALIASGATE_LIMITS_SOURCE_VOLATILE_VALUES": "0", "ALIASGATE_LIMITS_ACCOUNT_VOLATILE_SHARE": "0"})
	c := createClient(t, env, data, "--name", "reveal", "--account", "acct_1", "--scopes", "aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	body := cvcItems
	stop := make(chan struct{})
	var flooded, refused atomic.Int64
	var wg sync.WaitGroup
	for f := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			full, over := body(200), body(201)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := full
				if f == 1 && i%10 == 0 {
					msg = over // the oversized request, now and then
				}
				st, _ := callNoFatal("POST", g.inbound+"/shop/flood", "application/json", msg, nil)
				switch st {
				case 200:
					flooded.Add(200)
				case http.StatusUnprocessableEntity:
					refused.Add(1)
				}
			}
		}()
	}
	// Checkouts go on until the flood has pushed the store past its bound
	// (at least 30 of them): on a loaded machine 30 checkouts can end before
	// the flood has sent 5,000 CVCs or had an oversized message refused,
	// which is not what this test is about.
	// The deadline only stops a hang; nothing here is timed.
	hang := time.Now().Add(3 * time.Minute)
	checkouts := 0
	for i := 0; i < 30 || flooded.Load() < 6000 || refused.Load() == 0; i++ {
		if time.Now().After(hang) {
			close(stop)
			wg.Wait()
			t.Fatalf("after %d checkouts the flood had tokenized only %d CVCs", i, flooded.Load())
		}
		checkouts++
		st, echoed := callNoFatal("POST", g.inbound+"/shop/checkout", "application/json", `{"items":[{"cvc":"737"}]}`, nil)
		var doc struct{ Items []struct{ CVC string } }
		if st != 200 || json.Unmarshal(echoed, &doc) != nil || len(doc.Items) != 1 || doc.Items[0].CVC == "737" {
			close(stop)
			wg.Wait()
			t.Fatalf("checkout %d during the flood: %d %s", i, st, echoed)
		}
		st, revealed := callNoFatal("GET", g.inbound+"/aliases/"+doc.Items[0].CVC, "", "", func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
		if st != 200 || !strings.Contains(string(revealed), `"value":"737"`) {
			close(stop)
			wg.Wait()
			t.Fatalf("checkout %d: its CVC did not reveal: %d %s", i, st, revealed)
		}
	}
	close(stop)
	wg.Wait()
	if flooded.Load() < 5000 || refused.Load() == 0 {
		t.Fatalf("the flood tokenized %d CVCs (want past the store's 5000) and had %d messages refused (want some)", flooded.Load(), refused.Load())
	}
	// The store kept its bound by evicting: everything past 5000 (plus the
	// checkouts) pushed out an older value.
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	var evicted int64
	for _, l := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(l, "aliasgate_vault_volatile_evictions_total "); ok {
			fmt.Sscan(v, &evicted)
		}
	}
	if min := flooded.Load() + int64(checkouts) - 5000; evicted < min {
		t.Fatalf("%d evictions, want at least %d for the store to hold its bound", evicted, min)
	}
	t.Logf("flood: %d CVCs tokenized, %d evicted, %d oversized messages refused; %d checkouts tokenized and revealed",
		flooded.Load(), evicted, refused.Load(), checkouts)
}

// cvcRoute writes, in dir, a routes file of one inbound route to upstream
// (under pathPrefix, or every path when it is empty; with more keys of the
// route, such as "account: acct_b") that redacts the README's
// items.#.cvc as volatile values, and returns its path.
func cvcRoute(t *testing.T, dir, upstream, pathPrefix string, more ...string) string {
	t.Helper()
	prefix := ""
	if pathPrefix != "" {
		prefix = "\n    path_prefix: " + pathPrefix
	}
	for _, k := range more {
		prefix += "\n    " + k
	}
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(`routes:
  - id: shop
    direction: inbound
    host: "*"`+prefix+`
    upstream: `+upstream+`
    filters:
      - id: cvc-in
        match: {content_type: json}
        operation: redact
        targets:
          - {json: items.#.cvc, storage: volatile}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return routesFile
}

// cvcItems is a body of n CVCs for cvcRoute: {"items":[{"cvc":"000"},…]}.
func cvcItems(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"cvc":"%03d"}`, i%1000)
	}
	return `{"items":[` + strings.Join(items, ",") + `]}`
}
