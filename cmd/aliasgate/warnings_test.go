package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProtectionsTurnedOffAreSaidAtStart: a gateway whose configuration
// turns a protection off (outbound.require_auth, private destinations, a
// route's leak guard) or whose file an environment variable overrides
// started without a word of it (only audit.enabled: false was warned
// about); serve now logs each at start, and config check prints them.
func TestProtectionsTurnedOffAreSaidAtStart(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	os.WriteFile(cfgFile, []byte(`data_dir: `+filepath.Join(dir, "data")+`
vault_id: tnt-file
outbound:
  require_auth: false
routes:
  - {id: shop, direction: inbound, host: "*", path_prefix: /shop, upstream: "http://127.0.0.1:1", leak_guard: "off"}
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_VAULT_ID": "tnt-env", "ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"})
	wants := []string{
		"the outbound proxy asks for no credentials (outbound.require_auth: false)",
		"(outbound.allow_private_destinations: true) (set by ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS)",
		"vault_id: ALIASGATE_VAULT_ID overrides the value set on line 2 of the configuration file",
		"route shop (line 6): leak_guard is off",
	}
	g := startGateway(t, env, "--config", cfgFile)
	g.stop(t)
	_, stderr, err := runCmd(t, env, "config", "check", "--config", cfgFile)
	if err != nil {
		t.Fatalf("config check: %v", err)
	}
	for _, want := range wants {
		if !strings.Contains(g.stderr.String(), want) {
			t.Errorf("serve did not say %q", want)
		}
		if !strings.Contains(stderr, want) {
			t.Errorf("config check did not say %q:\n%s", want, stderr)
		}
	}
}
