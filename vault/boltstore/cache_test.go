package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// The read cache (cache.go) must answer every look-up exactly as a read of
// the file would: these tests fill it, change the vault through every kind
// of write, and check that no look-up answers from before the write.

var cacheBase = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// cacheRec is a persistent record of alias under index key ik (nil: none),
// owned by owner, expiring at exp (zero: never).
func cacheRec(alias string, ik []byte, owner string, exp time.Time) *vault.Record {
	return &vault.Record{Alias: alias, Format: vault.Format("FPE_SIX_T_FOUR"), Storage: vault.Storage("PERSISTENT"),
		KeyVersion: 1, Ciphertext: bytes.Repeat([]byte{0xc1}, 44), Classifiers: []string{"pan"},
		CreatedAt: cacheBase, ExpiresAt: exp, IndexKey: ik, Owner: owner}
}

func indexKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// cacheStore opens a store at path with a clock the test moves.
func cacheStore(t *testing.T, path string, opts boltstore.Options, now *atomic.Int64) *boltstore.Store {
	t.Helper()
	if now != nil {
		opts.Now = func() time.Time { return cacheBase.Add(time.Duration(now.Load())) }
	}
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func putRecs(t *testing.T, s *boltstore.Store, recs ...*vault.Record) {
	t.Helper()
	for i, r := range vaulttest.Put(t, s, recs...) {
		if r.Status != vault.PutCreated {
			t.Fatalf("Put %s: status %v", recs[i].Alias, r.Status)
		}
	}
}

// lookupOne is LookupRecords of one key: the alias and record found.
func lookupOne(t *testing.T, s *boltstore.Store, ik []byte) (string, *vault.Record) {
	t.Helper()
	aliases, recs, err := s.LookupRecords(context.Background(), [][]byte{ik})
	if err != nil {
		t.Fatal(err)
	}
	return aliases[0], recs[0]
}

func getOne(t *testing.T, s *boltstore.Store, alias string) *vault.Record {
	t.Helper()
	recs, err := s.Get(context.Background(), []string{alias})
	if err != nil {
		t.Fatal(err)
	}
	return recs[0]
}

// warm reads alias (index key ik) through every cached look-up, twice,
// and checks that the second reads were answered by the cache.
func warm(t *testing.T, s *boltstore.Store, alias string, ik []byte) {
	t.Helper()
	for range 2 {
		lookupOne(t, s, ik)
		getOne(t, s, alias)
		if _, err := s.LookupIndex(context.Background(), [][]byte{ik}); err != nil {
			t.Fatal(err)
		}
	}
	before := s.CacheStats().Hits
	a, r := lookupOne(t, s, ik)
	if a != alias || r == nil || getOne(t, s, alias) == nil {
		t.Fatalf("warm %s: %q %v", alias, a, r)
	}
	if got := s.CacheStats().Hits - before; got != 2 { // one index key, one alias
		t.Fatalf("warm %s: %d cache hits, want 2", alias, got)
	}
}

// TestCacheAnswersKnownLookupsWithoutTheFile: a second look-up of a known
// value and a live alias is answered by the cache (its hit counter), with
// the record the file holds; an absent alias is not cached and is asked
// of the file each time.
func TestCacheAnswersKnownLookupsWithoutTheFile(t *testing.T) {
	s := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{}, nil)
	want := cacheRec("tok_a", indexKey(1), "", time.Time{})
	putRecs(t, s, want)
	warm(t, s, "tok_a", indexKey(1))
	st := s.CacheStats()
	if st.Entries != 2 || st.Bytes <= 0 {
		t.Fatalf("stats after warm: %+v", st)
	}
	got := getOne(t, s, "tok_a")
	if got.Alias != want.Alias || !bytes.Equal(got.Ciphertext, want.Ciphertext) || !bytes.Equal(got.IndexKey, want.IndexKey) ||
		got.Classifiers[0] != "pan" || !got.CreatedAt.Equal(want.CreatedAt) || got.Format != want.Format {
		t.Fatalf("cached record %+v, want %+v", got, want)
	}
	before := s.CacheStats()
	recs, err := s.Get(context.Background(), []string{"tok_a", "tok_absent"})
	if err != nil || recs[0] == nil || recs[1] != nil {
		t.Fatalf("Get = %v, %v", recs, err)
	}
	after := s.CacheStats()
	if after.Hits-before.Hits != 1 || after.Misses-before.Misses != 1 || after.Entries != before.Entries {
		t.Fatalf("Get of a held and an absent alias: %+v → %+v", before, after)
	}
}

// TestCachedRecordsAreTheCallersOwn: a caller that wipes the record it was
// given (the vault wipes what it decrypts, and may wipe ciphertexts) does
// not change what the next look-up returns.
func TestCachedRecordsAreTheCallersOwn(t *testing.T) {
	s := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{}, nil)
	putRecs(t, s, cacheRec("tok_a", indexKey(1), "", time.Time{}))
	warm(t, s, "tok_a", indexKey(1))
	for range 2 {
		r := getOne(t, s, "tok_a")
		clear(r.Ciphertext)
		clear(r.IndexKey)
		r.Classifiers[0] = "wiped"
		_, r2 := lookupOne(t, s, indexKey(1))
		clear(r2.Ciphertext)
		r2.Owner = "someone"
	}
	r := getOne(t, s, "tok_a")
	if !bytes.Equal(r.Ciphertext, bytes.Repeat([]byte{0xc1}, 44)) || !bytes.Equal(r.IndexKey, indexKey(1)) ||
		r.Classifiers[0] != "pan" || r.Owner != "" {
		t.Fatalf("after the callers wiped their copies: %+v", r)
	}
}

// TestCacheForgetsWhatEveryWriteChanges: after each write that removes or
// changes a record (delete, release, owner change, classifiers, re-key, a
// put over an expired record), the look-ups that follow answer as the file
// does, though the cache held the old record.
func TestCacheForgetsWhatEveryWriteChanges(t *testing.T) {
	ctx := context.Background()
	var now atomic.Int64
	s := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{}, &now)

	t.Run("delete", func(t *testing.T) {
		putRecs(t, s, cacheRec("tok_del", indexKey(1), "", time.Time{}))
		warm(t, s, "tok_del", indexKey(1))
		if err := s.Delete(ctx, "tok_del", ""); err != nil {
			t.Fatal(err)
		}
		if a, r := lookupOne(t, s, indexKey(1)); a != "" || r != nil {
			t.Fatalf("LookupRecords after Delete = %q %v", a, r)
		}
		if r := getOne(t, s, "tok_del"); r != nil {
			t.Fatalf("Get after Delete = %v", r)
		}
		if a, err := s.LookupIndex(ctx, [][]byte{indexKey(1)}); err != nil || a[0] != "" {
			t.Fatalf("LookupIndex after Delete = %v %v", a, err)
		}
	})
	t.Run("release", func(t *testing.T) {
		putRecs(t, s, cacheRec("tok_rel", indexKey(2), "acct", time.Time{}))
		warm(t, s, "tok_rel", indexKey(2))
		if err := s.Release(ctx, "tok_rel", "acct"); err != nil {
			t.Fatal(err)
		}
		if a, r := lookupOne(t, s, indexKey(2)); a != "" || r != nil || getOne(t, s, "tok_rel") != nil {
			t.Fatalf("after Release: %q %v", a, r)
		}
	})
	t.Run("owner", func(t *testing.T) {
		putRecs(t, s, cacheRec("tok_own", indexKey(3), "old", time.Time{}))
		warm(t, s, "tok_own", indexKey(3))
		if err := s.SetOwner(ctx, "tok_own", "old", "new", indexKey(4)); err != nil {
			t.Fatal(err)
		}
		if a, r := lookupOne(t, s, indexKey(3)); a != "" || r != nil {
			t.Fatalf("old index key after SetOwner = %q %v", a, r)
		}
		if a, r := lookupOne(t, s, indexKey(4)); a != "tok_own" || r == nil || r.Owner != "new" {
			t.Fatalf("new index key after SetOwner = %q %v", a, r)
		}
		if r := getOne(t, s, "tok_own"); r == nil || r.Owner != "new" || !bytes.Equal(r.IndexKey, indexKey(4)) {
			t.Fatalf("Get after SetOwner = %+v", r)
		}
	})
	t.Run("classifiers", func(t *testing.T) {
		putRecs(t, s, cacheRec("tok_cls", indexKey(5), "", time.Time{}))
		warm(t, s, "tok_cls", indexKey(5))
		if err := s.SetClassifiers(ctx, []string{"tok_cls"}, []string{"pan", "vip"}); err != nil {
			t.Fatal(err)
		}
		if r := getOne(t, s, "tok_cls"); r == nil || len(r.Classifiers) != 2 {
			t.Fatalf("Get after SetClassifiers = %+v", r)
		}
	})
	t.Run("rekey", func(t *testing.T) {
		putRecs(t, s, cacheRec("tok_rk", indexKey(6), "", time.Time{}))
		warm(t, s, "tok_rk", indexKey(6))
		n, err := s.Rekey(ctx, []vault.RekeyItem{{Alias: "tok_rk", OldVersion: 1, NewVersion: 2, Ciphertext: []byte("new ciphertext")}})
		if err != nil || n != 1 {
			t.Fatalf("Rekey = %d, %v", n, err)
		}
		if _, r := lookupOne(t, s, indexKey(6)); r == nil || r.KeyVersion != 2 || string(r.Ciphertext) != "new ciphertext" {
			t.Fatalf("LookupRecords after Rekey = %+v", r)
		}
		if r := getOne(t, s, "tok_rk"); r == nil || r.KeyVersion != 2 {
			t.Fatalf("Get after Rekey = %+v", r)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		exp := cacheBase.Add(time.Duration(now.Load()) + time.Minute)
		putRecs(t, s, cacheRec("tok_exp", indexKey(7), "", exp))
		warm(t, s, "tok_exp", indexKey(7))
		now.Add(int64(time.Minute))
		before := s.CacheStats().Hits
		if a, r := lookupOne(t, s, indexKey(7)); a != "tok_exp" || r != nil {
			t.Fatalf("LookupRecords at the expiry = %q %v", a, r) // the index entry stays; the record is gone
		}
		if r := getOne(t, s, "tok_exp"); r != nil {
			t.Fatalf("Get at the expiry = %v", r)
		}
		if s.CacheStats().Hits == before {
			t.Fatal("the expired record was not read from the cache: the test checks nothing")
		}
		// A new record under the expired one's alias and index key.
		putRecs(t, s, cacheRec("tok_exp", indexKey(7), "", time.Time{}))
		if a, r := lookupOne(t, s, indexKey(7)); a != "tok_exp" || r == nil || !r.ExpiresAt.IsZero() {
			t.Fatalf("LookupRecords after the put over the expired record = %q %+v", a, r)
		}
	})
}

// TestCacheIsEmptyInAReopenedStore: a store opened again reads the file:
// what was deleted before the close stays deleted, what was put is found.
func TestCacheIsEmptyInAReopenedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s := cacheStore(t, path, boltstore.Options{}, nil)
	putRecs(t, s, cacheRec("tok_a", indexKey(1), "", time.Time{}), cacheRec("tok_b", indexKey(2), "", time.Time{}))
	warm(t, s, "tok_a", indexKey(1))
	warm(t, s, "tok_b", indexKey(2))
	if err := s.Delete(context.Background(), "tok_a", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), []string{"tok_b"}); err == nil {
		t.Fatal("Get of a cached record after Close succeeded")
	}
	s = cacheStore(t, path, boltstore.Options{}, nil)
	if st := s.CacheStats(); st.Entries != 0 {
		t.Fatalf("a reopened store's cache: %+v", st)
	}
	if a, r := lookupOne(t, s, indexKey(1)); a != "" || r != nil {
		t.Fatalf("deleted record after reopen: %q %v", a, r)
	}
	warm(t, s, "tok_b", indexKey(2))
}

// TestCacheStaysWithinItsBounds: a flood of distinct known values and
// aliases (more than the cache holds) keeps the cache within its entry and
// byte bounds, every look-up still answered right; a record larger than
// the cache's per-entry bound is never cached, nor a call of more than 64
// look-ups.
func TestCacheStaysWithinItsBounds(t *testing.T) {
	ctx := context.Background()
	s := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{CacheEntries: 16, CacheBytes: 2000}, nil)
	var recs []*vault.Record
	for i := range 200 {
		recs = append(recs, cacheRec(fmt.Sprintf("tok_%03d", i), indexKey(byte(i)), "", time.Time{}))
	}
	putRecs(t, s, recs...)
	for round := range 3 {
		for i := range 200 {
			a, r := lookupOne(t, s, indexKey(byte(i)))
			if want := fmt.Sprintf("tok_%03d", i); a != want || r == nil || r.Alias != want {
				t.Fatalf("round %d: key %d → %q %v", round, i, a, r)
			}
			if st := s.CacheStats(); st.Entries > 16 || st.Bytes > 2000 {
				t.Fatalf("round %d, key %d: %+v over the bounds", round, i, st)
			}
		}
	}
	big := cacheRec("tok_big", indexKey(250), "", time.Time{})
	big.Ciphertext = make([]byte, 4000)
	putRecs(t, s, big)
	for range 3 {
		if r := getOne(t, s, "tok_big"); r == nil || len(r.Ciphertext) != 4000 {
			t.Fatalf("big record: %v", r)
		}
	}
	before := s.CacheStats()
	getOne(t, s, "tok_big")
	if s.CacheStats().Hits != before.Hits {
		t.Fatal("a record over the cache's byte bound was cached")
	}
	// A call of more than 64 look-ups (Known's batches) neither asks nor
	// fills the cache.
	s2 := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{}, nil)
	putRecs(t, s2, recs...)
	keys := make([][]byte, 65)
	for i := range keys {
		keys[i] = indexKey(byte(i))
	}
	for range 2 {
		aliases, rs, err := s2.LookupRecords(ctx, keys)
		if err != nil || aliases[64] != "tok_064" || rs[64] == nil {
			t.Fatalf("LookupRecords of 65 keys: %v", err)
		}
	}
	if st := s2.CacheStats(); st.Hits != 0 || st.Entries != 0 {
		t.Fatalf("after two look-ups of 65 keys: %+v", st)
	}
}

// TestCacheOff: CacheEntries < 0 turns the cache off: nothing is cached.
func TestCacheOff(t *testing.T) {
	s := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{CacheEntries: -1}, nil)
	putRecs(t, s, cacheRec("tok_a", indexKey(1), "", time.Time{}))
	for range 3 {
		if a, r := lookupOne(t, s, indexKey(1)); a != "tok_a" || r == nil || getOne(t, s, "tok_a") == nil {
			t.Fatal("look-up without a cache")
		}
	}
	if st := s.CacheStats(); st.Hits != 0 || st.Entries != 0 {
		t.Fatalf("cache off: %+v", st)
	}
}

// TestCacheDeleteRacingLookups: look-ups run while records are deleted;
// a look-up that starts after a Delete returned never finds the record
// (run under -race). Each record is read until its delete, by several
// readers at once, so reads fill the cache while writes commit.
func TestCacheDeleteRacingLookups(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(fmt.Sprintf("group=%v", group), func(t *testing.T) {
			ctx := context.Background()
			s := cacheStore(t, filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{NoGroupCommit: !group}, nil)
			const n = 30
			var recs []*vault.Record
			for i := range n {
				recs = append(recs, cacheRec(fmt.Sprintf("tok_%03d", i), indexKey(byte(i)), "", time.Time{}))
			}
			putRecs(t, s, recs...)
			var deleted [n]atomic.Bool
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 4 {
				wg.Go(func() {
					for k := 0; ; k++ {
						select {
						case <-stop:
							return
						default:
						}
						i := (k*7 + w) % n
						gone := deleted[i].Load()
						alias := fmt.Sprintf("tok_%03d", i)
						if w%2 == 0 {
							a, rs, err := s.LookupRecords(ctx, [][]byte{indexKey(byte(i)), indexKey(byte((i + 1) % n))})
							if err != nil {
								t.Error(err)
								return
							}
							if gone && (a[0] != "" || rs[0] != nil) {
								t.Errorf("LookupRecords found %s after its Delete returned", alias)
								return
							}
						} else {
							rs, err := s.Get(ctx, []string{alias, fmt.Sprintf("tok_%03d", (i+1)%n)})
							if err != nil {
								t.Error(err)
								return
							}
							if gone && rs[0] != nil {
								t.Errorf("Get found %s after its Delete returned", alias)
								return
							}
						}
					}
				})
			}
			for i := range n {
				time.Sleep(time.Millisecond)
				if err := s.Delete(ctx, fmt.Sprintf("tok_%03d", i), ""); err != nil {
					t.Fatal(err)
				}
				deleted[i].Store(true)
			}
			close(stop)
			wg.Wait()
			if st := s.CacheStats(); st.Hits == 0 {
				t.Fatalf("the readers never hit the cache: %+v", st)
			}
		})
	}
}

// freePages grows the file and frees pages in it, so that a write
// committed while a read transaction is open (the hook's) finds free pages
// in the mapping: one that had to grow it would wait for the read to end.
func freePages(t *testing.T, s *boltstore.Store) {
	t.Helper()
	var pads []*vault.Record
	var rekey []vault.RekeyItem
	for i := range 300 {
		r := cacheRec(fmt.Sprintf("tok_pad%03d", i), nil, "", time.Time{})
		r.Ciphertext = make([]byte, 900)
		pads = append(pads, r)
		rekey = append(rekey, vault.RekeyItem{Alias: r.Alias, OldVersion: 1, NewVersion: 2, Ciphertext: []byte{1}})
	}
	putRecs(t, s, pads...)
	if _, err := s.Rekey(context.Background(), rekey); err != nil {
		t.Fatal(err)
	}
}

// hookedStore opens a store whose hook, at stage, runs (once) the
// function the test stores in the pointer returned.
func hookedStore(t *testing.T, stage int, group bool) (*boltstore.Store, *atomic.Pointer[func()]) {
	t.Helper()
	run := new(atomic.Pointer[func()])
	hook := func(at int) {
		if at != stage {
			return
		}
		if f := run.Swap(nil); f != nil {
			(*f)()
		}
	}
	s, err := boltstore.OpenWithHook(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{NoGroupCommit: !group}, hook)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, run
}

// TestCacheWriteCommittedDuringARead: writes that commit while a look-up
// reads the file (after it consulted the cache, before its read
// transaction begins, or inside it before or after it checks that no write
// began) leave the look-up's older snapshot out of the cache: the next
// look-ups answer as the file does. A look-up whose cache answers are older
// than its transaction's snapshot reads them again: it never mixes two
// states of the vault. The look-up itself may answer from before or after
// the write (it ran alongside it).
func TestCacheWriteCommittedDuringARead(t *testing.T) {
	stages := []int{boltstore.ReadBeforeTx, boltstore.ReadInTxBeforeCheck, boltstore.ReadInTxAfterCheck}
	for _, stage := range stages {
		for _, group := range []bool{true, false} {
			t.Run(fmt.Sprintf("stage=%d/group=%v", stage, group), func(t *testing.T) {
				ctx := context.Background()
				s, write := hookedStore(t, stage, group)
				freePages(t, s)
				putRecs(t, s, cacheRec("tok_a", indexKey(1), "", time.Time{}), cacheRec("tok_b", indexKey(2), "old", time.Time{}))
				del := func() {
					if err := s.Delete(ctx, "tok_a", ""); err != nil {
						t.Error(err)
					}
				}
				write.Store(&del)
				lookupOne(t, s, indexKey(1))
				if write.Load() != nil {
					t.Fatal("the hook did not run")
				}
				for range 2 {
					if a, r := lookupOne(t, s, indexKey(1)); a != "" || r != nil {
						t.Fatalf("LookupRecords after the Delete = %q %v", a, r)
					}
					if r := getOne(t, s, "tok_a"); r != nil {
						t.Fatalf("Get after the Delete = %v", r)
					}
				}
				// The cache holds tok_b; while a Get of tok_b and tok_c
				// (not held) reads tok_c from the file, tok_b changes
				// owner and tok_c is put. Were tok_b answered from the
				// cache and tok_c from a snapshot after the writes, the
				// Get would see tok_c but tok_b's old owner.
				warm(t, s, "tok_b", indexKey(2))
				both := func() {
					if err := s.SetOwner(ctx, "tok_b", "old", "new", nil); err != nil {
						t.Error(err)
					}
					putRecs(t, s, cacheRec("tok_c", indexKey(3), "", time.Time{}))
				}
				write.Store(&both)
				recs, err := s.Get(ctx, []string{"tok_b", "tok_c"})
				if err != nil || recs[0] == nil {
					t.Fatalf("Get = %v, %v", recs, err)
				}
				if (recs[1] != nil) != (recs[0].Owner == "new") {
					t.Fatalf("Get alongside the writes mixed two states: tok_b's owner %q, tok_c %v", recs[0].Owner, recs[1])
				}
				for range 2 {
					recs, err := s.Get(ctx, []string{"tok_b", "tok_c"})
					if err != nil || recs[0] == nil || recs[0].Owner != "new" || recs[1] == nil {
						t.Fatalf("Get after the writes = %+v, %v", recs, err)
					}
				}
			})
		}
	}
}

// TestCacheReadDuringACommit: a look-up that runs once a write's commit
// has begun (its generation moved) but before its transaction commits
// reads the file as it was and must not cache it: the look-ups after the
// write answer as the file does.
func TestCacheReadDuringACommit(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(fmt.Sprintf("group=%v", group), func(t *testing.T) {
			ctx := context.Background()
			s, read := hookedStore(t, boltstore.WriteBegun, group)
			putRecs(t, s, cacheRec("tok_a", indexKey(1), "", time.Time{}))
			warm(t, s, "tok_a", indexKey(1))
			look := func() {
				if a, r := lookupOne(t, s, indexKey(1)); a != "tok_a" || r == nil {
					t.Errorf("look-up before the Delete committed = %q %v", a, r)
				}
				getOne(t, s, "tok_a")
			}
			read.Store(&look)
			if err := s.Delete(ctx, "tok_a", ""); err != nil {
				t.Fatal(err)
			}
			if read.Load() != nil {
				t.Fatal("the hook did not run")
			}
			if a, r := lookupOne(t, s, indexKey(1)); a != "" || r != nil {
				t.Fatalf("LookupRecords after the Delete = %q %v", a, r)
			}
			if r := getOne(t, s, "tok_a"); r != nil {
				t.Fatalf("Get after the Delete = %v", r)
			}
		})
	}
}
