package main

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// TestVaultCopyLastPassSeesARecordMadeAsAnotherIsDeleted: during what
// would be the copy's last pass, a gateway serving the PostgreSQL source
// makes a record behind the pass's cursor and deletes another one the pass
// has already read. The counts before and after the pass are the same, but
// the source is not what the pass saw: the copy must make another pass (and
// copy the new record), never report success without it.
func TestVaultCopyLastPassSeesARecordMadeAsAnotherIsDeleted(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(5 * i)
	}
	for _, mode := range []copyMissing{missingDelete, missingKeep} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			pg := openTestPostgres(t)
			redactValues(t, openService(t, pg, master), "value", 40)
			recs, err := pg.ScanRecords(ctx, "", 2) // the first two in the store's order (its collation)
			if err != nil || len(recs) != 2 {
				t.Fatal(recs, err)
			}
			aliases := []string{recs[0].Alias, recs[1].Alias}
			made := *recs[0]
			made.Alias = aliases[0][:len(aliases[0])-1] // a prefix sorts first: behind any cursor
			made.IndexKey = make([]byte, 32)
			rand.Read(made.IndexKey)
			made.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
			src := &changingSource{persistentStore: pg, at: 3} // the first catch-up pass
			src.during = func() {
				if res, err := pg.Put(ctx, []vault.PutItem{{Record: &made}}); err != nil || res[0].Status != vault.PutCreated {
					t.Errorf("make a record behind the cursor: %+v %v", res, err)
				}
				if err := pg.Delete(ctx, aliases[1], ""); err != nil {
					t.Error(err)
				}
			}
			dst := openTestBolt(t, dir)
			var out strings.Builder
			c := &vaultCopier{out: &out, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile), missing: mode}
			err = c.copyStores(ctx, src, "source", dst, "destination", master)
			if src.scans < 3 {
				t.Fatalf("the source was not changed during the first catch-up pass (%d scans)", src.scans)
			}
			got, gerr := dst.Get(ctx, []string{made.Alias})
			if gerr != nil {
				t.Fatal(gerr)
			}
			if err == nil && got[0] == nil {
				t.Fatalf("the copy reported success without the record made during its last pass:\n%s", out.String())
			}
			if err != nil {
				t.Fatalf("copy: %v\n%s", err, out.String())
			}
		})
	}
}
