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
	var ds []webhooks.Delivery
	for i, endpoint := range []string{"ep_a", "ep_a", "ep_b", "ep_b"} {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		ds = append(ds, webhooks.Delivery{ID: fmt.Sprintf("dlv_%016x%016x", at.UnixNano(), i), EventID: fmt.Sprintf("evt_%d", i),
			EventType: "card.created", Account: "acct_a", Endpoint: endpoint, Payload: json.RawMessage(`{}`),
			State: webhooks.StatePending, CreatedAt: at, UpdatedAt: at, Due: at, Attempts: []webhooks.Attempt{}})
	}
	if err := s.AddDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
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
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
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
	var ds []webhooks.Delivery
	for i := range 50 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		ds = append(ds, webhooks.Delivery{ID: fmt.Sprintf("dlv_%016x%016x", at.UnixNano(), i), EventID: fmt.Sprintf("evt_%d", i),
			EventType: "card.created", Account: "acct_a", Endpoint: "ep1", Payload: json.RawMessage(`{}`),
			State: webhooks.StatePending, CreatedAt: at, UpdatedAt: at, Due: at, Attempts: []webhooks.Attempt{}})
	}
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
