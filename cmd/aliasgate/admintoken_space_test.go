package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminTokenThatCannotBeSentIsRefused: an admin.token with white space
// at either end, or a control character, can never be presented: the
// admin listener trims the token it reads (as HTTP clients trim header
// values), and a line break cannot be sent in a header at all. Such a token
// (a Kubernetes secret file's trailing newline, a quoted value with a
// space) used to start the gateway, whose admin endpoints then refused the
// configured token itself: the gateway's own "clients list" through its
// admin listener got 401 for the right token, counted as a wrong guess,
// and locked its address out after ten (seen with a trailing space), or
// could not send it (a trailing newline). Now the configuration is refused
// (config check, and serve at start), naming the key.
func TestAdminTokenThatCannotBeSentIsRefused(t *testing.T) {
	const tok = "0123456789abcdef0123"
	for name, v := range map[string]string{
		"trailing space":   tok + " ",
		"leading space":    " " + tok,
		"trailing newline": tok + "\n",
		"no-break space":   tok + "\u00a0",
		"tab inside":       tok[:8] + "\t" + tok[8:],
		"NUL inside":       tok[:8] + "\x00" + tok[8:],
	} {
		t.Run(name, func(t *testing.T) {
			env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": v})
			_, _, err := runCmd(t, env, "config", "check", "--config", minimalConfig(t))
			if err == nil || !strings.Contains(err.Error(), "admin.token") {
				t.Fatalf("config check: %v, want admin.token refused", err)
			}
			if strings.Contains(err.Error(), tok[:8]) {
				t.Fatalf("the error quotes the token: %v", err)
			}
		})
	}
	// A token with a space inside is sent and compared whole.
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": tok[:8] + " " + tok[8:]})
	if _, _, err := runCmd(t, env, "config", "check", "--config", minimalConfig(t)); err != nil {
		t.Fatalf("a space inside the token: %v", err)
	}
}

// minimalConfig writes a configuration file naming only a data dir.
func minimalConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(f, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
