package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestValueDeletedFromTheSourceDuringTheCopyIsNotRevealedFromTheDestination:
// a merchant deletes a value (and a card) from a PostgreSQL source in
// service after the copy has written it to the destination. A copy that
// reports success with the value still there would reveal after the
// migration what the merchant deleted. By default the copy fails, naming
// the count and the flags; with --delete-missing (deleteMissing) it deletes
// the record and the card from the destination; with --keep-missing it
// keeps them and says so.
func TestValueDeletedFromTheSourceDuringTheCopyIsNotRevealedFromTheDestination(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(3 * i)
	}
	for _, mode := range []copyMissing{missingFail, missingDelete, missingKeep} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			pg := openTestPostgres(t)
			svc := openService(t, pg, master)
			want := redactValues(t, svc, "kept", 40)
			var gone string // sorts first: copied before the deletion
			for a := range want {
				if gone == "" || a < gone {
					gone = a
				}
			}
			if _, err := pg.PutCard(ctx, "acct_1", "c001", "fp001", []byte(`{"id":"c001"}`)); err != nil {
				t.Fatal(err)
			}
			src := &changingSource{persistentStore: pg, at: 3}
			src.during = func() {
				if err := pg.Delete(ctx, gone, ""); err != nil {
					t.Error(err)
				}
				if ok, err := pg.DeleteCard(ctx, "acct_1", "c001", "fp001"); !ok || err != nil {
					t.Errorf("delete card: %v %v", ok, err)
				}
			}
			dst := openTestBolt(t, dir)
			var out strings.Builder
			c := &vaultCopier{out: &out, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile), missing: mode}
			// The deletions are made during the first catch-up pass: the
			// first pass has copied the record and the card.
			err := c.copyStores(ctx, src, "source", dst, "destination", master)
			recs, gerr := dst.Get(ctx, []string{gone})
			if gerr != nil {
				t.Fatal(gerr)
			}
			_, cardThere, cerr := dst.GetCard(ctx, "acct_1", "c001")
			if cerr != nil {
				t.Fatal(cerr)
			}
			switch mode {
			case missingFail:
				if err == nil || !strings.Contains(err.Error(), "--delete-missing") || !strings.Contains(err.Error(), "1 records") {
					t.Fatalf("a copy whose destination holds a record deleted from the source: %v, want a failure naming it\n%s", err, out.String())
				}
				if strings.Contains(err.Error(), gone) {
					t.Fatalf("the error names the alias: %v", err)
				}
			case missingDelete:
				if err != nil {
					t.Fatalf("copy with --delete-missing: %v\n%s", err, out.String())
				}
				if recs[0] != nil || cardThere {
					t.Fatalf("--delete-missing left the deleted record (%v) or card (%v) in the destination", recs[0] != nil, cardThere)
				}
				if r, err := openService(t, dst, master).Reveal(ctx, []string{gone}); err != nil || !errors.Is(r[0].Err, vault.ErrNotFound) {
					t.Fatalf("reveal of the deleted value from the destination: %+v %v, want not found", r, err)
				}
				if !strings.Contains(out.String(), "deleted 1 records and 1 cards") {
					t.Fatalf("output does not count the deletions:\n%s", out.String())
				}
			case missingKeep:
				if err != nil || recs[0] == nil || !cardThere || !strings.Contains(out.String(), "warning: the destination holds 1 records and 1 cards") {
					t.Fatalf("--keep-missing: %v, record kept %v, card kept %v\n%s", err, recs[0] != nil, cardThere, out.String())
				}
			}
			delete(want, gone)
			aliases := make([]string, 0, len(want))
			for a := range want {
				aliases = append(aliases, a)
			}
			got, err := openService(t, dst, master).Reveal(ctx, aliases)
			if err != nil {
				t.Fatalf("the other records: %v", err)
			}
			for i, r := range got {
				if r.Value != want[aliases[i]] {
					t.Fatalf("record %s: %q", aliases[i], r.Value)
				}
			}
		})
	}
}

// TestVaultCopyCommandRefusesThenDeletesWhatTheSourceDeleted: through the
// command, a copy run again after a record was deleted from the source
// fails (exit 1, naming the flags and the count, not the alias); with
// --delete-missing it deletes the record from the destination.
func TestVaultCopyCommandRefusesThenDeletesWhatTheSourceDeleted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	sample := fillBolt(t, a, 20)
	if err := os.MkdirAll(b, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(a, vault.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, vault.MasterKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	from, to := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(from, []byte("data_dir: "+a+"\n"), 0o600)
	os.WriteFile(to, []byte("data_dir: "+b+"\n"), 0o600)
	if _, _, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", from, "--to-config", to); err != nil {
		t.Fatalf("first copy: %v", err)
	}
	var gone string
	for _, alias := range sample {
		gone = alias
	}
	src := openTestBolt(t, a)
	if err := src.Delete(ctx, gone, ""); err != nil {
		t.Fatal(err)
	}
	src.Close()

	_, stderr, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", from, "--to-config", to)
	if err == nil || !strings.Contains(err.Error(), "1 records and 0 cards the source does not") || !strings.Contains(err.Error(), "--delete-missing") {
		t.Fatalf("copy again after a deletion from the source: %v\n%s", err, stderr)
	}
	if strings.Contains(err.Error()+stderr, gone) {
		t.Fatalf("the copy named the deleted alias: %v\n%s", err, stderr)
	}
	if _, stderr, err = runCmd(t, testEnv(nil), "vault", "copy", "--from-config", from, "--to-config", to, "--delete-missing"); err != nil || !strings.Contains(stderr, "deleted 1 records") {
		t.Fatalf("copy --delete-missing: %v\n%s", err, stderr)
	}
	dst := openTestBolt(t, b)
	if recs, err := dst.Get(ctx, []string{gone}); err != nil || recs[0] != nil {
		t.Fatalf("the record deleted from the source is still in the destination: %v", err)
	}
	if n, err := countRecords(ctx, dst, 100); err != nil || n != 19 {
		t.Fatalf("destination holds %d records (%v), want 19", n, err)
	}
}
