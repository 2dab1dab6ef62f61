package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// ClientStore is the byte-level API client storage (auth.ClientStore);
// every persistent store implements it.
type ClientStore interface {
	PutClient(ctx context.Context, id string, record []byte) error
	GetClient(ctx context.Context, id string) ([]byte, bool, error)
}

// persistentStore is what a store that is not VolatileOnly provides.
type persistentStore interface {
	vault.Store
	CardStore
	ClientStore
	vault.Exporter
	vault.Importer
	vault.Rekeyer
}

func openPersistent(t *testing.T, h Harness, now func() time.Time) persistentStore {
	t.Helper()
	s := open(t, h, now)
	ps, ok := s.(persistentStore)
	if !ok {
		t.Fatalf("%T does not implement clients, cards, vault.Exporter, vault.Importer and vault.Rekeyer (set Harness.VolatileOnly for a volatile-only store)", s)
	}
	return ps
}

func testClients(t *testing.T, h Harness) {
	s := openPersistent(t, h, NewClock().Now)
	ctx := context.Background()
	if _, ok, err := s.GetClient(ctx, "cl_a"); ok || err != nil {
		t.Fatalf("GetClient of unknown id = %v, %v", ok, err)
	}
	if err := s.PutClient(ctx, "cl_a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutClient(ctx, "cl_a", []byte("two")); err == nil {
		t.Fatal("PutClient overwrote an existing id")
	}
	if r, ok, err := s.GetClient(ctx, "cl_a"); !ok || err != nil || string(r) != "one" {
		t.Fatalf("GetClient = %q, %v, %v", r, ok, err)
	}
}

// fill puts n persistent records, one volatile and one expired record,
// two meta keys, three clients and three cards (one with updates) into s.
func fill(t *testing.T, s persistentStore, clk *Clock, n int) []*vault.Record {
	t.Helper()
	ctx := context.Background()
	var recs []*vault.Record
	for i := range n {
		r := rec(fmt.Sprintf("tok_%04d", i), fmt.Sprintf("value %d", i), clk.Now())
		if i%3 == 1 {
			r.Owner = "acct_copy" // owners are copied too; "" is the default account
		}
		recs = append(recs, r)
	}
	vol := rec("tok_volatile", "", clk.Now())
	vol.Storage, vol.ExpiresAt = vault.StorageVolatile, clk.Now().Add(time.Hour)
	gone := rec("tok_expired", "expired", clk.Now())
	gone.ExpiresAt = clk.Now().Add(time.Second)
	Put(t, s, append(append([]*vault.Record(nil), recs...), vol, gone)...)
	clk.Advance(2 * time.Second)
	for _, k := range []string{"dek/1", "other"} {
		if _, err := s.PutMetaIfAbsent(ctx, k, []byte("meta "+k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"cl_1", "cl_2", "cl_3"} {
		if err := s.PutClient(ctx, id, []byte("client "+id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ account, id, fp string }{{"acct_a", "CRD1", "fp1"}, {"acct_a", "CRD2", "fp2"}, {"acct_b", "CRD3", "fp1"},
		{"acct_a", "CRD4", "fp1" + vault.CardIndexSep + "CRD4"}} { // CRD4: made with duplicate detection off
		if _, err := s.PutCard(ctx, c.account, c.id, c.fp, []byte("card "+c.id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpdateCard(ctx, "acct_a", "CRD2", []byte("card CRD2"), []byte("card CRD2 v2"), []byte("u1")); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateCard(ctx, "acct_a", "CRD2", []byte("card CRD2 v2"), []byte("card CRD2 v3"), []byte("u2")); err != nil {
		t.Fatal(err)
	}
	return recs
}

// copyAll moves everything from src to dst in pages of size page, the way
// `aliasgate vault copy` does.
func copyAll(t *testing.T, src, dst persistentStore, page int) {
	t.Helper()
	ctx := context.Background()
	meta, err := src.ScanMeta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range meta {
		if got, err := dst.PutMetaIfAbsent(ctx, k, v); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("PutMetaIfAbsent(%s) = %q, %v", k, got, err)
		}
	}
	for after := ""; ; {
		recs, err := src.ScanRecords(ctx, after, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > page {
			t.Fatalf("ScanRecords returned %d records for limit %d", len(recs), page)
		}
		if len(recs) > 0 {
			for i, res := range Put(t, dst, recs...) {
				if res.Status == vault.PutCollision {
					t.Fatalf("import of %s collided", recs[i].Alias)
				}
			}
			after = recs[len(recs)-1].Alias
		}
		if len(recs) < page {
			break
		}
	}
	for after := ""; ; {
		cls, err := src.ScanClients(ctx, after, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cls {
			if err := dst.ImportClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			after = c.ID
		}
		if len(cls) < page {
			break
		}
	}
	for after := ""; ; {
		cds, err := src.ScanCards(ctx, after, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cds {
			if err := dst.ImportCard(ctx, c); err != nil {
				t.Fatal(err)
			}
			after = c.Key()
		}
		if len(cds) < page {
			break
		}
	}
}

func testExportImport(t *testing.T, h Harness) {
	clk := NewClock()
	src := openPersistent(t, h, clk.Now)
	dst := openPersistent(t, h, clk.Now)
	ctx := context.Background()
	recs := fill(t, src, clk, 25)

	// Records come in alias order, live persistent ones only, paged.
	var seen []string
	for after := ""; ; {
		page, err := src.ScanRecords(ctx, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			seen = append(seen, r.Alias)
			after = r.Alias
		}
		if len(page) < 7 {
			break
		}
	}
	if len(seen) != len(recs) {
		t.Fatalf("ScanRecords gave %d records, want %d (volatile and expired left out): %v", len(seen), len(recs), seen)
	}
	for i, a := range seen {
		if a != recs[i].Alias {
			t.Fatalf("ScanRecords[%d] = %s, want %s (alias order)", i, a, recs[i].Alias)
		}
	}

	copyAll(t, src, dst, 4)
	copyAll(t, src, dst, 10) // a second run (a resumed copy) changes nothing and fails nothing

	for _, r := range recs {
		sameRecord(t, get1(t, dst, r.Alias), r)
		got, err := dst.LookupIndex(ctx, [][]byte{r.IndexKey})
		if err != nil || got[0] != r.Alias {
			t.Fatalf("LookupIndex on the copy = %v, %v", got, err)
		}
	}
	if get1(t, dst, "tok_volatile") != nil || get1(t, dst, "tok_expired") != nil {
		t.Fatal("volatile or expired record was copied")
	}
	for _, k := range []string{"dek/1", "other"} {
		if v, err := dst.GetMeta(ctx, k); err != nil || string(v) != "meta "+k {
			t.Fatalf("meta %s on the copy = %q, %v", k, v, err)
		}
	}
	for _, id := range []string{"cl_1", "cl_2", "cl_3"} {
		if r, ok, err := dst.GetClient(ctx, id); !ok || err != nil || string(r) != "client "+id {
			t.Fatalf("client %s on the copy = %q, %v, %v", id, r, ok, err)
		}
	}
	if r, ok, err := dst.GetCard(ctx, "acct_a", "CRD2"); !ok || err != nil || string(r) != "card CRD2 v3" {
		t.Fatalf("card on the copy = %q, %v, %v", r, ok, err)
	}
	if ups, err := dst.CardUpdates(ctx, "acct_a", "CRD2"); err != nil || len(ups) != 2 || string(ups[0]) != "u1" || string(ups[1]) != "u2" {
		t.Fatalf("card updates on the copy = %q, %v", ups, err)
	}
	// A card's own index key is copied: CardsByFingerprint finds both cards of fp1.
	if ci, ok := dst.(CardIndexer); ok {
		if ids, err := ci.CardsByFingerprint(ctx, "acct_a", "fp1"); err != nil || !slices.Equal(ids, []string{"CRD1", "CRD4"}) {
			t.Fatalf("CardsByFingerprint on the copy = %v, %v; want CRD1, CRD4", ids, err)
		}
	} else {
		t.Fatalf("%T does not implement CardIndexer", dst)
	}
	// Fingerprint dedupe holds on the copy.
	if ex, err := dst.PutCard(ctx, "acct_a", "CRD9", "fp1", []byte("dup")); err != nil || ex != "CRD1" {
		t.Fatalf("PutCard of a copied fingerprint = %q, %v; want CRD1", ex, err)
	}

	// Other content under a copied key is a conflict, not an overwrite.
	if err := dst.ImportClient(ctx, vault.ClientDump{ID: "cl_1", Record: []byte("forged")}); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("ImportClient of another record = %v, want ErrConflict", err)
	}
	if err := dst.ImportCard(ctx, vault.CardDump{Account: "acct_a", ID: "CRD1", Fingerprint: "fp1", Record: []byte("forged")}); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("ImportCard of another record = %v, want ErrConflict", err)
	}
	if err := dst.ImportCard(ctx, vault.CardDump{Account: "acct_a", ID: "CRD7", Fingerprint: "fp2", Record: []byte("other")}); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("ImportCard of a taken fingerprint = %v, want ErrConflict", err)
	}
	if r, _, _ := dst.GetClient(ctx, "cl_1"); string(r) != "client cl_1" {
		t.Fatal("a refused import changed the client")
	}
}

func testRekey(t *testing.T, h Harness) {
	clk := NewClock()
	s := openPersistent(t, h, clk.Now)
	ctx := context.Background()
	a, b := rec("tok_a", "a", clk.Now()), rec("tok_b", "b", clk.Now())
	Put(t, s, a, b)
	n, err := s.Rekey(ctx, []vault.RekeyItem{
		{Alias: "tok_a", OldVersion: 1, NewVersion: 2, Ciphertext: []byte("new a")},
		{Alias: "tok_b", OldVersion: 3, NewVersion: 4, Ciphertext: []byte("new b")}, // stale: b is version 1
		{Alias: "tok_gone", OldVersion: 1, NewVersion: 2, Ciphertext: []byte("x")},
	})
	if err != nil || n != 1 {
		t.Fatalf("Rekey = %d, %v; want 1 record changed", n, err)
	}
	want := a.Clone()
	want.KeyVersion, want.Ciphertext = 2, []byte("new a")
	sameRecord(t, get1(t, s, "tok_a"), want)
	sameRecord(t, get1(t, s, "tok_b"), b)
	if got, err := s.LookupIndex(ctx, [][]byte{a.IndexKey}); err != nil || got[0] != "tok_a" {
		t.Fatalf("index after Rekey = %v, %v", got, err)
	}
	if n, err := s.Rekey(ctx, []vault.RekeyItem{{Alias: "tok_a", OldVersion: 1, NewVersion: 2, Ciphertext: []byte("again")}}); err != nil || n != 0 {
		t.Fatalf("second Rekey = %d, %v; want 0 (compare and swap)", n, err)
	}
}
