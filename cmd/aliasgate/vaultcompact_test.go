package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

func TestVaultCompact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var items []vault.PutItem
	for i := range 2000 {
		items = append(items, vault.PutItem{Record: &vault.Record{Alias: fmt.Sprintf("tok_test_%08x", i*2654435761),
			Format: vault.Format("UUID"), Storage: vault.Storage("PERSISTENT"), KeyVersion: 1,
			Ciphertext: []byte("sealed value of record"), CreatedAt: time.Now(), IndexKey: fmt.Appendf(nil, "ik-%08x", i*40503)}})
	}
	if _, err := s.Put(context.Background(), items); err != nil {
		t.Fatal(err)
	}

	// In use: refused, with what to do.
	_, _, err = runCmd(t, testEnv(nil), "vault", "compact", "--data-dir", dir)
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
