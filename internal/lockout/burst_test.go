package lockout

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentGuessesFromAFreshAddressAreCharged: guesses sent at once
// by an address with no failures yet get the free ones and the one that
// locks the address out, not one check each. Only the attempts past the
// free failures were charged before their check: a burst of N requests
// from a fresh address (and again an hour after its last failure, when it
// is forgotten) got N comparisons of the admin token.
func TestConcurrentGuessesFromAFreshAddressAreCharged(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 10, Now: c.now})
	const n = 200
	var checks atomic.Int32
	var arrived sync.WaitGroup // every guess either in its check or answered
	arrived.Add(n)
	release := make(chan struct{})
	verdicts := make(chan Verdict, n)
	for range n {
		go func() {
			called := false
			v, _ := tb.Try("203.0.113.7", func() bool {
				called = true
				checks.Add(1)
				arrived.Done()
				<-release
				return false
			})
			if !called {
				arrived.Done()
			}
			verdicts <- v
		}()
	}
	arrived.Wait()
	close(release)
	locked := 0
	for range n {
		if <-verdicts == LockedOut {
			locked++
		}
	}
	if got := checks.Load(); got != 11 || locked != n-11 {
		t.Fatalf("%d checks ran (%d answered locked out) for %d guesses at once from a fresh address, want the 10 free ones and the one that locks it out", got, locked, n)
	}
	if v, w := tb.Try("203.0.113.7", right); v != LockedOut || w <= 0 {
		t.Fatalf("after the burst: %v %v, want locked out", v, w)
	}
}
