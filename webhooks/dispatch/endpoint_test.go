package dispatch_test

import (
	"context"
	"testing"
	"time"
)

// TestSlowEndpointDoesNotStarveItsAccountsOtherEndpoint: an account with
// two endpoints, one answering at the timeout with a backlog: the other
// endpoint's event still arrives within about one timeout.
func TestSlowEndpointDoesNotStarveItsAccountsOtherEndpoint(t *testing.T) {
	slow, quick, got := slowAndQuickReceivers(t, 100)
	epSlow := endpoint("ep_slow", slow.URL, "card.updated")
	epQuick := endpoint("ep_quick", quick.URL, "card.created")
	opts := fast(epSlow, epQuick)
	opts.Timeout = time.Second
	s := boltStore(t)
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 80 {
		if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	time.Sleep(100 * time.Millisecond)
	sent := time.Now()
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{"card_id":"CRD2"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if wait := at.Sub(sent); wait > 2500*time.Millisecond {
			t.Fatalf("the quick endpoint's event waited %v behind the slow endpoint of its account", wait)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("not delivered within 15 s")
	}
}
