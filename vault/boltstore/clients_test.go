package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// TestUpdateClientIsACompareAndSwap: UpdateClient replaces a client record
// only when the stored one is the one given (revoking and rotating a
// client read the record, change it and swap it in).
func TestUpdateClientIsACompareAndSwap(t *testing.T) {
	for _, noGroup := range []bool{false, true} {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{NoGroupCommit: noGroup})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := s.PutClient(ctx, "AC1", []byte("one")); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			id, old, rec string
			want         bool
			stored       string
		}{
			{"AC1", "other", "two", false, "one"},
			{"AC2", "one", "two", false, "one"},
			{"AC1", "one", "two", true, "two"},
			{"AC1", "one", "three", false, "two"},
		} {
			ok, err := s.UpdateClient(ctx, tt.id, []byte(tt.old), []byte(tt.rec))
			if err != nil || ok != tt.want {
				t.Fatalf("UpdateClient(%s, %s → %s) = %v, %v; want %v", tt.id, tt.old, tt.rec, ok, err, tt.want)
			}
			if got, _, _ := s.GetClient(ctx, "AC1"); string(got) != tt.stored {
				t.Fatalf("stored %q, want %q", got, tt.stored)
			}
		}
		if _, ok, _ := s.GetClient(ctx, "AC2"); ok {
			t.Fatal("UpdateClient created a client")
		}
		s.Close()
		if _, err := s.UpdateClient(ctx, "AC1", []byte("two"), []byte("x")); err == nil {
			t.Fatal("UpdateClient on a closed store succeeded")
		}
	}
}
