package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestAShareHoldsAWholeExchange: one sender's share of the body budget
// was never less than the largest body one request makes the gateway read
// (newBodyBudget), but one exchange holds more than one body at once: its
// request body as the route's phase read it (kept until the exchange is
// over) and its response as the phase reads it, and behind a route in
// front of the vault API the API's own copy of the document too
// (proxy.HoldBodies), the API still holding it while the phase reads its
// answer. Under a share of one max_body (1 MiB of a 4 MiB budget) an
// 800 KiB document echoed by an upstream through a route with the leak
// guard on was answered 502 source_busy with nothing else in flight, and
// an 800 KiB create through a route to internal:aliases was stored and
// then its answer withheld (502 source_busy, with a Retry-After that
// never helps: the retry stores the value again, and is refused again).
// Both are answered.
func TestAShareHoldsAWholeExchange(t *testing.T) {
	limits := map[string]string{
		"ALIASGATE_LIMITS_MAX_BODY":              "1MiB",
		"ALIASGATE_LIMITS_MAX_BUFFERED_BYTES":    "4MiB",
		"ALIASGATE_LIMITS_SOURCE_BUFFERED_SHARE": "25",
	}
	env := func(more map[string]string) func(string) string {
		m := map[string]string{}
		for k, v := range limits {
			m[k] = v
		}
		for k, v := range more {
			m[k] = v
		}
		return testEnv(m)
	}

	t.Run("a document echoed by an upstream", func(t *testing.T) {
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.Copy(w, r.Body)
		}))
		defer echo.Close()
		dir := t.TempDir()
		rf := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: echo
    direction: inbound
    host: "*"
    path_prefix: /echo
    upstream: `+echo.URL+`
    leak_guard: log
`))
		g := startGateway(t, env(map[string]string{"ALIASGATE_ROUTES_FILE": rf}), "--data-dir", filepath.Join(dir, "data"))
		doc := `{"pad":"` + strings.Repeat("x", 800<<10) + `"}`
		status, body := call(t, "POST", g.inbound+"/echo", "application/json", doc, nil)
		if status != http.StatusOK || string(body) != doc {
			t.Errorf("an %d KiB document echoed with nothing else in flight: %d %.300s, want 200 and the document", len(doc)>>10, status, body)
		}
		waitBudget(t, g, "the bodies to be given back", func(used, _ int64) bool { return used == 0 })
	})

	t.Run("a create through a route to the vault API", func(t *testing.T) {
		dir := t.TempDir()
		rf := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: aliases-read
    direction: inbound
    host: read.example
    path_prefix: /aliases
    upstream: internal:aliases
    leak_guard: log
`))
		e := env(map[string]string{"ALIASGATE_ROUTES_FILE": rf, "ALIASGATE_VAULT_API_ENABLED": "true"})
		data := filepath.Join(dir, "data")
		cred := createClient(t, e, data, "--name", "shop", "--scopes", "aliases:write")
		g := startGateway(t, e, "--data-dir", data)
		// 400 KiB of '\', each written "\\": a document of 800 KiB, whose
		// answer holds the value again.
		doc := `{"data":[{"value":"` + strings.Repeat(`\\`, 400<<10) + `","format":"UUID"}]}`
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json", doc, func(r *http.Request) {
			r.SetBasicAuth(cred.ID, cred.Secret)
			r.Host = "read.example"
		})
		if status != http.StatusCreated {
			t.Errorf("an %d KiB create through the route with nothing else in flight: %d %.300s, want 201", len(doc)>>10, status, body)
		}
		waitBudget(t, g, "the bodies to be given back", func(used, _ int64) bool { return used == 0 })
	})
}
