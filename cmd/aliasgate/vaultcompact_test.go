package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// openFilledVault opens a bbolt vault at path holding n records and
// returns it with the records.
func openFilledVault(t *testing.T, path string, n int) (*boltstore.Store, []vault.PutItem) {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var items []vault.PutItem
	for i := range n {
		items = append(items, vault.PutItem{Record: &vault.Record{Alias: fmt.Sprintf("tok_test_%08x", i*2654435761),
			Format: vault.Format("UUID"), Storage: vault.Storage("PERSISTENT"), KeyVersion: 1,
			Ciphertext: []byte("sealed value of record"), CreatedAt: time.Now(), IndexKey: fmt.Appendf(nil, "ik-%08x", i*40503)}})
	}
	if _, err := s.Put(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	return s, items
}

func TestVaultCompact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	s, items := openFilledVault(t, path, 2000)

	// In use: refused, with what to do.
	_, _, err := runCmd(t, testEnv(nil), "vault", "compact", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "stop the gateway first") {
		t.Fatalf("vault compact of a vault in use: %v", err)
	}
	s.Close()

	out, _, err := runCmd(t, testEnv(nil), "vault", "compact", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "compacted "+path) || !strings.Contains(out, "keys") {
		t.Fatalf("vault compact: %v, output %q", err, out)
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(context.Background(), []string{items[0].Record.Alias, items[1999].Record.Alias})
	if err != nil || got[0] == nil || got[1] == nil {
		t.Fatalf("records after vault compact: %v, %v", got, err)
	}

	_, _, err = runCmd(t, testEnv(map[string]string{"ALIASGATE_VAULT_STORE": "postgres",
		"ALIASGATE_VAULT_POSTGRES_URL": "postgres://127.0.0.1:1/x"}), "vault", "compact", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "only the bbolt store") {
		t.Fatalf("vault compact on PostgreSQL: %v", err)
	}
}

// TestVaultCompactOfALinkedVaultCompactsTheFileItLinksTo: a vault.db that
// is a symbolic link (the vault on another volume) was replaced by the
// compacted copy, a regular file in the data dir, and the file it linked
// to was left as it was: a second copy of the encrypted card data,
// values deleted since included, which the command promises not to keep.
// The copy is now written next to the file the link names and renamed
// over it; the link stays.
func TestVaultCompactOfALinkedVaultCompactsTheFileItLinksTo(t *testing.T) {
	dir, volume := t.TempDir(), t.TempDir()
	real := filepath.Join(volume, "vault.db")
	s, items := openFilledVault(t, real, 500)
	s.Close()
	link := filepath.Join(dir, "vault.db")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, testEnv(nil), "vault", "compact", "--data-dir", dir); err != nil {
		t.Fatalf("vault compact: %v, output %q", err, out)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("vault.db is no longer the link (%v, %v): the compacted copy replaced it", fi.Mode(), err)
	}
	if after, err := os.Stat(real); err != nil || os.SameFile(before, after) {
		t.Errorf("the file the link names was not replaced by the compacted copy (%v): the old file, deleted values included, is left", err)
	}
	for _, d := range []string{dir, volume} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Name() != "vault.db" {
				t.Errorf("%s left in %s", e.Name(), d)
			}
		}
	}
	s, err = boltstore.Open(link, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Get(context.Background(), []string{items[0].Record.Alias, items[499].Record.Alias}); err != nil || got[0] == nil || got[1] == nil {
		t.Fatalf("records after vault compact: %v, %v", got, err)
	}
}
