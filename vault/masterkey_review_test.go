package vault_test

import (
	"bytes"
	"encoding/base64"
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

// TestMasterKeyVariableAndKeyFileMustAgree: ALIASGATE_MASTER_KEY won over
// a <data_dir>/master.key holding another key (one left from an earlier
// run) without a word, so a gateway ran under a key the operator did not
// think was in use (a new vault under it, tokens the other gateways of the
// vault refuse, an audit log that no longer verifies). Both there and
// different, or a key file that cannot be read, is refused, naming both and
// showing neither; both there and equal is used, the variable named as the
// source; the key file is left as it was.
func TestMasterKeyVariableAndKeyFileMustAgree(t *testing.T) {
	fileKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	envKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == vault.MasterKeyEnv {
				return v
			}
			return ""
		}
	}
	withFile := func(t *testing.T, text string, perm os.FileMode) string {
		dir := t.TempDir()
		p := filepath.Join(dir, vault.MasterKeyFile)
		if err := os.WriteFile(p, []byte(text), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name, file string
		perm       os.FileMode
		inMsg      []string
	}{
		{"another key", fileKey + "\n", 0o600, []string{vault.MasterKeyEnv, vault.MasterKeyFile, "does not match"}},
		{"a malformed file", "short\n", 0o600, []string{vault.MasterKeyEnv, vault.MasterKeyFile}},
		{"a file others may read", fileKey + "\n", 0o644, []string{vault.MasterKeyEnv, vault.MasterKeyFile, "chmod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := withFile(t, tc.file, tc.perm)
			for _, create := range []bool{true, false} {
				k, src, err := vault.LoadMasterKey(dir, env(envKey), create)
				if !errors.Is(err, vault.ErrBadMasterKey) {
					t.Fatalf("create=%v: key %d bytes from %q, error %v; want ErrBadMasterKey", create, len(k), src, err)
				}
				for _, w := range tc.inMsg {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("create=%v: error %q does not name %q", create, err, w)
					}
				}
				if strings.Contains(err.Error(), envKey) || strings.Contains(err.Error(), fileKey) {
					t.Fatalf("create=%v: error shows key material: %v", create, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dir, vault.MasterKeyFile)); err != nil || string(b) != tc.file {
				t.Fatalf("the key file changed: %q, %v", b, err)
			}
		})
	}
	t.Run("the same key", func(t *testing.T) {
		dir := withFile(t, envKey+"\n", 0o600)
		k, src, err := vault.LoadMasterKey(dir, env(envKey), true)
		if err != nil || base64.StdEncoding.EncodeToString(k) != envKey || !strings.Contains(src, vault.MasterKeyEnv) {
			t.Fatalf("key %d bytes from %q, error %v; want the variable's key", len(k), src, err)
		}
	})
}
