package lockout

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVoidRacingWithFailures: many attempts of one address at once, each
// check void or wrong at random, the clock still: the failures the address
// is left with are exactly the checks that failed (no void one's charge
// left, no failure refunded), at most the free ones and the one that
// locked it out, and the lockouts counter counts that one only.
func TestVoidRacingWithFailures(t *testing.T) {
	for _, free := range []int{5, 1 << 20} {
		c := &clock{t: time.Unix(1e9, 0)}
		tb := New(Options{Free: free, Now: c.now})
		var denied, voided, locked atomic.Int64
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					out := Fail
					if (g*7+i*13)%3 != 0 {
						out = Void
					}
					switch v, _ := tb.Attempt("203.0.113.9", func() Outcome { return out }); v {
					case Denied:
						denied.Add(1)
					case Voided:
						voided.Add(1)
					case LockedOut:
						locked.Add(1)
					default:
						t.Errorf("verdict %v of a check that did not pass", v)
					}
				}
			}()
		}
		wg.Wait()
		tb.mu.Lock()
		e := tb.m["203.0.113.9"]
		failures, pending := 0, -1
		if e != nil {
			failures, pending = e.failures, e.pending
		}
		tb.mu.Unlock()
		if e == nil || int64(failures) != denied.Load() || pending != 0 {
			t.Fatalf("free %d: %d denied, %d voided, %d locked out: the address holds %d failures (%d pending), want the denied ones", free, denied.Load(), voided.Load(), locked.Load(), failures, pending)
		}
		if free < 1<<20 {
			if failures != free+1 || tb.Lockouts() != 1 {
				t.Fatalf("free %d: %d failures, %d lockouts, want the free ones and the one that locked the address out", free, failures, tb.Lockouts())
			}
		} else if tb.Lockouts() != 0 || locked.Load() != 0 {
			t.Fatalf("free %d: %d lockouts, %d locked out", free, tb.Lockouts(), locked.Load())
		}
	}
}
