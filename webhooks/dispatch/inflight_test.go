package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestInFlightDeliveryIsNotAttemptedTwice: the dispatcher claims while
// attempts are under way, so when a delivery's lease runs out before its
// attempt is recorded (the wall clock stepped ahead: a VM resumed, NTP
// stepped; or the record was slow), the next claim hands the delivery to
// the same dispatcher again. It must not POST it a second time while the
// first attempt is under way: one gateway, one attempt at a time.
func TestInFlightDeliveryIsNotAttemptedTwice(t *testing.T) {
	var offset atomic.Int64 // nanoseconds added to the dispatcher's clock
	var mu sync.Mutex
	byDelivery := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		byDelivery[r.Header.Get(webhooks.DeliveryIDHeader)]++
		first := byDelivery[r.Header.Get(webhooks.DeliveryIDHeader)] == 1
		mu.Unlock()
		if first {
			// The clock steps past the lease while the attempt is under way.
			offset.Add(int64(10 * time.Minute))
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	opts := fast(endpoint("ep1", srv.URL))
	opts.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := boltStore(t)
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	ds := waitState(t, s, 1, webhooks.StateDelivered)
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if n := byDelivery[ds[0].ID]; n != 1 {
		t.Fatalf("delivery %s was POSTed %d times by one dispatcher (attempts recorded: %d)", ds[0].ID, n, len(ds[0].Attempts))
	}
}

// TestSeveralSlowAccountsDoNotStarveOthers: more accounts with a slow
// receiver and a backlog than the dispatcher runs attempts at once must
// not hold back an account whose receiver answers at once: its event is
// delivered within about one attempt timeout, not after the backlogs.
func TestSeveralSlowAccountsDoNotStarveOthers(t *testing.T) {
	slow, quick, got := slowAndQuickReceivers(t, 8)

	const slowAccounts = 9
	var eps []webhooks.Endpoint
	for i := range slowAccounts {
		ep := endpoint(fmt.Sprintf("ep_slow%d", i), slow.URL)
		ep.Account = fmt.Sprintf("acct_slow%d", i)
		eps = append(eps, ep)
	}
	epB := endpoint("ep_b", quick.URL)
	epB.Account = "acct_b"
	opts := fast(append(eps, epB)...)
	opts.Timeout = time.Second
	opts.Batch = 2 // at most 8 attempts at once: fewer than the slow accounts
	s := boltStore(t)
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		for i := range slowAccounts {
			if err := o.Publish(context.Background(), fmt.Sprintf("acct_slow%d", i), "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	start(t, d)
	time.Sleep(100 * time.Millisecond) // the slow accounts' attempts are under way
	sent := time.Now()
	if err := o.Publish(context.Background(), "acct_b", "card.created", []byte(`{"card_id":"CRD2"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if wait := at.Sub(sent); wait > 2500*time.Millisecond {
			t.Fatalf("acct_b's event waited %v behind %d slow accounts (attempt timeout %v)", wait, slowAccounts, opts.Timeout)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("acct_b's event was not delivered within 15 s: the slow accounts hold the dispatcher")
	}
}
