package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoutesAppliedThroughTheInspectorAreAudited: a route set applied
// through the inspector's API changes what the proxies reveal (a response
// reveal filter, here), so the audit log records it, naming the admin
// listener as the actor. With inline routes the set was stored without any
// audit line; with a routes file only the reload's line was written, as
// the system's.
func TestRoutesAppliedThroughTheInspectorAreAudited(t *testing.T) {
	const applied = `routes:
  - id: shop
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
    filters:
      - {id: show, phase: response, operation: reveal, targets: [{json: card.number}]}
  - id: other
    direction: inbound
    host: other.example
    upstream: http://127.0.0.1:1
`
	check := func(t *testing.T, g *gatewayProc, data string) {
		t.Helper()
		status, b := inspectorCall(t, g, "POST", "/ui/api/apply", map[string]any{"yaml": applied})
		if status != 200 {
			t.Fatalf("apply: %d %s", status, b)
		}
		g.stop(t)
		found := false
		for _, l := range auditLines(t, filepath.Join(data, "audit.log")) {
			if l["event"] == "routes_reloaded" && l["actor"] == "admin" {
				if l["routes"] != 2.0 || l["reason"] != "inspector" || l["outcome"] != "ok" {
					t.Errorf("the apply's audit line: %v", l)
				}
				found = true
			}
		}
		if !found {
			t.Fatalf("no routes_reloaded line with actor admin for the apply: %v", auditLines(t, filepath.Join(data, "audit.log")))
		}
	}
	t.Run("inline routes", func(t *testing.T) {
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		cfg := filepath.Join(dir, "aliasgate.yaml")
		doc := "data_dir: " + data + "\nadmin: {ui: true, token: " + testAdminToken + "}\n" +
			"routes:\n  - {id: shop, direction: inbound, host: \"*\", upstream: \"http://127.0.0.1:1\"}\n"
		if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		g := startGateway(t, testEnv(nil), "--config", cfg)
		check(t, g, data)
	})
	t.Run("routes file", func(t *testing.T) {
		g, routesFile := inspectorGateway(t, "routes: []\n", nil)
		data := filepath.Join(filepath.Dir(routesFile), "data")
		check(t, g, data)
		if b, _ := os.ReadFile(routesFile); !strings.Contains(string(b), "id: other") {
			t.Errorf("the routes file was not written: %s", b)
		}
	})
}
