package main

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestVaultCopyFromBoltAgainAfterARotationUpdatesPostgres: the documented
// move (bbolt to PostgreSQL) run again after the bbolt gateway served on
// meanwhile (a key rotation with every record re-encrypted, classifiers
// changed): the second copy brings the records up to date. PostgreSQL
// keeps creation times to the microsecond, bbolt to the nanosecond, so the
// destination's copy of a record never had the source's creation time to
// the nanosecond: every changed record was a conflict and the copy failed.
func TestVaultCopyFromBoltAgainAfterARotationUpdatesPostgres(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(11 * i)
	}
	src := openTestBolt(t, dir)
	svc := openService(t, src, master)
	want := redactValues(t, svc, "value", 30)
	dst := openTestPostgres(t)
	c := &vaultCopier{out: io.Discard, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
		t.Fatalf("first copy: %v", err)
	}

	keys, err := vault.OpenKeyring(ctx, src, master)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rk, err := vault.NewReencryptor(src, keys, vault.ReencryptOptions{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := rk.Run(ctx); err != nil {
		t.Fatal(err)
	}
	aliases := make([]string, 0, len(want))
	for a := range want {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	if err := svc.UpdateClassifiers(ctx, aliases[0], []string{"changed"}); err != nil {
		t.Fatal(err)
	}

	if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
		t.Fatalf("copy again after a rotation in the bbolt source: %v", err)
	}
	recs, err := dst.Get(ctx, aliases)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r == nil || r.KeyVersion != 2 {
			t.Fatalf("record %s in the destination: %+v, want key version 2", aliases[i], r)
		}
	}
	if !slices.Equal(recs[0].Classifiers, []string{"changed"}) {
		t.Fatalf("classifiers in the destination: %v", recs[0].Classifiers)
	}
	got, err := openService(t, dst, master).Reveal(ctx, aliases)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Value != want[aliases[i]] {
			t.Fatalf("record %s reveals %q", aliases[i], r.Value)
		}
	}
}
