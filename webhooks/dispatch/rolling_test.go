package dispatch_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/dispatch"
)

// TestGatewayWithOlderConfigurationDoesNotFailNewEndpointsDeliveries:
// gateways sharing one store are restarted one by one with a new
// configuration. While one still runs the old one, the deliveries it
// claims for an endpoint it does not know yet (added), or for an event
// type its copy of the endpoint does not take yet (subscribed), are
// retried, and the gateway with the new configuration delivers them. They
// were failed at once (endpoint_removed): events lost until an operator
// redelivered them.
func TestGatewayWithOlderConfigurationDoesNotFailNewEndpointsDeliveries(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := boltStore(t)
	// The new configuration: ep1 takes every event, ep2 is new.
	newEPs := []webhooks.Endpoint{endpoint("ep1", srv.URL), endpoint("ep2", srv.URL)}
	o, err := webhooks.New(s, webhooks.Options{Endpoints: newEPs, AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	// The gateway still on the old configuration (ep1 for network token
	// events only, no ep2) is the only one running: it claims both.
	old, err := dispatch.New(s, fast(endpoint("ep1", srv.URL, "network_token.*")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- old.Run(ctx) }()
	waitAttempted(t, s, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rc.count() != 0 {
		t.Fatalf("the old configuration sent %d deliveries", rc.count())
	}
	// The gateway on the new configuration delivers them.
	d, err := dispatch.New(s, fast(newEPs...))
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	for deadline := time.Now().Add(20 * time.Second); ; {
		ds, err := s.ListDeliveries(context.Background(), webhooks.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		delivered := 0
		for _, dl := range ds {
			switch dl.State {
			case webhooks.StateFailed:
				t.Fatalf("%s failed: %+v", dl.Endpoint, dl.Attempts)
			case webhooks.StateDelivered:
				delivered++
			}
		}
		if delivered == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 delivered", delivered)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rc.count() != 2 {
		t.Fatalf("the receiver got %d deliveries, want 2", rc.count())
	}
}

// waitAttempted waits until each of the n deliveries has an attempt.
func waitAttempted(t *testing.T, s webhooks.Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		ds, err := s.ListDeliveries(context.Background(), webhooks.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for _, d := range ds {
			if len(d.Attempts) > 0 {
				m++
			}
		}
		if len(ds) == n && m == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries attempted", m, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
