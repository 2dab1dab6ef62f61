// Package webhookstest checks a webhooks.Store implementation: every store
// (vault/boltstore, vault/pgstore) runs Run against a real instance.
package webhookstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// delivery returns a pending delivery created at t, due at t.
func delivery(i int, account string, t time.Time) webhooks.Delivery {
	return webhooks.Delivery{
		ID: fmt.Sprintf("dlv_%016x%016x", t.UnixNano(), i), EventID: fmt.Sprintf("evt_%d", i), EventType: "card.created",
		Account: account, Endpoint: "ep1", Payload: json.RawMessage(`{"id":"evt","data":{}}`), State: webhooks.StatePending,
		CreatedAt: t, UpdatedAt: t, Due: t, Attempts: []webhooks.Attempt{},
	}
}

// claimWithin claims as owner at now until it gets something, for at most
// 20 s of real time (a store whose leases also run on its own clock frees
// them only when that time has passed), and returns what it got.
func claimWithin(t *testing.T, s webhooks.Store, owner string, now, until time.Time, max int) []webhooks.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := s.ClaimDeliveries(context.Background(), owner, now, until, max)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run checks the Store contract on a fresh, empty store from open.
func Run(t *testing.T, open func(t *testing.T) webhooks.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

	t.Run("claim leases once until the lease ends", func(t *testing.T) {
		s := open(t)
		var ds []webhooks.Delivery
		for i := range 5 {
			ds = append(ds, delivery(i, "acct", t0.Add(time.Duration(i)*time.Second)))
		}
		if err := s.AddDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PendingDeliveries(ctx); err != nil || n != 5 {
			t.Fatalf("pending = %d, %v", n, err)
		}
		// At t0+2s three are due, oldest first; a leases them for 2.5 s
		// (until t0+4.5s).
		leaseEnd := t0.Add(4500 * time.Millisecond)
		got, err := s.ClaimDeliveries(ctx, "a", t0.Add(2*time.Second), leaseEnd, 10)
		if err != nil || len(got) != 3 || got[0].ID != ds[0].ID || got[2].ID != ds[2].ID {
			t.Fatalf("claim = %v, %v", ids(got), err)
		}
		if got[0].LeaseOwner != "a" || !got[0].Due.Equal(leaseEnd) || string(got[0].Payload) != string(ds[0].Payload) {
			t.Fatalf("claimed %+v", got[0])
		}
		// Another dispatcher gets only the two others, once due.
		got2, err := s.ClaimDeliveries(ctx, "b", t0.Add(4*time.Second), t0.Add(time.Minute), 10)
		if err != nil || len(got2) != 2 || got2[0].ID != ds[3].ID {
			t.Fatalf("second claim = %v, %v", ids(got2), err)
		}
		// After the lease, the first three are due again, to b. A store
		// may also run the lease on its own clock (pgstore: the
		// database's, against skewed gateways): then they come back once
		// 2.5 s have passed there too.
		got3 := claimWithin(t, s, "b", t0.Add(time.Minute), t0.Add(2*time.Minute), 2)
		if len(got3) != 2 {
			t.Fatalf("claim after the lease = %v", ids(got3))
		}
		// a's lease is lost: its update is refused.
		d := got[0]
		d.State, d.LeaseOwner = webhooks.StateDelivered, ""
		if err := s.UpdateDelivery(ctx, "a", d); !errors.Is(err, webhooks.ErrLeaseLost) {
			t.Fatalf("update by the old holder: %v", err)
		}
		// b records a delivery.
		d = got3[0]
		d.State, d.LeaseOwner, d.UpdatedAt, d.Due = webhooks.StateDelivered, "", t0.Add(time.Minute), t0.Add(time.Minute)
		d.Attempts = append(d.Attempts, webhooks.Attempt{At: t0.Add(time.Minute), By: "b", Status: 204})
		if err := s.UpdateDelivery(ctx, "b", d); err != nil {
			t.Fatal(err)
		}
		back, err := s.GetDelivery(ctx, d.ID)
		if err != nil || back.State != webhooks.StateDelivered || len(back.Attempts) != 1 || back.Attempts[0].Status != 204 || back.LeaseOwner != "" {
			t.Fatalf("get = %+v, %v", back, err)
		}
		if err := s.UpdateDelivery(ctx, "b", d); !errors.Is(err, webhooks.ErrLeaseLost) {
			t.Fatalf("update of a finished delivery: %v", err)
		}
		if n, err := s.PendingDeliveries(ctx); err != nil || n != 4 {
			t.Fatalf("pending = %d, %v", n, err)
		}
		// A retry: pending again, due later, not claimable before.
		r := got3[1]
		r.LeaseOwner, r.Due = "", t0.Add(time.Hour)
		r.Attempts = append(r.Attempts, webhooks.Attempt{At: t0.Add(time.Minute), By: "b", Status: 500, Error: "http_status", Next: t0.Add(time.Hour)})
		if err := s.UpdateDelivery(ctx, "b", r); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ClaimDeliveries(ctx, "c", t0.Add(59*time.Minute), t0.Add(2*time.Hour), 10); containsID(got, r.ID) {
			t.Fatal("a retry was claimed before it was due")
		}
		if got, _ := s.ClaimDeliveries(ctx, "c", t0.Add(3*time.Hour), t0.Add(4*time.Hour), 10); !containsID(got, r.ID) {
			t.Fatal("a due retry was not claimed")
		}
		if _, err := s.GetDelivery(ctx, "dlv_none"); !errors.Is(err, webhooks.ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
	})

	t.Run("a claim skips the endpoints it is told to", func(t *testing.T) {
		s := open(t)
		sk, ok := s.(webhooks.EndpointSkipper)
		if !ok {
			t.Fatal("the store cannot skip endpoints in a claim (webhooks.EndpointSkipper)")
		}
		var ds []webhooks.Delivery
		for i := range 6 { // a0 a1 a2 a3 (ep_a), then b4 b5 (ep_b), all of one account
			d := delivery(i, "acct_a", t0.Add(time.Duration(i)*time.Millisecond))
			d.Endpoint = "ep_a"
			if i >= 4 {
				d.Endpoint = "ep_b"
			}
			ds = append(ds, d)
		}
		if err := s.AddDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Second)
		got, err := sk.ClaimDeliveriesSkipping(ctx, "a", now, now.Add(time.Minute), 3, []string{"ep_a"})
		if err != nil || len(got) != 2 || got[0].ID != ds[4].ID || got[1].ID != ds[5].ID {
			t.Fatalf("claim skipping ep_a = %v, %v; want ep_b's two", ids(got), err)
		}
		// ep_a's stay due, oldest first; an empty skip list skips none;
		// an account's name is no endpoint.
		got, err = sk.ClaimDeliveriesSkipping(ctx, "b", now, now.Add(time.Minute), 3, []string{"acct_a"})
		if err != nil || len(got) != 3 || got[0].ID != ds[0].ID || got[2].ID != ds[2].ID {
			t.Fatalf("claim = %v, %v; want ep_a's first three", ids(got), err)
		}
		if got, err = sk.ClaimDeliveriesSkipping(ctx, "b", now, now.Add(time.Minute), 3, []string{"ep_b"}); err != nil || len(got) != 1 || got[0].ID != ds[3].ID {
			t.Fatalf("claim = %v, %v; want ep_a's last", ids(got), err)
		}
	})

	t.Run("concurrent claims never share a delivery", func(t *testing.T) {
		s := open(t)
		var ds []webhooks.Delivery
		for i := range 60 {
			ds = append(ds, delivery(i, "acct", t0))
		}
		if err := s.AddDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				for {
					got, err := s.ClaimDeliveries(ctx, owner, t0.Add(time.Second), t0.Add(time.Hour), 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						if other, dup := seen[d.ID]; dup {
							t.Errorf("%s claimed by %s and %s", d.ID, other, owner)
						}
						seen[d.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != len(ds) {
			t.Fatalf("claimed %d of %d", len(seen), len(ds))
		}
	})

	// A delivery written again (a vault copy run again after the
	// destination's gateway delivered it, a retried write whose commit
	// landed) is left as the store holds it: written over, it went back to
	// pending (sent twice) while the index entries of its stored state
	// stayed (prune deleted it from under a pending claim, listings kept
	// stray keys).
	t.Run("a delivery added again is left as stored", func(t *testing.T) {
		s := open(t)
		d := delivery(0, "a1", t0)
		if err := s.AddDeliveries(ctx, []webhooks.Delivery{d}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ClaimDeliveries(ctx, "a", t0, t0.Add(time.Minute), 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim = %v, %v", ids(got), err)
		}
		done := got[0]
		done.State, done.LeaseOwner, done.UpdatedAt = webhooks.StateDelivered, "", t0.Add(time.Hour)
		if err := s.UpdateDelivery(ctx, "a", done); err != nil {
			t.Fatal(err)
		}
		if err := s.AddDeliveries(ctx, []webhooks.Delivery{d}); err != nil {
			t.Fatal(err)
		}
		if cur, err := s.GetDelivery(ctx, d.ID); err != nil || cur.State != webhooks.StateDelivered {
			t.Fatalf("after adding it again: %s, %v; want delivered", cur.State, err)
		}
		if again, err := s.ClaimDeliveries(ctx, "b", t0.Add(2*time.Hour), t0.Add(3*time.Hour), 10); err != nil || len(again) != 0 {
			t.Fatalf("a delivered delivery is claimed again: %v, %v", ids(again), err)
		}
		for _, f := range []webhooks.Filter{{State: webhooks.StatePending}, {Account: "a1", State: webhooks.StatePending}} {
			if l, err := s.ListDeliveries(ctx, f); err != nil || len(l) != 0 {
				t.Fatalf("list %+v = %v, %v", f, ids(l), err)
			}
		}
		if n, err := s.PruneDeliveries(ctx, t0.Add(2*time.Hour), 10); err != nil || n != 1 {
			t.Fatalf("prune = %d, %v", n, err)
		}
		for _, f := range []webhooks.Filter{{}, {Account: "a1"}, {State: webhooks.StateDelivered}, {State: webhooks.StatePending}} {
			if l, err := s.ListDeliveries(ctx, f); err != nil || len(l) != 0 {
				t.Fatalf("list %+v after prune = %v, %v", f, ids(l), err)
			}
		}
	})

	t.Run("list, redeliver, prune", func(t *testing.T) {
		s := open(t)
		var ds []webhooks.Delivery
		for i := range 6 {
			acct := "a1"
			if i%2 == 1 {
				acct = "a2"
			}
			ds = append(ds, delivery(i, acct, t0.Add(time.Duration(i)*time.Second)))
		}
		if err := s.AddDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListDeliveries(ctx, webhooks.Filter{})
		if err != nil || len(all) != 6 || all[0].ID != ds[5].ID || all[5].ID != ds[0].ID {
			t.Fatalf("list = %v, %v", ids(all), err)
		}
		page, err := s.ListDeliveries(ctx, webhooks.Filter{Account: "a1", Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != ds[4].ID || page[1].ID != ds[2].ID {
			t.Fatalf("a1 page = %v, %v", ids(page), err)
		}
		next, err := s.ListDeliveries(ctx, webhooks.Filter{Account: "a1", Limit: 2, Before: page[1].ID})
		if err != nil || len(next) != 1 || next[0].ID != ds[0].ID {
			t.Fatalf("a1 next page = %v, %v", ids(next), err)
		}
		if _, err := s.RedeliverDelivery(ctx, ds[0].ID, t0); !errors.Is(err, webhooks.ErrNotFinished) {
			t.Fatalf("redeliver pending: %v", err)
		}
		got, err := s.ClaimDeliveries(ctx, "a", t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
		if err != nil || len(got) != 6 {
			t.Fatalf("claim = %v, %v", ids(got), err)
		}
		for i, d := range got {
			d.State, d.LeaseOwner, d.Due = webhooks.StateFailed, "", t0.Add(time.Minute)
			d.UpdatedAt = t0.Add(time.Duration(i) * time.Hour)
			if err := s.UpdateDelivery(ctx, "a", d); err != nil {
				t.Fatal(err)
			}
		}
		failed, err := s.ListDeliveries(ctx, webhooks.Filter{State: webhooks.StateFailed})
		if err != nil || len(failed) != 6 {
			t.Fatalf("failed = %v, %v", ids(failed), err)
		}
		re, err := s.RedeliverDelivery(ctx, got[5].ID, t0.Add(10*time.Hour))
		if err != nil || re.State != webhooks.StatePending || !re.Due.Equal(t0.Add(10*time.Hour)) || !re.RedeliveredAt.Equal(t0.Add(10*time.Hour)) {
			t.Fatalf("redeliver = %+v, %v", re, err)
		}
		if _, err := s.RedeliverDelivery(ctx, "dlv_none", t0); !errors.Is(err, webhooks.ErrNotFound) {
			t.Fatalf("redeliver unknown: %v", err)
		}
		again, err := s.ClaimDeliveries(ctx, "b", t0.Add(10*time.Hour), t0.Add(11*time.Hour), 10)
		if err != nil || len(again) != 1 || again[0].ID != got[5].ID {
			t.Fatalf("claim after redeliver = %v, %v", ids(again), err)
		}
		// The redelivery's time is kept: the dispatcher's retries run from it.
		if !again[0].RedeliveredAt.Equal(t0.Add(10 * time.Hour)) {
			t.Fatalf("claimed after redeliver: redelivered_at %v", again[0].RedeliveredAt)
		}
		// Prune: the finished ones updated before t0+2h (0 and 1), at most 1 a call.
		n, err := s.PruneDeliveries(ctx, t0.Add(2*time.Hour), 1)
		if err != nil || n != 1 {
			t.Fatalf("prune = %d, %v", n, err)
		}
		n, err = s.PruneDeliveries(ctx, t0.Add(2*time.Hour), 10)
		if err != nil || n != 1 {
			t.Fatalf("prune = %d, %v", n, err)
		}
		left, _ := s.ListDeliveries(ctx, webhooks.Filter{})
		if len(left) != 4 || containsID(left, got[0].ID) || containsID(left, got[1].ID) || !containsID(left, got[5].ID) {
			t.Fatalf("after prune = %v", ids(left))
		}
	})
}

func ids(ds []webhooks.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func containsID(ds []webhooks.Delivery, id string) bool {
	for _, d := range ds {
		if d.ID == id {
			return true
		}
	}
	return false
}
