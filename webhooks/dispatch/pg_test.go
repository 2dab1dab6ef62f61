package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pgtest"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/webhooks"
)

// pgStores opens n stores (n gateways' connection pools) on one new
// database.
func pgStores(t *testing.T, n int) []*pgstore.Store {
	t.Helper()
	u := pgtest.NewDatabase(t, "webhooks")
	var out []*pgstore.Store
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := pgstore.Open(ctx, u, pgstore.Options{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// TestTwoGatewaysDeliverEachEventOnce runs two dispatchers on one
// PostgreSQL database; events are published through both; a receiver
// counts 2xx answers by event id: each event exactly once.
func TestTwoGatewaysDeliverEachEventOnce(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	stores := pgStores(t, 2)
	var outs []*webhooks.Outbox
	for i, s := range stores {
		opts := fast(endpoint("ep1", srv.URL))
		opts.Owner = fmt.Sprintf("gateway-%d", i)
		opts.Batch = 4 // small batches: the two claim side by side
		o, oD, err := newPair(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		start(t, oD)
		outs = append(outs, o)
	}
	const events = 300
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < events; i += 2 {
				if err := outs[g].Publish(context.Background(), "acct1", "card.updated", []byte(fmt.Sprintf(`{"card_id":"CRD%d"}`, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ds := waitState(t, stores[0], events, webhooks.StateDelivered)
	by := map[string]int{}
	for _, d := range ds {
		if len(d.Attempts) != 1 {
			t.Errorf("%s: %d attempts", d.ID, len(d.Attempts))
		}
		by[d.Attempts[0].By]++
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.byID) != events || len(rc.bodies) != events || len(rc.errs) != 0 {
		t.Fatalf("receiver: %d events, %d requests, errors %v", len(rc.byID), len(rc.bodies), rc.errs)
	}
	for id, n := range rc.byID {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	t.Logf("deliveries by gateway: %v", by)
}

// TestCrashedGatewayLeaseIsTakenOver: a gateway claims deliveries and
// dies before any attempt (its lease is left); another gateway delivers
// them once the lease has run out, and not before.
func TestCrashedGatewayLeaseIsTakenOver(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	stores := pgStores(t, 2)
	ctx := context.Background()
	// The crashed gateway: it published and claimed, with a lease of 1s.
	opts := fast(endpoint("ep1", srv.URL))
	opts.Owner = "crashed"
	crashed, _, err := newPair(stores[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := crashed.Publish(ctx, "acct1", "card.created", []byte(fmt.Sprintf(`{"card_id":"CRD%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	claimedAt := time.Now()
	leaseEnd := claimedAt.Add(time.Second)
	held, err := stores[0].ClaimDeliveries(ctx, "crashed", claimedAt, leaseEnd, 10)
	if err != nil || len(held) != 5 {
		t.Fatalf("claim %d, %v", len(held), err)
	}
	stores[0].Close() // the crashed gateway's connections go away

	opts.Owner = "survivor"
	_, survivorD, err := newPair(stores[1], opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, survivorD)
	ds := waitState(t, stores[1], 5, webhooks.StateDelivered)
	for _, d := range ds {
		if len(d.Attempts) != 1 || d.Attempts[0].By != "survivor" || d.Attempts[0].At.Before(leaseEnd) {
			t.Fatalf("delivery %s: attempts %+v (lease ended %v)", d.ID, d.Attempts, leaseEnd)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.byID) != 5 || len(rc.bodies) != 5 {
		t.Fatalf("receiver: %d events, %d requests", len(rc.byID), len(rc.bodies))
	}
}

// TestLeaseLostAttemptIsNotRecorded: a dispatcher whose lease ran out and
// was taken over cannot overwrite the new holder's record.
func TestLeaseLostAttemptIsNotRecorded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := pgStores(t, 1)[0]
	ctx := context.Background()
	o, _, err := newPair(s, fast(endpoint("ep1", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(ctx, "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, _ := s.ClaimDeliveries(ctx, "a", now, now.Add(time.Millisecond), 1)
	// The lease also runs on the database's clock: b takes the delivery
	// once a millisecond has passed there.
	var b []webhooks.Delivery
	for deadline := time.Now().Add(10 * time.Second); len(b) == 0 && time.Now().Before(deadline); {
		b, _ = s.ClaimDeliveries(ctx, "b", now.Add(time.Second), now.Add(time.Minute), 1)
		time.Sleep(time.Millisecond)
	}
	if len(a) != 1 || len(b) != 1 || a[0].ID != b[0].ID {
		t.Fatalf("claims %v %v", a, b)
	}
	d := a[0]
	d.State, d.LeaseOwner = webhooks.StateFailed, ""
	if err := s.UpdateDelivery(ctx, "a", d); err == nil {
		t.Fatal("the old holder's update was written")
	}
	got, _ := s.GetDelivery(ctx, d.ID)
	if got.State != webhooks.StatePending || got.LeaseOwner != "b" {
		t.Fatalf("delivery %+v", got)
	}
}

// TestSkewedClockDoesNotTakeALiveLease: two gateways on one database
// whose clocks are 2 minutes apart (more than the lease margin). The one
// behind claims a delivery and is still sending it; the one ahead must not
// claim it again: the lease runs on the database's clock, not on the
// claimer's. It is taken over once the lease has run out on the
// database's clock.
func TestSkewedClockDoesNotTakeALiveLease(t *testing.T) {
	stores := pgStores(t, 2)
	ctx := context.Background()
	o, err := webhooks.New(stores[0], webhooks.Options{Endpoints: []webhooks.Endpoint{endpoint("ep1", "http://127.0.0.1:1/")}, AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(ctx, "acct1", "card.created", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	const lease = 2 * time.Second // short, so the take-over below comes soon
	behind := time.Now()
	held, err := stores[0].ClaimDeliveries(ctx, "behind", behind, behind.Add(lease), 10)
	if err != nil || len(held) != 1 {
		t.Fatalf("claim by the gateway behind: %d, %v", len(held), err)
	}
	ahead := time.Now().Add(2 * time.Minute)
	again, err := stores[1].ClaimDeliveries(ctx, "ahead", ahead, ahead.Add(lease), 10)
	if err != nil || len(again) != 0 {
		t.Fatalf("the gateway ahead claimed a delivery under a live lease: %d, %v", len(again), err)
	}
	// Once the lease ran out on the database's clock, the delivery is free.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ahead = time.Now().Add(2 * time.Minute)
		again, err = stores[1].ClaimDeliveries(ctx, "ahead", ahead, ahead.Add(lease), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the delivery was never taken over after its lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := held[0]
	d.State, d.LeaseOwner = webhooks.StateDelivered, ""
	if err := stores[0].UpdateDelivery(ctx, "behind", d); !errors.Is(err, webhooks.ErrLeaseLost) {
		t.Fatalf("the old holder's update: %v", err)
	}
}
