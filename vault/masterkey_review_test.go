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
