package vaulttest

import (
	"context"
	"errors"
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
	put(t, s, live, owned, gone, expiring)
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
