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

// TestAPanickingCheckLeavesNoCharge: a check that panics (a client store
// that panics, recovered by net/http for its request) is no verdict: its
// charge is taken back and the address's later attempts run. Before, its
// attempt stayed pending for ever: once the address was past its free
// failures, every later attempt from it waited for that check's verdict,
// a request hung per attempt, for good.
func TestAPanickingCheckLeavesNoCharge(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 1, Now: c.now})
	tb.Try("192.0.2.4", wrong)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the check's panic was not passed on")
			}
		}()
		tb.Attempt("192.0.2.4", func() Outcome { panic("store") })
	}()
	tb.onWait = func() { panic("an attempt waits for a check that panicked") }
	if v, w := tb.Try("192.0.2.4", wrong); v != Denied || w != DefaultBase {
		t.Fatalf("the failure after the panicking check: %v %v, want the one that locks the address out", v, w)
	}
}

// TestVoidPassAndFailRacing: right, wrong and void checks of one address
// at once, the clock moving on so that lockouts end: every verdict is its
// check's (or LockedOut, the check not run), and once they are all over
// the address holds no check running and exactly the failures that ended
// since it was last cleared, never fewer than none.
func TestVoidPassAndFailRacing(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 3, Base: time.Millisecond, Max: 4 * time.Millisecond, Now: c.now})
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				out := Outcome((g + i*7) % 3)
				if (g+i)%97 == 0 {
					c.add(time.Millisecond)
				}
				v, _ := tb.Attempt("203.0.113.10", func() Outcome { return out })
				want := map[Outcome]Verdict{Pass: Allowed, Fail: Denied, Void: Voided}[out]
				if v != want && v != LockedOut {
					t.Errorf("a check of outcome %v: verdict %v", out, v)
					return
				}
			}
		}()
	}
	wg.Wait()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.m) > 1 || tb.order.Len() != len(tb.m) {
		t.Fatalf("%d entries, %d in order, for one address", len(tb.m), tb.order.Len())
	}
	if e := tb.m["203.0.113.10"]; e != nil && (e.pending != 0 || e.failures != e.failed || e.failures < 0) {
		t.Fatalf("after every attempt: %d failures charged, %d ended, %d checks running", e.failures, e.failed, e.pending)
	}
}
