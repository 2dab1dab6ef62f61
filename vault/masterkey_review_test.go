package vault_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestMasterKeyFileThatIsADanglingLinkIsNamed: master.key as a symbolic
// link to a file that is not there (a secrets volume not mounted) is not
// "no master key" (the commands said "no vault here"), and no key is made
// in its place or at its target: the error names the link and its target.
func TestMasterKeyFileThatIsADanglingLinkIsNamed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "secrets", "master.key")
	link := filepath.Join(dir, vault.MasterKeyFile)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{false, true} {
		k, _, err := vault.LoadMasterKey(dir, func(string) string { return "" }, create)
		if err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, vault.ErrBadMasterKey) ||
			!strings.Contains(err.Error(), target) || !strings.Contains(err.Error(), "link") {
			t.Fatalf("create=%v: key %d bytes, error %v; want ErrBadMasterKey naming the link's target", create, len(k), err)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("create=%v: a key was made at the link's target: %v", create, err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("create=%v: the link was replaced: %v", create, err)
		}
	}
}

// TestBlankMasterKeyVariableIsRefused: ALIASGATE_MASTER_KEY holding only
// white space (a secret store's value that did not arrive, a template that
// wrote a newline) is refused, not taken for unset: taken for unset, serve
// made a new random master.key on disk in a fresh data dir, the opposite
// of what the operator set the variable for. No key file is made. An
// empty value is still unset (a variable cannot be told from an empty one
// through getenv, as for every ALIASGATE_ setting).
func TestBlankMasterKeyVariableIsRefused(t *testing.T) {
	for _, v := range []string{" ", "\n", "\t \r\n", "\u00a0"} {
		dir := t.TempDir()
		k, _, err := vault.LoadMasterKey(dir, func(name string) string {
			if name == vault.MasterKeyEnv {
				return v
			}
			return ""
		}, true)
		if !errors.Is(err, vault.ErrBadMasterKey) || !strings.Contains(err.Error(), vault.MasterKeyEnv) {
			t.Fatalf("%q: key %d bytes, error %v; want ErrBadMasterKey naming %s", v, len(k), err, vault.MasterKeyEnv)
		}
		if _, err := os.Stat(filepath.Join(dir, vault.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%q: a master.key was made: %v", v, err)
		}
	}
	dir := t.TempDir()
	if k, _, err := vault.LoadMasterKey(dir, func(string) string { return "" }, true); err != nil || len(k) != 32 {
		t.Fatalf("empty variable: key %d bytes, error %v; want a new key file", len(k), err)
	}
}
