package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// TestVaultCopyRunAgainNeverMovesARecordToAnotherAccount: a record's owner
// only ever changes from the default account (Owner "") to another, by the
// accounts migration. A copy run again after the destination's gateway
// gave a copied record to an account must not hand it back to the default
// account (whose clients could then reveal it), nor move a record from one
// account to another: the destination's record is not the source's
// changed later, and the copy fails with a conflict, leaving it as it is.
func TestVaultCopyRunAgainNeverMovesARecordToAnotherAccount(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(7 * i)
	}
	for _, tc := range []struct{ name, srcOwner, dstOwner string }{
		{"default account in the source, acct_b in the destination", "", "acct_b"},
		{"acct_a in the source, acct_b in the destination", "acct_a", "acct_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, err := boltstore.Open(filepath.Join(dir, "src.db"), boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			srcSvc := openService(t, src, master)
			vals := redactValues(t, srcSvc, "owned", 3)
			var alias string
			for a := range vals {
				alias = a
			}
			if tc.srcOwner != "" {
				if _, err := srcSvc.MigrateRecord(ctx, alias, tc.srcOwner, true); err != nil {
					t.Fatal(err)
				}
			}
			dst, err := boltstore.Open(filepath.Join(dir, "dst.db"), boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			c := &vaultCopier{out: io.Discard, batch: 2, checkpoint: filepath.Join(dir, copyCheckpointFile)}
			if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
				t.Fatalf("first copy: %v", err)
			}
			// The destination's record now goes to acct_b: the
			// destination's own migration, or a record that is not the
			// source's.
			recs, err := dst.Get(ctx, []string{alias})
			if err != nil || recs[0] == nil {
				t.Fatalf("copied record: %v %v", recs, err)
			}
			if err := dst.SetOwner(ctx, alias, recs[0].Owner, tc.dstOwner, []byte("index key of acct_b")); err != nil {
				t.Fatal(err)
			}

			err = c.copyStores(ctx, src, "source", dst, "destination", master)
			back, gerr := dst.Get(ctx, []string{alias})
			if gerr != nil || back[0] == nil {
				t.Fatalf("the record is gone from the destination: %v", gerr)
			}
			if back[0].Owner != tc.dstOwner {
				t.Fatalf("the copy run again moved the destination's record from %q to %q (copy: %v)", tc.dstOwner, back[0].Owner, err)
			}
			if !errors.Is(err, vault.ErrConflict) {
				t.Fatalf("copy run again over a record of another account: %v, want a conflict", err)
			}
		})
	}
}
