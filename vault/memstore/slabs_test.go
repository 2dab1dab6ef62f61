package memstore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// slabRecord is a volatile record of about 300 encoded bytes, its
// ciphertext telling it from the others.
func slabRecord(clk *vaulttest.Clock, alias string, ttl time.Duration) *vault.Record {
	return &vault.Record{Alias: alias, Format: vault.FormatUUID, Storage: vault.StorageVolatile, KeyVersion: 1,
		Ciphertext: bytes.Repeat([]byte(alias), 256/len(alias)+1)[:256], CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(ttl)}
}

// checkSlabs fails when the slabs hold more than the compaction rule lets
// them (twice the live bytes, the slack and the slab being filled).
func checkSlabs(t *testing.T, s *memstore.Store, when string) {
	t.Helper()
	total, live := memstore.SlabBytes(s)
	if total > 2*live+(memstore.CompactSlack+1)*memstore.SlabSize {
		t.Fatalf("%s: slabs hold %d bytes for %d live", when, total, live)
	}
}

// TestSlabsKeepEveryRecordAndFreeWhatIsGone: records written across many
// slabs read back whole; records that expire in the order they were written
// free their slabs; a stream of replacements of the same records (new
// classifiers) and of deletes never lets the dead bytes pass the compaction
// bound, and every record reads back the same after the compactions; a
// record larger than a slab is kept whole and its slab freed with it.
func TestSlabsKeepEveryRecordAndFreeWhatIsGone(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	const n = 5000 // ~1.5 MB: several slabs
	var items []vault.PutItem
	var aliases []string
	for i := range n {
		a := fmt.Sprintf("tok_slab_%d", i)
		aliases = append(aliases, a)
		items = append(items, vault.PutItem{Record: slabRecord(clk, a, time.Hour)})
	}
	if _, err := s.Put(ctx, items); err != nil {
		t.Fatal(err)
	}
	last := map[string]string{} // alias → the classifiers last set
	check := func(when string) {
		t.Helper()
		got, err := s.Get(ctx, aliases)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			want, classifiers := items[i].Record, "[]"
			if c, ok := last[aliases[i]]; ok {
				classifiers = c
			}
			if r == nil || !bytes.Equal(r.Ciphertext, want.Ciphertext) || !r.ExpiresAt.Equal(want.ExpiresAt) || fmt.Sprint(r.Classifiers) != classifiers {
				t.Fatalf("%s: record %d = %+v, want %+v with classifiers %s", when, i, r, want, classifiers)
			}
		}
		checkSlabs(t, s, when)
	}
	check("after the put")
	if total, _ := memstore.SlabBytes(s); total < 4*memstore.SlabSize {
		t.Fatalf("%d records took %d bytes of slabs: the test wants several slabs", n, total)
	}

	// Replacements: each round rewrites the records of the round before
	// but one in ten, which stays and keeps the slab it was written to
	// alive; without compaction the slabs would hold every round's bytes.
	rewrite := aliases
	for round := range 12 {
		if err := s.SetClassifiers(ctx, rewrite, []string{fmt.Sprint("round", round)}); err != nil {
			t.Fatal(err)
		}
		var next []string
		for i, a := range rewrite {
			last[a] = fmt.Sprint("[round", round, "]")
			if i%10 != 0 {
				next = append(next, a)
			}
		}
		rewrite = next
		checkSlabs(t, s, fmt.Sprint("replacement round ", round))
	}
	check("after the replacements")

	// Deletes of every other record, then expiry of all: the slabs go.
	for i := 0; i < n; i += 2 {
		if err := s.Delete(ctx, aliases[i], ""); err != nil {
			t.Fatal(err)
		}
	}
	checkSlabs(t, s, "after the deletes")
	clk.Advance(time.Hour)
	if got := s.Sweep(); got != n/2 {
		t.Fatalf("sweep dropped %d, want %d", got, n/2)
	}
	if total, live := memstore.SlabBytes(s); live != 0 || total > memstore.SlabSize {
		t.Fatalf("with nothing held the slabs hold %d bytes (%d live), want at most the one being filled", total, live)
	}

	// A record larger than a slab.
	big := slabRecord(clk, "tok_big", time.Hour)
	big.Ciphertext = bytes.Repeat([]byte{7}, 2*memstore.SlabSize)
	if _, err := s.Put(ctx, []vault.PutItem{{Record: big}, {Record: slabRecord(clk, "tok_after", time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, []string{"tok_big", "tok_after"})
	if err != nil || got[0] == nil || !bytes.Equal(got[0].Ciphertext, big.Ciphertext) || got[1] == nil {
		t.Fatalf("a record larger than a slab: %v", err)
	}
	if err := s.Delete(ctx, "tok_big", ""); err != nil {
		t.Fatal(err)
	}
	if total, _ := memstore.SlabBytes(s); total > memstore.SlabSize {
		t.Fatalf("after the large record's delete the slabs hold %d bytes", total)
	}
}

// TestDroppedRecordsAreWiped: the bytes of a volatile record are zeroed in
// the store's memory once it expires and is swept, is deleted, or is
// copied away by a compaction, and every slab when the store closes: an
// expired CVC's ciphertext is not left in memory next to the data key.
func TestDroppedRecordsAreWiped(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer s.Close()
	ctx := context.Background()
	a := slabRecord(clk, "cvc-a", time.Minute)
	b := slabRecord(clk, "cvc-b", time.Hour)
	c := slabRecord(clk, "cvc-c", time.Hour)
	if _, err := s.Put(ctx, []vault.PutItem{{Record: a.Clone()}, {Record: b.Clone()}, {Record: c.Clone()}}); err != nil {
		t.Fatal(err)
	}
	holds := func(mem [][]byte, r *vault.Record) bool {
		for _, m := range mem {
			if bytes.Contains(m, r.Ciphertext) {
				return true
			}
		}
		return false
	}
	mem := memstore.SlabMemory(s)
	if !holds(mem, a) || !holds(mem, b) || !holds(mem, c) {
		t.Fatal("the records are not in the slabs")
	}
	clk.Advance(2 * time.Minute)
	if n := s.Sweep(); n != 1 {
		t.Fatalf("swept %d records, want 1", n)
	}
	if holds(mem, a) {
		t.Error("the expired record's bytes are still in memory after the sweep")
	}
	if err := s.Delete(ctx, "cvc-b", ""); err != nil {
		t.Fatal(err)
	}
	if holds(mem, b) {
		t.Error("the deleted record's bytes are still in memory")
	}
	memstore.Compact(s)
	if holds(mem, c) {
		t.Error("the slab a compaction left still holds the record it copied")
	}
	if got, err := s.Get(ctx, []string{"cvc-c"}); err != nil || got[0] == nil || !bytes.Equal(got[0].Ciphertext, c.Ciphertext) {
		t.Fatalf("the record after the compaction: %v, %v", got, err)
	}
	mem = memstore.SlabMemory(s)
	s.Close()
	if holds(mem, c) {
		t.Error("the record's bytes are still in memory after Close")
	}
}
