package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// testLookupRecords: LookupRecords answers, key by key, what LookupIndex
// and then Get of the alias found answer: a live record (of the default
// account or another), nothing for an unknown key, a deleted record or an
// expired one, and its own copy of a record for each repeat of a key.
func testLookupRecords(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	live := rec("tok_l1", "live", clk.Now())
	owned := rec("tok_l2", "owned", clk.Now())
	owned.Owner = "acct_b"
	gone := rec("tok_l3", "deleted", clk.Now())
	expiring := rec("tok_l4", "expiring", clk.Now())
	expiring.ExpiresAt = clk.Now().Add(time.Second)
	Put(t, s, live, owned, gone, expiring)
	if err := s.Delete(ctx, gone.Alias, ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	unknown := rec("", "unknown", clk.Now()).IndexKey
	keys := [][]byte{live.IndexKey, unknown, owned.IndexKey, gone.IndexKey, expiring.IndexKey, live.IndexKey}
	want := []*vault.Record{live, nil, owned, nil, nil, live}

	aliases, recs, err := s.LookupRecords(ctx, keys)
	if err != nil {
		t.Fatalf("LookupRecords: %v", err)
	}
	if len(aliases) != len(keys) || len(recs) != len(keys) {
		t.Fatalf("LookupRecords returned %d aliases and %d records for %d keys", len(aliases), len(recs), len(keys))
	}
	index, err := s.LookupIndex(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if aliases[i] != index[i] {
			t.Errorf("key %d: alias %q, LookupIndex says %q", i, aliases[i], index[i])
		}
		if want[i] == nil {
			if recs[i] != nil {
				t.Errorf("key %d: record %+v, want none", i, recs[i])
			}
			if aliases[i] != "" && get1(t, s, aliases[i]) != nil {
				t.Errorf("key %d: Get returns a record for %q", i, aliases[i])
			}
			continue
		}
		if aliases[i] != want[i].Alias {
			t.Errorf("key %d: alias %q, want %q", i, aliases[i], want[i].Alias)
		}
		sameRecord(t, recs[i], want[i])
	}
	// A repeated key gets a record of its own.
	if recs[0] == recs[5] {
		t.Fatal("a repeated key shares its record")
	}
	recs[0].Classifiers[0] = "changed"
	if recs[5].Classifiers[0] != live.Classifiers[0] {
		t.Fatal("changing one record of a repeated key changed the other")
	}

	aliases, recs, err = s.LookupRecords(ctx, nil)
	if err != nil || len(aliases) != 0 || len(recs) != 0 {
		t.Fatalf("LookupRecords(no keys) = %q, %v, %v", aliases, recs, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LookupRecords(ctx, keys); !errors.Is(err, vault.ErrClosed) {
		t.Fatalf("LookupRecords after Close = %v, want ErrClosed", err)
	}
}

// testLookupRecordsWhileReplaced: while other calls delete records and put
// new ones (new aliases) under the same index keys, and replace their
// classifiers, every answer of LookupRecords pairs each key with an alias
// the index gave it and that alias's own record (its alias, its index key,
// the ciphertext written under that alias), never another's or a deleted
// one's, and a record only with its alias.
func testLookupRecordsWhileReplaced(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	const n = 4
	var mu sync.Mutex
	written := map[string][]byte{} // alias → ciphertext
	keys := make([][]byte, n)
	for i := range n {
		r := rec(fmt.Sprintf("tok_rp%d_0", i), fmt.Sprint("replaced-", i), clk.Now())
		keys[i] = r.IndexKey
		written[r.Alias] = r.Ciphertext
		Put(t, s, r)
	}
	stop := make(chan struct{})
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { // the writer
		for gen := 1; ; gen++ {
			select {
			case <-stop:
				return
			default:
			}
			i := gen % n
			aliases, err := s.LookupIndex(ctx, keys[i:i+1])
			if err != nil {
				errs <- err
				return
			}
			if gen%3 == 0 {
				if err := s.SetClassifiers(ctx, aliases, []string{fmt.Sprint("g", gen)}); err != nil && !errors.Is(err, vault.ErrNotFound) {
					errs <- err
					return
				}
				continue
			}
			if err := s.Delete(ctx, aliases[0], ""); err != nil && !errors.Is(err, vault.ErrNotFound) {
				errs <- err
				return
			}
			r := rec(fmt.Sprintf("tok_rp%d_%d", i, gen), fmt.Sprint("replaced-", i), clk.Now())
			mu.Lock()
			written[r.Alias] = r.Ciphertext
			mu.Unlock()
			if _, err := s.Put(ctx, []vault.PutItem{{Record: r}}); err != nil {
				errs <- err
				return
			}
		}
	})
	deadline := time.Now().Add(time.Second)
	reads := 0
	for ; time.Now().Before(deadline); reads++ {
		aliases, recs, err := s.LookupRecords(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r == nil {
				continue
			}
			mu.Lock()
			ct, ok := written[aliases[i]]
			mu.Unlock()
			if r.Alias != aliases[i] || !ok || !bytes.Equal(r.Ciphertext, ct) || !bytes.Equal(r.IndexKey, keys[i]) {
				t.Fatalf("key %d: alias %q with the record of %q (ciphertext ours: %v, index key ours: %v)",
					i, aliases[i], r.Alias, ok && bytes.Equal(r.Ciphertext, ct), bytes.Equal(r.IndexKey, keys[i]))
			}
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if reads < 10 {
		t.Fatalf("only %d reads", reads)
	}
}
