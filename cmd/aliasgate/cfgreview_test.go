package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestConfigAndRouteProblemsNeverEchoACardNumber: a card number pasted
// into the wrong place of a configuration or routes file (a key, a value,
// a route id) is refused, and the problem printed names the key and line
// without the number.
func TestConfigAndRouteProblemsNeverEchoACardNumber(t *testing.T) {
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: "4111111111111111"
    direction: 4111 1111 1111 1111
    host: "*"
    upstream: http://127.0.0.1:1
    leak_guard: "4111-1111-1111-1111"
    filters:
      - id: "5555555555554444"
        group: "4111111111111111"
        operation: redact
        targets: [{regex: '\d+', luhn: "4111111111111111"}]
`), 0o600)
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte(`data_dir: `+dir+`
4111111111111111: x
limits:
  read_timeout: 4111111111111111
  max_body: "4111 1111 1111 1111 B"
vault:
  redis_prefix: "4111111111111111 x"
`), 0o600)
	for _, args := range [][]string{
		{"routes", "validate", routesFile},
		{"config", "check", "--config", cfgFile},
	} {
		stdout, stderr, err := runCmd(t, testEnv(nil), args...)
		if err == nil {
			t.Fatalf("%v: accepted", args)
		}
		var shown strings.Builder
		if code := exitCode(err, &shown); code != 1 {
			t.Errorf("%v: exit code %d", args, code)
		}
		all := stdout + stderr + err.Error() + shown.String()
		if pan.ContainsAllString(all) {
			t.Errorf("%v: a card number is shown:\n%s", args, all)
		}
		if !strings.Contains(all, "line") && !strings.Contains(all, ".yaml:") {
			t.Errorf("%v: no line named:\n%s", args, all)
		}
	}
}
