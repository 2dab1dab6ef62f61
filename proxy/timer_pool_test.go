package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUpstreamTimerPoolCarriesNothing: the timers timeoutTransport reuses
// (upstreamTimer) cancel only the round trip they were started for.
// Prompt and slow round trips, one after the other and many at once, each
// with the proxy's cancellable context: every slow one ends in
// errUpstreamTimeout with its own context cancelled so, and no prompt one's
// context is ever cancelled by a timer, though the timer it used may have
// served a slow one before, or serve one after.
func TestUpstreamTimerPoolCarriesNothing(t *testing.T) {
	const d = 30 * time.Millisecond
	tt := &timeoutTransport{d: d, rt: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Slow") != "" {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})}
	roundTrip := func(slow bool) (context.Context, error) {
		st := &reqState{}
		st.upstream, st.cancel = context.WithCancelCause(context.Background())
		ctx := context.WithValue(st.upstream, stateKey{}, st)
		req, err := http.NewRequestWithContext(ctx, "GET", "http://up.test/", nil)
		if err != nil {
			return nil, err
		}
		if slow {
			req.Header.Set("Slow", "1")
		}
		resp, err := tt.RoundTrip(req)
		if err != nil {
			return st.upstream, err
		}
		// The body stays open past the timer's time: a timer that still
		// held this round trip's cancel would fire into it.
		time.Sleep(2 * d)
		if err := context.Cause(st.upstream); err != nil {
			return st.upstream, fmt.Errorf("a prompt round trip's context was cancelled while its body was open: %w", err)
		}
		return st.upstream, resp.Body.Close()
	}
	check := func(slow bool) error {
		ctx, err := roundTrip(slow)
		switch {
		case slow && !errors.Is(err, errUpstreamTimeout):
			return fmt.Errorf("slow: %v, want errUpstreamTimeout", err)
		case slow && !errors.Is(context.Cause(ctx), errUpstreamTimeout):
			return fmt.Errorf("slow: its context's cause is %v", context.Cause(ctx))
		case !slow && err != nil:
			return fmt.Errorf("prompt: %v", err)
		}
		return nil
	}
	for i := range 6 {
		if err := check(i%3 == 1); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			if err := check(i%4 == 0); err != nil {
				errs <- fmt.Errorf("round trip %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
