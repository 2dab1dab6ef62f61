package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault"
)

// The reads as they were before the read cache (boltstore.go before
// cache.go), each in a read transaction of the file: the reference the
// cached reads are compared with.

func fileLiveRecord(b *bolt.Bucket, alias string, now *clock) (*vault.Record, error) {
	v := b.Get([]byte(alias))
	if v == nil {
		return nil, nil
	}
	r, err := vault.UnmarshalRecord(alias, v)
	if err != nil || !r.ExpiresAt.IsZero() && r.Expired(now.get()) {
		return nil, err
	}
	return r, nil
}

func fileGet(s *Store, aliases []string) ([]*vault.Record, error) {
	out := make([]*vault.Record, len(aliases))
	now := clock{now: s.now}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAliases)
		for i, a := range aliases {
			r, err := fileLiveRecord(b, a, &now)
			if err != nil {
				return err
			}
			out[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get: %w", err)
	}
	return out, nil
}

func fileLookupIndex(s *Store, keys [][]byte) ([]string, error) {
	out := make([]string, len(keys))
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIndex)
		for i, k := range keys {
			if v := b.Get(k); v != nil {
				out[i] = string(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: lookup index: %w", err)
	}
	return out, nil
}

func fileLookupRecords(s *Store, keys [][]byte) ([]string, []*vault.Record, error) {
	aliases, recs := make([]string, len(keys)), make([]*vault.Record, len(keys))
	now := clock{now: s.now}
	err := s.view(func(tx *bolt.Tx) error {
		ib, ab := tx.Bucket(bucketIndex), tx.Bucket(bucketAliases)
		for i, k := range keys {
			v := ib.Get(k)
			if v == nil {
				continue
			}
			aliases[i] = string(v)
			r, err := fileLiveRecord(ab, aliases[i], &now)
			if err != nil {
				return err
			}
			recs[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boltstore: lookup records: %w", err)
	}
	return aliases, recs, nil
}

// runCacheOps runs ops (pairs of bytes: an operation, its argument) on a
// store with a small cache (6 entries, so entries are also evicted): puts,
// deletes, releases, owner changes, classifiers, re-keys, hand-outs, a
// clock moving past expiries, and the three cached reads, each compared
// with the same read of the file. Eight aliases, eight index keys, two
// owners.
// It returns the cache's counters.
func runCacheOps(t testing.TB, ops []byte) CacheStats {
	ctx := context.Background()
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	s, err := Open(filepath.Join(t.TempDir(), "vault.db"), Options{Now: now, CacheEntries: 6, CacheBytes: 1500})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alias := func(b byte) string { return fmt.Sprintf("tok_%d", b%8) }
	key := func(b byte) []byte {
		k := make([]byte, 32)
		k[0] = b % 9 // key 8 is never written
		return k
	}
	owner := func(b byte) string { return []string{"", "acct"}[b%2] }
	pick := func(arg byte) (as []string, ks [][]byte) {
		for i := range 3 {
			b := arg >> (2 * i)
			if b&3 != 3 {
				as = append(as, alias(arg+byte(i)*3))
				ks = append(ks, key(arg+byte(i)*3))
			}
		}
		return as, ks
	}
	for n := 0; len(ops) >= 2; n++ {
		op, arg := ops[0], ops[1]
		ops = ops[2:]
		var err error
		switch op % 16 {
		case 0:
			r := &vault.Record{Alias: alias(arg), Format: vault.Format("FPE_SIX_T_FOUR"), Storage: vault.Storage("PERSISTENT"),
				KeyVersion: 1, Ciphertext: binary.BigEndian.AppendUint16(make([]byte, 40, 42), uint16(n)),
				Classifiers: []string{"pan"}, CreatedAt: now(), Owner: owner(arg >> 7)}
			if arg&0x40 == 0 {
				r.IndexKey = key(arg >> 3)
			}
			if arg&0x20 != 0 {
				r.ExpiresAt = now().Add(time.Minute)
			}
			_, err = s.Put(ctx, []vault.PutItem{{Record: r}})
		case 1:
			err = s.Delete(ctx, alias(arg), owner(arg>>3))
		case 2:
			err = s.Release(ctx, alias(arg), owner(arg>>3))
		case 3:
			var k []byte
			if arg&0x40 == 0 {
				k = key(arg >> 3)
			}
			err = s.SetOwner(ctx, alias(arg), owner(arg>>7), owner(arg>>6), k)
		case 4:
			err = s.SetClassifiers(ctx, []string{alias(arg)}, []string{"pan", fmt.Sprint(n)})
		case 5:
			_, err = s.Rekey(ctx, []vault.RekeyItem{{Alias: alias(arg), OldVersion: uint32(arg>>3) % 3, NewVersion: uint32(arg>>5) % 3, Ciphertext: []byte{byte(n)}}})
		case 6:
			_, err = s.HandOut(ctx, []string{alias(arg)})
		case 7:
			offset.Add(int64(arg%4) * int64(30*time.Second))
		case 8, 9, 10, 11:
			_, ks := pick(arg)
			ga, gr, gerr := s.LookupRecords(ctx, ks)
			wa, wr, werr := fileLookupRecords(s, ks)
			if !reflect.DeepEqual(ga, wa) || !reflect.DeepEqual(gr, wr) || (gerr == nil) != (werr == nil) {
				t.Fatalf("op %d: LookupRecords = %q %+v %v; the file: %q %+v %v", n, ga, gr, gerr, wa, wr, werr)
			}
		case 12, 13:
			as, _ := pick(arg)
			got, gerr := s.Get(ctx, as)
			want, werr := fileGet(s, as)
			if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) {
				t.Fatalf("op %d: Get(%q) = %+v %v; the file: %+v %v", n, as, got, gerr, want, werr)
			}
		case 14, 15:
			_, ks := pick(arg)
			got, gerr := s.LookupIndex(ctx, ks)
			want, werr := fileLookupIndex(s, ks)
			if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) {
				t.Fatalf("op %d: LookupIndex = %q %v; the file: %q %v", n, got, gerr, want, werr)
			}
		}
		if err != nil && err != vault.ErrNotFound && err != vault.ErrHandedOut {
			t.Fatalf("op %d (%d %d): %v", n, op, arg, err)
		}
		if st := s.CacheStats(); st.Entries > 6 || st.Bytes > 1500 {
			t.Fatalf("op %d: cache over its bounds: %+v", n, st)
		}
	}
	return s.CacheStats()
}

// TestCacheAgainstTheFile runs random operation sequences (runCacheOps):
// every cached read answers as the file does.
func TestCacheAgainstTheFile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var hits uint64
	for range 20 {
		ops := make([]byte, 400)
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		hits += runCacheOps(t, ops).Hits
	}
	if hits < 100 {
		t.Fatalf("%d cache hits in 20 sequences: the comparison checks little", hits)
	}
}

// FuzzCacheAgainstTheFile is TestCacheAgainstTheFile on the fuzzer's
// sequences.
func FuzzCacheAgainstTheFile(f *testing.F) {
	f.Add([]byte{0, 0, 8, 0, 8, 0, 1, 0, 8, 0, 12, 0})
	f.Add([]byte{0, 0x20, 12, 0, 12, 0, 7, 2, 12, 0, 8, 0, 0, 0x20, 8, 0})
	f.Add([]byte{0, 0x80, 3, 0xc0, 8, 0, 8, 1, 12, 0, 4, 0, 12, 0, 5, 0x28, 12, 0, 14, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			ops = ops[:200]
		}
		runCacheOps(t, ops)
	})
}
