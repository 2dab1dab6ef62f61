package routes

import (
	"strings"
	"testing"
)

// TestLeakGuardOffIsWarned: a route whose leak guard is off lets card
// numbers no filter redacted pass without a log line; the set's warnings
// (logged at start and at each reload, printed by routes validate and
// config check) say so, naming the route and its line. A route on the
// default guard is not warned about.
func TestLeakGuardOffIsWarned(t *testing.T) {
	set := mustParse(t, `routes:
  - {id: shop, direction: inbound, host: "*", path_prefix: /shop, upstream: "http://127.0.0.1:1", leak_guard: "off"}
  - {id: api, direction: inbound, host: "*", path_prefix: /api, upstream: "http://127.0.0.1:1"}
`)
	w := strings.Join(set.Warnings(), "\n")
	if !strings.Contains(w, "route shop (line 2): leak_guard is off") {
		t.Errorf("no warning of route shop's leak guard off:\n%s", w)
	}
	if strings.Contains(w, "route api") {
		t.Errorf("a route on the default leak guard is warned about:\n%s", w)
	}
}
