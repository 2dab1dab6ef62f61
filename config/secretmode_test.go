package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestFileHoldingASecretMustNotBeReadableByOthers: a configuration file
// that holds a secret (admin.token, a password in vault.postgres_url or
// vault.redis_url) is a secret file: refused, naming the key, its line and
// the chmod, when its group or others may read it, as the master key, the
// CA key, the listeners' TLS keys and the webhook secret files are. It was
// read whatever its mode: any local user could read the admin token, and
// with it rotate-secret any client (SECURITY.md: a leaked admin token
// reveals card data). A file without a secret, or a secret set through
// the environment, is not concerned.
func TestFileHoldingASecretMustNotBeReadableByOthers(t *testing.T) {
	const token = "0123456789abcdef-admin"
	cases := []struct {
		name, content, key string
		line               int
	}{
		{"admin token", "data_dir: ./d\nadmin:\n  token: " + token + "\n", "admin.token", 3},
		{"postgres password", "vault:\n  store: postgres\n  postgres_url: postgres://gw:hunter2@db.internal/aliasgate\n", "vault.postgres_url", 3},
		{"postgres password parameter", "vault:\n  store: postgres\n  postgres_url: postgres://gw@db.internal/aliasgate?password=hunter2\n", "vault.postgres_url", 3},
		{"redis password", "vault:\n  volatile: redis\n  redis_url: redis://:hunter2@cache.internal:6379/0\n", "vault.redis_url", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.content)
			if _, err := Load(path, nil); err != nil {
				t.Fatalf("mode 0600: %v", err)
			}
			for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				_, err := Load(path, nil)
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("mode %04o: %v, want a ValidationError", mode, err)
				}
				p := ve.Problems[0]
				if len(ve.Problems) != 1 || p.Key != c.key || p.Line != c.line || !strings.Contains(p.Message, "chmod 600") {
					t.Errorf("mode %04o: %+v, want one problem at %s line %d naming chmod 600", mode, ve.Problems, c.key, c.line)
				}
				if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "hunter2") {
					t.Errorf("mode %04o: the error holds the secret: %v", mode, err)
				}
			}
		})
	}

	// Not concerned: no secret in the file (a URL without a password), or
	// the secret from the environment.
	path := writeFile(t, "data_dir: ./d\nvault:\n  store: postgres\n  postgres_url: postgres://gw@db.internal/aliasgate?sslmode=verify-full\n")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, env(map[string]string{"ALIASGATE_ADMIN_TOKEN": token})); err != nil {
		t.Errorf("a file without a secret, mode 0644, the token from the environment: %v", err)
	}
}
