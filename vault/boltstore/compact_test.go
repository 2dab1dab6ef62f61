package boltstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// fillRandom puts n records with random aliases and index keys, the order
// real vaults see, in groups of 100, and returns the aliases.
func fillRandom(t *testing.T, s *boltstore.Store, n int) []string {
	t.Helper()
	aliases := make([]string, 0, n)
	for len(aliases) < n {
		var items []vault.PutItem
		for range min(100, n-len(aliases)) {
			a, ik, ct := make([]byte, 8), make([]byte, 32), make([]byte, 44)
			rand.Read(a)
			rand.Read(ik)
			rand.Read(ct)
			items = append(items, vault.PutItem{Record: &vault.Record{Alias: "tok_test_" + hex.EncodeToString(a),
				Format: vault.Format("UUID"), Storage: vault.Storage("PERSISTENT"), KeyVersion: 1,
				Ciphertext: ct, CreatedAt: time.Now(), IndexKey: ik}})
		}
		res, err := s.Put(context.Background(), items)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Status != vault.PutCreated {
				t.Fatalf("Put: status %v", r.Status)
			}
			aliases = append(aliases, items[i].Record.Alias)
		}
	}
	return aliases
}

func TestCompactShrinksAndKeepsEveryRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	aliases := fillRandom(t, s, 10000)
	for _, a := range aliases[:5000] {
		if err := s.Delete(context.Background(), a, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".compact", []byte("left by a crash"), 0o600) // removed by the next run

	res, err := boltstore.Compact(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt sizes small files in powers of two: a half-empty file halves.
	if res.After > res.Before/2 {
		t.Errorf("compacted %d → %d bytes, want at most half after deleting half of random inserts", res.Before, res.After)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != res.After || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file after compact: %v, %v (want %d bytes, mode 0600)", fi, err, res.After)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary copy is still there: %v", err)
	}
	if res.Keys < 10000 { // 5000 records and their 5000 index entries, plus meta
		t.Errorf("Keys = %d, want at least 10000", res.Keys)
	}

	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(context.Background(), aliases)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if deleted := i < 5000; deleted != (r == nil) {
			t.Fatalf("alias %d (deleted %v) after compact: %v", i, deleted, r)
		}
	}
	// The index still finds the live records, and new writes work.
	fillRandom(t, s, 100)
}

func TestCompactRefusesAVaultInUseAndLeavesItAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillRandom(t, s, 500)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Compact(path, 200*time.Millisecond); !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("Compact of an open vault: %v, want ErrLocked", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the refused compaction changed the file")
	}
}

func TestCompactFailureLeavesTheOriginal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fillRandom(t, s, 500)
	s.Close()
	before, _ := os.ReadFile(path)
	// A directory where the copy goes makes the run fail before the copy.
	if err := os.MkdirAll(filepath.Join(path+".compact", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Compact(path, time.Second); err == nil {
		t.Fatal("Compact succeeded with its copy's path taken by a directory")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the failed compaction changed the file")
	}
	// Not a vault at all.
	other := filepath.Join(dir, "other.db")
	os.WriteFile(other, bytes.Repeat([]byte{1}, 8192), 0o600)
	if _, err := boltstore.Compact(other, time.Second); !errors.Is(err, boltstore.ErrCorrupt) {
		t.Fatalf("Compact of a non-vault: %v, want ErrCorrupt", err)
	}
	if _, err := boltstore.Compact(filepath.Join(dir, "missing.db"), time.Second); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Compact of a missing file: %v", err)
	}
}
