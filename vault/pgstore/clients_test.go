package pgstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/vault/pgstore"
)

// TestUpdateClientIsACompareAndSwap: UpdateClient replaces a client record
// only when the stored one is the one given, and of two stores swapping the
// same record at once exactly one wins.
func TestUpdateClientIsACompareAndSwap(t *testing.T) {
	u := newSchema(t)
	a := openStore(t, u, pgstore.Options{})
	defer a.Close()
	b := openStore(t, u, pgstore.Options{})
	defer b.Close()
	ctx := context.Background()
	if err := a.PutClient(ctx, "AC1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, old, rec string
		want         bool
		stored       string
	}{
		{"AC1", "other", "two", false, "one"},
		{"AC2", "one", "two", false, "one"},
		{"AC1", "one", "two", true, "two"},
		{"AC1", "one", "three", false, "two"},
		{"AC\x00", "one", "three", false, "two"},
	} {
		ok, err := a.UpdateClient(ctx, tt.id, []byte(tt.old), []byte(tt.rec))
		if err != nil || ok != tt.want {
			t.Fatalf("UpdateClient(%q, %s → %s) = %v, %v; want %v", tt.id, tt.old, tt.rec, ok, err, tt.want)
		}
		if got, _, _ := b.GetClient(ctx, "AC1"); string(got) != tt.stored {
			t.Fatalf("stored %q, want %q", got, tt.stored)
		}
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i, s := range []*pgstore.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UpdateClient(ctx, "AC1", []byte("two"), []byte{'x', byte('0' + i)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent swaps won, want 1", wins.Load())
	}
}
