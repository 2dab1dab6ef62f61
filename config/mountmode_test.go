package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubeMount lays content out as a Kubernetes ConfigMap or Secret volume
// does: <dir>/aliasgate.yaml is a link to ..data/aliasgate.yaml, ..data a
// link to a timestamped directory holding the file at mode.
func kubeMount(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	stamp := filepath.Join(dir, "..2026_12_06_21_00_00.123")
	if err := os.Mkdir(stamp, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(stamp, "aliasgate.yaml")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(stamp), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "aliasgate.yaml")
	if err := os.Symlink(filepath.Join("..data", "aliasgate.yaml"), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFileOnReadOnlyMounts: the secret-file rule of the
// configuration file on the mounts a deployment cannot chmod (DECISIONS: a
// configuration file holding a secret on a read-only mount). A ConfigMap
// (0644, through the ..data links) without a secret loads, its secrets
// given by the environment, and a Secret volume (0440 with an fsGroup, 0444
// as Docker's /run/secrets) holding the admin token is refused with the
// mode read through the links (regression cover, passed before). The fix
// it named besides chmod, "or set it in ALIASGATE_ADMIN_TOKEN", was
// refused again while the file still held the token: it now says to remove
// it from the file (failed before).
func TestConfigFileOnReadOnlyMounts(t *testing.T) {
	const token = "0123456789abcdef-admin"
	plainCfg := "data_dir: ./d\nvault:\n  store: postgres\n  postgres_url: postgres://gw@db.internal/aliasgate?sslmode=verify-full\n"
	path := kubeMount(t, plainCfg, 0o644)
	cfg, err := Load(path, env(map[string]string{"ALIASGATE_ADMIN_TOKEN": token,
		"ALIASGATE_VAULT_POSTGRES_URL": "postgres://gw:hunter2@db.internal/aliasgate"}))
	if err != nil {
		t.Fatalf("ConfigMap 0644 without a secret, secrets from the environment: %v", err)
	}
	if cfg.Admin.Token != token {
		t.Fatalf("admin.token = %q, want the variable's", cfg.Admin.Token)
	}
	for _, mode := range []os.FileMode{0o440, 0o444} {
		path := kubeMount(t, "data_dir: ./d\nadmin:\n  token: "+token+"\n", mode)
		_, err := Load(path, nil)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Fatalf("mode %04o: %v, want one problem", mode, err)
		}
		msg := ve.Problems[0].Message
		t.Logf("mode %04o: %s", mode, msg)
		for _, want := range []string{"remove it from the file and set ALIASGATE_ADMIN_TOKEN", "chmod 600", fmt.Sprintf("mode %04o", mode)} {
			if !strings.Contains(msg, want) {
				t.Errorf("mode %04o: %q does not say %q", mode, msg, want)
			}
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("mode %04o: the error holds the token", mode)
		}
	}
}
