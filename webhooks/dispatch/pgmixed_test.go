package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestTwoGatewaysWithASlowEndpointDeliverEachEventOnce: two dispatchers on
// one PostgreSQL database, one endpoint that answers slowly and one that
// answers at once, claims going on while attempts run: every delivery
// reaches its receiver exactly once, never two attempts of one delivery
// at the same time, and both gateways take part.
func TestTwoGatewaysWithASlowEndpointDeliverEachEventOnce(t *testing.T) {
	var mu sync.Mutex
	count := map[string]int{}
	now := map[string]int{}
	var errs []string
	handler := func(delay time.Duration) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(webhooks.DeliveryIDHeader)
			mu.Lock()
			count[id]++
			if now[id]++; now[id] > 1 {
				errs = append(errs, id+" attempted twice at once")
			}
			mu.Unlock()
			time.Sleep(delay)
			mu.Lock()
			now[id]--
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
	}
	slow := httptest.NewServer(handler(150 * time.Millisecond))
	defer slow.Close()
	quick := httptest.NewServer(handler(0))
	defer quick.Close()
	stores := pgStores(t, 2)
	var outs []*webhooks.Outbox
	for i, s := range stores {
		opts := fast(endpoint("ep_slow", slow.URL, "card.updated"), endpoint("ep_quick", quick.URL, "card.created"))
		opts.Owner = fmt.Sprintf("gateway-%d", i)
		opts.Batch = 3
		o, d, err := newPair(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		start(t, d)
		outs = append(outs, o)
	}
	const events = 120
	for i := range events {
		typ := "card.created"
		if i%3 == 0 {
			typ = "card.updated"
		}
		if err := outs[i%2].Publish(context.Background(), "acct1", typ, []byte(fmt.Sprintf(`{"card_id":"CRD%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	ds := waitState(t, stores[0], events, webhooks.StateDelivered)
	by := map[string]int{}
	for _, d := range ds {
		if len(d.Attempts) != 1 {
			t.Errorf("%s: %d attempts recorded", d.ID, len(d.Attempts))
			continue
		}
		by[d.Attempts[0].By]++
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	if len(count) != events {
		t.Errorf("%d deliveries reached the receivers, want %d", len(count), events)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("delivery %s POSTed %d times", id, n)
		}
	}
	if len(by) != 2 {
		t.Errorf("deliveries by gateway: %v, want both", by)
	}
}
