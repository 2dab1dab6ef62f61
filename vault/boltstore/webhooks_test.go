package boltstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/webhookstest"
)

func TestWebhookStore(t *testing.T) {
	webhookstest.Run(t, func(t *testing.T) webhooks.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestClaimSkipsEndpointsOfOldIndexEntries: due index entries written
// before they named their endpoint (an empty value, or the account as a
// build of the day wrote it) are skipped by the endpoint of their
// delivery.
func TestClaimSkipsEndpointsOfOldIndexEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ds := deliveriesOf(t0, 0, 4, "acct_a", webhooks.StatePending)
	for i, endpoint := range []string{"ep_a", "ep_a", "ep_b", "ep_b"} {
		ds[i].Endpoint = endpoint
	}
	if err := s.AddDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("webhook_due"))
		var keys [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if len(v) < 2 || v[0] != 0x01 {
				t.Errorf("a new index entry does not name its endpoint: %q", v)
			}
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		// Two entries as first written (empty), one as the day's build
		// wrote them (the account), one as now.
		for i, k := range keys[:3] {
			v := []byte(nil)
			if i == 1 {
				v = []byte("acct_a")
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ClaimDeliveriesSkipping(context.Background(), "a", t0.Add(time.Second), t0.Add(time.Minute), 5, []string{"ep_a"})
	if err != nil || len(got) != 2 || got[0].ID != ds[2].ID || got[1].ID != ds[3].ID {
		t.Fatalf("claim skipping ep_a: %v %v", got, err)
	}
}

// TestClaimThatSkipsEveryDueDeliveryWritesNothing: while one endpoint's
// backlog is left out of the claims (its attempts under way), every wake
// of the dispatcher (each published event, each attempt that ends) claims
// again. A claim that finds only skipped deliveries must not take the
// single write transaction (and its sync) every vault write waits for: it
// used to, scanning the whole backlog inside it each time.
func TestClaimThatSkipsEveryDueDeliveryWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ds := deliveriesOf(t0, 0, 50, "acct_a", webhooks.StatePending)
	if err := s.AddDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	for range 3 {
		got, err := s.ClaimDeliveriesSkipping(context.Background(), "a", t0.Add(time.Second), t0.Add(time.Minute), 5, []string{"ep1"})
		if err != nil || len(got) != 0 {
			t.Fatalf("claim skipping ep1 = %d, %v; want none", len(got), err)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a claim that found only skipped deliveries wrote the file (modified %v, then %v)", before.ModTime(), after.ModTime())
	}
	// The skipped deliveries are still due, and claimed when not skipped.
	got, err := s.ClaimDeliveriesSkipping(context.Background(), "a", t0.Add(time.Second), t0.Add(time.Minute), 5, nil)
	if err != nil || len(got) != 5 || got[0].ID != ds[0].ID {
		t.Fatalf("claim = %d, %v; want ep1's first five", len(got), err)
	}
}

// rawUpdate changes the closed vault file at path with bbolt itself, as
// an older build or a damaged file would have it.
func rawUpdate(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// deliveriesOf returns n deliveries of account in state, made a
// millisecond apart from at (ids in that order), numbered from first.
func deliveriesOf(at time.Time, first, n int, account string, state webhooks.State) []webhooks.Delivery {
	var ds []webhooks.Delivery
	for i := first; i < first+n; i++ {
		t := at.Add(time.Duration(i) * time.Millisecond)
		ds = append(ds, webhooks.Delivery{ID: fmt.Sprintf("dlv_%016x%016x", t.UnixNano(), i), EventID: fmt.Sprintf("evt_%d", i),
			EventType: "card.created", Account: account, Endpoint: "ep1", Payload: json.RawMessage(`{}`),
			State: state, CreatedAt: t, UpdatedAt: t, Due: t, Attempts: []webhooks.Attempt{}})
	}
	return ds
}

// TestDeliveryListingReadsOnlyItsKeyRange: a listing filtered by account,
// state or both reads only the deliveries it answers with (their key
// range of webhook_list), not the log's others: a listing of acct_b's
// deliveries answers although a newer delivery of acct_a cannot be read.
// Before, every listing walked the whole log back from the newest,
// decoding each delivery, until it had its page: a filter that matched
// few read them all (and here failed on acct_a's). The listing index is
// built at Open for a file written before it, follows a redelivery's
// state, and is pruned with its deliveries.
func TestDeliveryListingReadsOnlyItsKeyRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	b := append(deliveriesOf(t0, 0, 2, "acct_b", webhooks.StateFailed), deliveriesOf(t0, 2, 1, "acct_b", webhooks.StateDelivered)...)
	a := deliveriesOf(t0, 3, 300, "acct_a", webhooks.StatePending)
	if err := s.AddDeliveries(ctx, append(b, a...)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// As a file written before webhook_list, with one of acct_a's
	// deliveries unreadable.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("webhook_list")); err != nil {
			return err
		}
		return tx.Bucket([]byte("webhook_deliveries")).Put([]byte(a[150].ID), []byte("{"))
	})
	if s, err = boltstore.Open(path, boltstore.Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := func(f webhooks.Filter) []string {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, f)
		if err != nil {
			t.Fatalf("ListDeliveries(%+v): %v", f, err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	same := func(what string, got []string, want ...webhooks.Delivery) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %d deliveries", what, got, len(want))
		}
		for i := range want {
			if got[i] != want[i].ID {
				t.Fatalf("%s: %v, want %s at %d", what, got, want[i].ID, i)
			}
		}
	}
	same("acct_b", ids(webhooks.Filter{Account: "acct_b"}), b[2], b[1], b[0])
	same("failed", ids(webhooks.Filter{State: webhooks.StateFailed}), b[1], b[0])
	same("acct_b delivered", ids(webhooks.Filter{Account: "acct_b", State: webhooks.StateDelivered}), b[2])
	same("acct_b page 1", ids(webhooks.Filter{Account: "acct_b", Limit: 2}), b[2], b[1])
	same("acct_b page 2", ids(webhooks.Filter{Account: "acct_b", Limit: 2, Before: b[1].ID}), b[0])
	same("acct_a's newest", ids(webhooks.Filter{Account: "acct_a", Limit: 2}), a[299], a[298])
	if _, err := s.RedeliverDelivery(ctx, b[0].ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	same("failed after a redelivery", ids(webhooks.Filter{State: webhooks.StateFailed}), b[1])
	same("acct_b pending", ids(webhooks.Filter{Account: "acct_b", State: webhooks.StatePending}), b[0])
	if n, err := s.PruneDeliveries(ctx, t0.Add(time.Hour), 10); err != nil || n != 2 {
		t.Fatalf("prune: %d %v", n, err)
	}
	same("acct_b after the prune", ids(webhooks.Filter{Account: "acct_b"}), b[0])
	same("failed after the prune", ids(webhooks.Filter{State: webhooks.StateFailed}))
}
