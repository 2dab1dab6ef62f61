package memstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

func TestConformance(t *testing.T) {
	vaulttest.Run(t, vaulttest.Harness{
		Open: func(t *testing.T, now func() time.Time) vault.Store {
			return memstore.New(memstore.Options{Now: now})
		},
	})
}

func TestSweepDropsExpiredRecords(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer s.Close()
	r := &vault.Record{Alias: "tok_a", Storage: vault.StorageVolatile, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Second)}
	if _, err := s.Put(t.Context(), []vault.PutItem{{Record: r}, {Record: &vault.Record{Alias: "tok_b", CreatedAt: clk.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(); n != 0 || s.Len() != 2 {
		t.Fatalf("early sweep dropped %d, len %d", n, s.Len())
	}
	clk.Advance(time.Second)
	if n := s.Sweep(); n != 1 || s.Len() != 1 {
		t.Fatalf("sweep dropped %d, len %d; want 1, 1", n, s.Len())
	}
}

// putN puts n volatile records tok_<name>_<i> expiring after ttl.
func putN(t *testing.T, s *memstore.Store, clk *vaulttest.Clock, name string, n int, ttl time.Duration) error {
	t.Helper()
	items := make([]vault.PutItem, n)
	for i := range items {
		items[i] = vault.PutItem{Record: &vault.Record{Alias: fmt.Sprintf("tok_%s_%d", name, i), Storage: vault.StorageVolatile,
			CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(ttl)}}
	}
	_, err := s.Put(t.Context(), items)
	return err
}

func live(t *testing.T, s *memstore.Store, name string, n int) int {
	t.Helper()
	aliases := make([]string, n)
	for i := range aliases {
		aliases[i] = fmt.Sprintf("tok_%s_%d", name, i)
	}
	got, err := s.Get(t.Context(), aliases)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, r := range got {
		if r != nil {
			k++
		}
	}
	return k
}

func TestMaxRecordsEvictsTheOldest(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 10})
	defer s.Close()
	for i := range 10 { // one source fills the store, a second apart
		if err := putN(t, s, clk, fmt.Sprint("a", i), 1, time.Hour); err != nil {
			t.Fatalf("record %d into a store of 10: %v", i, err)
		}
		clk.Advance(time.Second)
	}
	// Another caller still gets its values in: the oldest three go.
	if err := putN(t, s, clk, "b", 3, time.Hour); err != nil {
		t.Fatalf("Put into a full store: %v", err)
	}
	if s.Len() != 10 || s.Evictions() != 3 {
		t.Fatalf("len %d, evictions %d; want 10, 3", s.Len(), s.Evictions())
	}
	if live(t, s, "b", 3) != 3 {
		t.Fatal("the new records are not all there")
	}
	for i := range 10 {
		if want := i >= 3; (live(t, s, fmt.Sprint("a", i), 1) == 1) != want {
			t.Fatalf("record a%d live = %v; the three oldest must be the ones evicted", i, !want)
		}
	}
	// A record that expires sooner goes first, whatever its insertion.
	if err := putN(t, s, clk, "short", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := putN(t, s, clk, "c", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if live(t, s, "short", 1) != 0 || live(t, s, "a3", 1) != 0 || live(t, s, "a4", 1) != 1 {
		t.Fatal("eviction did not follow expiry order")
	}
	// Expired records are dropped before any live one is evicted.
	clk.Advance(2 * time.Hour)
	ev := s.Evictions()
	if err := putN(t, s, clk, "d", 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 10 || s.Evictions() != ev {
		t.Fatalf("len %d, evictions %d→%d; want expired records dropped, none evicted", s.Len(), ev, s.Evictions())
	}
}

func TestMaxRecordsRefusesAnOversizedBatchWhole(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 10})
	defer s.Close()
	if err := putN(t, s, clk, "a", 4, time.Hour); err != nil {
		t.Fatal(err)
	}
	err := putN(t, s, clk, "big", 11, time.Hour)
	if !errors.Is(err, memstore.ErrFull) || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("11 records into a store of 10: %v, want ErrFull (an ErrUnavailable)", err)
	}
	if s.Len() != 4 || live(t, s, "a", 4) != 4 || live(t, s, "big", 11) != 0 || s.Evictions() != 0 {
		t.Fatalf("a refused batch changed the store: len %d, evictions %d", s.Len(), s.Evictions())
	}
}

func TestMaxRecordsNeverEvictsRecordsWithoutExpiry(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 3})
	defer s.Close()
	var items []vault.PutItem
	for i := range 2 {
		items = append(items, vault.PutItem{Record: &vault.Record{Alias: fmt.Sprint("tok_p_", i), CreatedAt: clk.Now()}})
	}
	if _, err := s.Put(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	if err := putN(t, s, clk, "v", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := putN(t, s, clk, "w", 1, time.Hour); err != nil { // evicts v_0
		t.Fatal(err)
	}
	if err := putN(t, s, clk, "x", 2, time.Hour); !errors.Is(err, memstore.ErrFull) {
		t.Fatalf("a batch that would evict persistent records: %v, want ErrFull", err)
	}
	if s.Len() != 3 || live(t, s, "p", 2) != 2 || live(t, s, "w", 1) != 1 {
		t.Fatalf("len %d; the persistent records and w must stay", s.Len())
	}
}

func TestEvictionQueueStaysBounded(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 100})
	defer s.Close()
	for round := range 50 {
		name := fmt.Sprint("r", round)
		if err := putN(t, s, clk, name, 100, time.Hour); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if err := s.Delete(t.Context(), fmt.Sprintf("tok_%s_%d", name, i), ""); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(time.Second)
	}
	if s.Len() > 100 {
		t.Fatalf("len %d over the bound", s.Len())
	}
	if q := memstore.QueueLen(s); q > 2*100+1024+1 {
		t.Fatalf("expiry queue of %d entries for %d records", q, s.Len())
	}
}

// BenchmarkPutIntoAFullStore: one CVC a Put into a store at its bound, so
// that every Put evicts the oldest record (O(log n)).
func BenchmarkPutIntoAFullStore(b *testing.B) {
	clk := vaulttest.NewClock()
	const bound = 1 << 20
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: bound})
	defer s.Close()
	ct := make([]byte, 40)
	rec := func(i int) []vault.PutItem {
		return []vault.PutItem{{Record: &vault.Record{Alias: fmt.Sprint("tok_", i), Format: vault.FormatUUID, Storage: vault.StorageVolatile,
			Ciphertext: ct, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}}}
	}
	for i := range bound {
		if _, err := s.Put(b.Context(), rec(i)); err != nil {
			b.Fatal(err)
		}
		clk.Advance(time.Microsecond)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Put(b.Context(), rec(bound+i)); err != nil {
			b.Fatal(err)
		}
		clk.Advance(time.Microsecond)
	}
	if s.Len() != bound {
		b.Fatalf("len %d", s.Len())
	}
}

// BenchmarkPutGrowing: one CVC a Put into a store under its bound, as
// the volatile store of a gateway fills during its first TTL (bench
// scenario 1 puts one per request): the map, the slabs and the expiry
// queue grow with b.N.
func BenchmarkPutGrowing(b *testing.B) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 1_000_000_000})
	defer s.Close()
	ct := make([]byte, 31)
	item := make([]vault.PutItem, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		item[0] = vault.PutItem{Record: &vault.Record{Alias: "tok_bench_" + strconv.Itoa(1e15+i), Format: vault.FormatUUID,
			Storage: vault.StorageVolatile, Ciphertext: ct, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}}
		if _, err := s.Put(b.Context(), item); err != nil {
			b.Fatal(err)
		}
		clk.Advance(time.Microsecond)
	}
}

// TestAliasLengths: records are keyed by their alias's bytes up to 47 of
// them and by its hash beyond; every length round-trips through Put, Get,
// Delete, the scans, the sweep and eviction, and an alias one byte off
// another (a prefix, a changed last byte) never finds the other's record.
func TestAliasLengths(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer s.Close()
	alias := func(kind string, n int) string { return kind + strings.Repeat("x", n-len(kind)-1) + "z" }
	lengths := []int{2, 46, 47, 48, 49, 100, 256}
	var items []vault.PutItem
	var persistent []string
	for _, n := range lengths {
		p := alias("p", n)
		persistent = append(persistent, p)
		items = append(items,
			vault.PutItem{Record: &vault.Record{Alias: alias("v", n), Storage: vault.StorageVolatile, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Second)}},
			vault.PutItem{Record: &vault.Record{Alias: p, Storage: vault.StoragePersistent, CreatedAt: clk.Now()}})
	}
	if _, err := s.Put(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	for _, n := range lengths {
		for _, kind := range []string{"v", "p"} {
			a := alias(kind, n)
			near := []string{a[:n-1] + "y", a[:n-1], a + "z"}
			got, err := s.Get(t.Context(), append([]string{a}, near...))
			if err != nil {
				t.Fatal(err)
			}
			if got[0] == nil || got[0].Alias != a {
				t.Errorf("length %d %s: the record is not found under its alias", n, kind)
			}
			for i, r := range got[1:] {
				if r != nil {
					t.Errorf("length %d %s: the alias %q finds a record", n, kind, near[i])
				}
			}
		}
	}
	recs, err := s.ScanRecords(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var scanned []string
	for _, r := range recs {
		scanned = append(scanned, r.Alias)
	}
	slices.Sort(persistent)
	if !slices.Equal(scanned, persistent) {
		t.Errorf("ScanRecords: %d aliases, want the %d persistent ones in order", len(scanned), len(persistent))
	}
	for _, a := range []string{alias("p", 2), alias("p", 100), alias("v", 256)} {
		if err := s.Delete(t.Context(), a, ""); err != nil {
			t.Fatalf("Delete of a %d-byte alias: %v", len(a), err)
		}
		if got, _ := s.Get(t.Context(), []string{a}); got[0] != nil {
			t.Errorf("a %d-byte alias is still there after Delete", len(a))
		}
	}
	if s.Len() != 2*len(lengths)-3 {
		t.Fatalf("len %d after three deletes, want %d", s.Len(), 2*len(lengths)-3)
	}
	clk.Advance(2 * time.Second)
	if n := s.Sweep(); n != len(lengths)-1 {
		t.Errorf("sweep dropped %d, want the %d volatile records left", n, len(lengths)-1)
	}
	if s.Len() != len(lengths)-2 {
		t.Errorf("len %d after the sweep, want %d", s.Len(), len(lengths)-2)
	}

	// Eviction follows expiry order whatever the key.
	full := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 3})
	defer full.Close()
	for _, n := range []int{100, 10, 60, 30} {
		r := &vault.Record{Alias: alias("e", n), Storage: vault.StorageVolatile, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
		if _, err := full.Put(t.Context(), []vault.PutItem{{Record: r}}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	got, err := full.Get(t.Context(), []string{alias("e", 100), alias("e", 10), alias("e", 60), alias("e", 30)})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != nil || got[1] == nil || got[2] == nil || got[3] == nil || full.Evictions() != 1 {
		t.Errorf("eviction: the oldest (a hashed key) must be the one evicted; evictions %d", full.Evictions())
	}
}

// TestEvictionFollowsExpiryOrderWhateverThePushOrder puts records whose
// expiries come in no order (ties included, between runs of increasing
// ones: the queue's fast push at its end and its sift both taken), then
// makes room one record at a time: each eviction must take the record
// that expires first, the earliest put among equals.
func TestEvictionFollowsExpiryOrderWhateverThePushOrder(t *testing.T) {
	const n = 200
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: n})
	defer s.Close()
	type rec struct {
		alias string
		ttl   time.Duration
	}
	recs := make([]rec, n)
	x := uint32(7)
	for i := range recs {
		x = x*1664525 + 1013904223 // a fixed sequence: the test is the same at every run
		ttl := time.Duration(1+x>>24%50) * time.Minute
		if i%10 < 4 {
			ttl = time.Duration(60+i) * time.Minute // a run of increasing expiries
		}
		recs[i] = rec{alias: fmt.Sprintf("tok_r_%d", i), ttl: ttl}
		if _, err := s.Put(t.Context(), []vault.PutItem{{Record: &vault.Record{Alias: recs[i].alias, Storage: vault.StorageVolatile,
			CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(ttl)}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(recs)
	slices.SortStableFunc(want, func(a, b rec) int { return int(a.ttl - b.ttl) })
	for i, w := range want {
		if err := putN(t, s, clk, fmt.Sprint("new", i), 1, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(t.Context(), []string{w.alias})
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != nil {
			t.Fatalf("eviction %d: %s (ttl %s) should have gone first", i, w.alias, w.ttl)
		}
		if i+1 < n {
			if got, _ := s.Get(t.Context(), []string{want[i+1].alias}); got[0] == nil {
				t.Fatalf("eviction %d also took %s, which expires later", i, want[i+1].alias)
			}
		}
	}
}
