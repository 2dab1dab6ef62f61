package dispatch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/dispatch"
)

// TestExcerptMasksCardNumberCutByTheExcerpt: an answer whose card number
// straddles the excerpt's end keeps none of its middle digits. Cut first,
// then masked, the excerpt kept 15 of the 16 digits (no longer a
// Luhn-valid candidate, so not masked).
func TestExcerptMasksCardNumberCutByTheExcerpt(t *testing.T) {
	const pan = "4111111111111111"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		// The PAN's first 15 digits end the excerpt's 200 bytes.
		io.WriteString(w, strings.Repeat("z", webhooks.ExcerptLen-15)+pan+" trailing")
	}))
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL))
	opts.RetryFor = time.Millisecond // one attempt, then failed
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	for _, a := range d.Attempts {
		if a.Status != 503 || len(a.Excerpt) > webhooks.ExcerptLen || strings.Contains(a.Excerpt, pan[6:15]) {
			t.Fatalf("excerpt keeps the middle digits of a card number: %q", a.Excerpt)
		}
	}
}

// TestDeliveryGoesOnlyToAnEndpointOfItsAccount: an endpoint id that now
// names another account's endpoint (the operator reused the id) does not
// receive the deliveries recorded for the first account: their attempts
// fail with endpoint_account_changed until the retries run out, and a
// redelivery's the same way.
func TestDeliveryGoesOnlyToAnEndpointOfItsAccount(t *testing.T) {
	rcB := &receiver{}
	srvB := httptest.NewServer(rcB)
	defer srvB.Close()
	s := boltStore(t)
	// acct1's outbox records a delivery for ep1 (no dispatcher runs yet).
	o, err := webhooks.New(s, webhooks.Options{Endpoints: []webhooks.Endpoint{endpoint("ep1", "http://127.0.0.1:1/")}, AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1","last4":"1111"}`)); err != nil {
		t.Fatal(err)
	}
	// The new configuration: ep1 is acct2's endpoint.
	epB := endpoint("ep1", srvB.URL)
	epB.Account = "acct2"
	opts := fast(epB)
	opts.RetryFor = 100 * time.Millisecond // retried (another gateway may have acct1's ep1 still), then failed
	oD, err := dispatch.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	if rcB.count() != 0 || !allAttemptsFailedWith(d, "endpoint_account_changed") {
		t.Fatalf("acct2's endpoint got %d of acct1's deliveries; attempts %+v", rcB.count(), d.Attempts)
	}
	if _, err := s.RedeliverDelivery(context.Background(), d.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	oD.Wake()
	for deadline := time.Now().Add(20 * time.Second); ; {
		got, err := s.GetDelivery(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == webhooks.StateFailed && len(got.Attempts) > len(d.Attempts) {
			if !allAttemptsFailedWith(got, "endpoint_account_changed") {
				t.Fatalf("after the redelivery: %+v", got.Attempts[len(d.Attempts):])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redelivery was not attempted: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rcB.count() != 0 {
		t.Fatalf("a redelivery reached acct2's endpoint")
	}
}

// TestPruneRemovesEveryExpiredDelivery: a log with more expired finished
// deliveries than one prune batch is emptied of them by one prune pass,
// not 1000 every 10 minutes (which a busy gateway outgrows for good).
func TestPruneRemovesEveryExpiredDelivery(t *testing.T) {
	s := boltStore(t)
	old := time.Now().Add(-60 * 24 * time.Hour)
	const n = 2500
	ds := make([]webhooks.Delivery, n)
	for i := range ds {
		at := old.Add(time.Duration(i) * time.Second)
		ds[i] = webhooks.Delivery{ID: fmt.Sprintf("dlv_%032x", i), EventID: fmt.Sprintf("evt_%032x", i), EventType: "card.updated",
			Account: "acct1", Endpoint: "ep1", Payload: []byte(`{}`), State: webhooks.StateDelivered, CreatedAt: at, UpdatedAt: at, Due: at,
			Attempts: []webhooks.Attempt{}}
	}
	if err := s.AddDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := fast(endpoint("ep1", "http://127.0.0.1:1/"))
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	oD, err := dispatch.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), "pruned the delivery log"); {
		if time.Now().After(deadline) {
			t.Fatalf("no prune pass; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	left, err := s.ListDeliveries(context.Background(), webhooks.Filter{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 || !strings.Contains(logs.String(), fmt.Sprintf("removed=%d", n)) {
		t.Fatalf("%d expired deliveries left after a prune pass; log:\n%s", len(left), logs.String())
	}
}

// TestRedeliveryGetsAFullRetryWindow: a delivery the operator redelivers
// after webhooks.retry_for has passed since its event is retried again
// for retry_for from the redelivery, its backoff starting again from
// backoff_base. The window ran from the event, so a redelivered delivery
// whose receiver hiccuped once (one 503 before it answers 204) was failed
// again after that one attempt; and the backoff counted every attempt
// before the redelivery (a day of them: an hour's wait).
func TestRedeliveryGetsAFullRetryWindow(t *testing.T) {
	rc := &receiver{reply: func(int) int { return http.StatusServiceUnavailable }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL))
	opts.RetryFor = time.Second
	opts.BackoffMax = 10 * time.Second // the attempts before the redelivery wait longer and longer
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	failed := waitState(t, s, 1, webhooks.StateFailed)[0]
	// The retry window from the event is over.
	time.Sleep(time.Until(failed.CreatedAt.Add(opts.RetryFor + 10*time.Millisecond)))
	// The receiver comes back, answering 503 once, then 204.
	rc.mu.Lock()
	first := len(rc.bodies) + 1
	rc.reply = func(n int) int {
		if n == first {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	rc.mu.Unlock()
	if _, err := s.RedeliverDelivery(context.Background(), failed.ID, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	d.Wake()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := s.GetDelivery(context.Background(), failed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == webhooks.StateDelivered {
			if n := len(got.Attempts) - len(failed.Attempts); n != 2 {
				t.Fatalf("%d attempts after the redelivery, want 2 (503, 204): %+v", n, got.Attempts)
			}
			if a := got.Attempts[len(failed.Attempts)]; a.Next.Sub(a.At) > opts.BackoffBase {
				t.Fatalf("the first retry after the redelivery waited %v, more than backoff_base %v (%d attempts before it)",
					a.Next.Sub(a.At), opts.BackoffBase, len(failed.Attempts))
			}
			break
		}
		if got.State == webhooks.StateFailed {
			t.Fatalf("the redelivery failed after %d attempt(s): %+v", len(got.Attempts)-len(failed.Attempts), got.Attempts[len(failed.Attempts):])
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s", got.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUnsubscribedEventIsNotSentToItsEndpoint: a delivery recorded while
// its endpoint received every event is not sent once the endpoint's
// events no longer match its type (the operator unsubscribed it, and
// restarted): its attempts fail with endpoint_unsubscribed, as those of a
// delivery whose endpoint moved to another account do, until its retries
// run out. It was sent.
func TestUnsubscribedEventIsNotSentToItsEndpoint(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := boltStore(t)
	// The old configuration records a card.updated for ep1 (every event);
	// no dispatcher runs yet (the receiver was down).
	o, err := webhooks.New(s, webhooks.Options{Endpoints: []webhooks.Endpoint{endpoint("ep1", srv.URL)}, AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1","last4":"1111"}`)); err != nil {
		t.Fatal(err)
	}
	// The new configuration: ep1 receives network token events only.
	opts := fast(endpoint("ep1", srv.URL, "network_token.*"))
	opts.RetryFor = 100 * time.Millisecond // retried (another gateway may still take card.*), then failed
	oD, err := dispatch.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	for deadline := time.Now().Add(20 * time.Second); ; {
		ds, err := s.ListDeliveries(context.Background(), webhooks.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].State != webhooks.StatePending {
			if ds[0].State != webhooks.StateFailed || !allAttemptsFailedWith(ds[0], "endpoint_unsubscribed") {
				t.Fatalf("the unsubscribed event: %s, attempts %+v", ds[0].State, ds[0].Attempts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished: %d attempts", len(ds[0].Attempts))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rc.count() != 0 {
		t.Fatalf("the endpoint got %d event(s) it no longer subscribes to", rc.count())
	}
}

// allAttemptsFailedWith reports whether d has attempts and each failed
// with class, none of them sent (no status).
func allAttemptsFailedWith(d webhooks.Delivery, class string) bool {
	for _, a := range d.Attempts {
		if a.Error != class || a.Status != 0 {
			return false
		}
	}
	return len(d.Attempts) > 0
}
