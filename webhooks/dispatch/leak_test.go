package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestRunLeavesNoGoroutineBehind: Run returns once the attempts under way
// are recorded, and leaves nothing running: no attempt, no idle
// connection of its HTTP client to a receiver.
func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(webhooks.EventTypeHeader) == "card.updated" {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := boltStore(t)
	o, d, err := newPair(s, fast(endpoint("ep1", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for range 5 {
		if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{"card_id":"CRD1"}`)); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, s, 5, webhooks.StateDelivered)
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // its attempt is under way
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with an attempt under way", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitState(t, s, 6, webhooks.StateDelivered) // the attempt under way was recorded
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Run returned, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
