package config

import (
	"strings"
	"testing"
)

// TestWarningsNameProtectionsTurnedOffAndEnvOverrides: a valid
// configuration that turns a protection off, or whose file an environment
// variable overrides, says so (serve logs Warnings at start), naming the
// key and where it was set, never a value. The defaults warn of nothing.
func TestWarningsNameProtectionsTurnedOffAndEnvOverrides(t *testing.T) {
	if w := Default().Warnings(); len(w) != 0 {
		t.Errorf("the defaults warn: %q", w)
	}
	path := writeFile(t, `data_dir: ./d
vault_id: tnt-file
outbound:
  require_auth: false
  allow_private_destinations: true
webhooks:
  allow_insecure_http: true
`)
	c, err := Load(path, env(map[string]string{
		"ALIASGATE_VAULT_ID":                            "tnt-env-secretish",
		"ALIASGATE_AUDIT_ENABLED":                       "false",
		"ALIASGATE_WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{
		"audit log disabled (audit.enabled: false): reveals and deletes are not recorded (set by ALIASGATE_AUDIT_ENABLED)",
		"outbound.require_auth: false): any process that reaches it has its requests' aliases revealed, for the default account (line 4)",
		"(outbound.allow_private_destinations: true) (line 5)",
		"(webhooks.allow_private_destinations: true) (set by ALIASGATE_WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS)",
		"(webhooks.allow_insecure_http: true) (line 7)",
		"vault_id: ALIASGATE_VAULT_ID overrides the value set on line 2 of the configuration file",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "tnt-") {
		t.Errorf("a warning quotes a value:\n%s", w)
	}
	if n := len(c.Warnings()); n != 6 {
		t.Errorf("%d warnings, want 6:\n%s", n, w)
	}
}
