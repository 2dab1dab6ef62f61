package lockout

import (
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
	release := make(chan struct{})
	arrived := burst(tb, n, release) // every guess in its check, waiting for them, or answered
	verdicts := make(chan Verdict, n)
	for range n {
		go func() {
			called := false
			v, _ := tb.Try("203.0.113.7", func() bool {
				called = true
				checks.Add(1)
				arrived <- struct{}{}
				<-release
				return false
			})
			if !called {
				notify(arrived, release)
			}
			verdicts <- v
		}()
	}
	for range n {
		<-arrived
	}
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

// burst sets tb's wait hook to report, as the returned channel does for
// the other events of a test's attempts, each attempt that starts waiting
// for the checks of its address, until release is closed: every attempt of
// a burst sends one event before release (it is in its check, waiting, or
// answered), and may send more after.
func burst(tb *Table, n int, release chan struct{}) chan struct{} {
	arrived := make(chan struct{}, n)
	tb.onWait = func() { notify(arrived, release) }
	return arrived
}

// notify sends an event to arrived unless release is closed (the events
// after it are not read).
func notify(arrived, release chan struct{}) {
	select {
	case <-release:
	default:
		arrived <- struct{}{}
	}
}

// TestCorrectTokensSentAtOnceAreAllowed: the operator's requests sent at
// once with the right token, more of them than the free failures, are all
// allowed, from a fresh address and from one with failures already. Each
// attempt is charged before its check, a correct one too (so that a burst
// of guesses gets no extra checks): the attempts past the free failures
// found the address locked out by the charges of the correct tokens still
// being checked, and answered 429 without their check.
func TestCorrectTokensSentAtOnceAreAllowed(t *testing.T) {
	for _, before := range []int{0, 9} {
		c := &clock{t: time.Unix(1e9, 0)}
		tb := New(Options{Free: 10, Now: c.now})
		for range before {
			tb.Try("198.51.100.9", wrong)
		}
		const n = 40
		release := make(chan struct{})
		arrived := burst(tb, n, release)
		verdicts := make(chan Verdict, n)
		var checks atomic.Int32
		for range n {
			go func() {
				called := false
				v, _ := tb.Try("198.51.100.9", func() bool {
					called = true
					checks.Add(1)
					notify(arrived, release)
					<-release
					return true
				})
				if !called {
					notify(arrived, release)
				}
				verdicts <- v
			}()
		}
		for range n {
			<-arrived
		}
		close(release)
		allowed := 0
		for range n {
			if <-verdicts == Allowed {
				allowed++
			}
		}
		if allowed != n || checks.Load() != n {
			t.Errorf("%d failures before: %d of %d correct tokens sent at once allowed (%d checked)", before, allowed, n, checks.Load())
		}
		if tb.Len() != 0 {
			t.Errorf("%d failures before: %d addresses held after the correct tokens", before, tb.Len())
		}
	}
}

// TestABurstOfGuessesCountsOneLockout: wrong guesses sent at once by a
// fresh address, all in their checks before the first one fails, lock it
// out once: one lockout counted and one failure that says it locked the
// address out (Denied with a wait: the warning line of auth and the
// proxy), not Free+1 of each. Each failure was judged by the failures
// charged when it ended, which counted the other guesses still in their
// checks: every one of the burst found the address past its free failures.
func TestABurstOfGuessesCountsOneLockout(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 10, Now: c.now})
	const n = 11
	release := make(chan struct{})
	arrived := burst(tb, n, release)
	waits := make(chan time.Duration, n)
	for range n {
		go func() {
			v, w := tb.Try("203.0.113.8", func() bool {
				arrived <- struct{}{}
				<-release
				return false
			})
			if v != Denied {
				t.Errorf("a guess of the burst: %v", v)
			}
			waits <- w
		}()
	}
	for range n {
		<-arrived
	}
	close(release)
	locking := 0
	for range n {
		if <-waits > 0 {
			locking++
		}
	}
	if locking != 1 || tb.Lockouts() != 1 {
		t.Fatalf("%d guesses at once from a fresh address: %d said they locked it out, %d lockouts counted, want 1 and 1", n, locking, tb.Lockouts())
	}
}
