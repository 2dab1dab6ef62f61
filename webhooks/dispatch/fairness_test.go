package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestSlowAccountDoesNotStarveOthers: one account's receiver that answers
// only at the attempt timeout, and a flood of that account's events (its
// API client changing cards well under its rate), must not hold back
// another account's events: the other account's event is delivered
// within about one attempt timeout of being published.
func TestSlowAccountDoesNotStarveOthers(t *testing.T) {
	slow, quick, got := slowAndQuickReceivers(t, 8)

	epA := endpoint("ep_a", slow.URL)
	epA.Account = "acct_a"
	epB := endpoint("ep_b", quick.URL)
	epB.Account = "acct_b"
	opts := fast(epA, epB)
	opts.Timeout = time.Second
	s := boltStore(t)
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 80 {
		if err := o.Publish(context.Background(), "acct_a", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	time.Sleep(50 * time.Millisecond) // the first batch of acct_a's is under way
	sent := time.Now()
	if err := o.Publish(context.Background(), "acct_b", "card.created", []byte(`{"card_id":"CRD2"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if wait := at.Sub(sent); wait > 2500*time.Millisecond {
			t.Fatalf("acct_b's event waited %v behind acct_a's slow receiver (attempt timeout %v)", wait, opts.Timeout)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("acct_b's event was not delivered within 15 s: acct_a's slow receiver holds the dispatcher")
	}
}

// slowAndQuickReceivers starts two receivers: slow answers only when the
// attempt's request is cancelled (at the attempt timeout) or the test
// ends; quick answers 204 at once and sends the time of each POST on got
// (buffered for n). Both close when the test ends.
func slowAndQuickReceivers(t *testing.T, n int) (slow, quick *httptest.Server, got chan time.Time) {
	t.Helper()
	hang := make(chan struct{})
	slow = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hang) })
	got = make(chan time.Time, n)
	quick = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- time.Now()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(quick.Close)
	return slow, quick, got
}
