package bodybudget

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestOverShareAttemptsDoNotRefuseOthers: a reservation past its
// source's share was added to the gateway-wide count before the share
// was checked, and taken back after: while one sender that holds its
// whole share kept asking for more (refused, each time), the count it
// inflated for a moment refused another sender's body that fitted, with
// ErrFull. One sender past its share could so starve everyone else of
// the rest of the budget. The share is checked first now: a reservation
// the share refuses never touches the gateway-wide count.
func TestOverShareAttemptsDoNotRefuseOthers(t *testing.T) {
	b := New(1000, 400)
	if err := b.Reserve("greedy", 400); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if b.Reserve("greedy", 400) == nil {
					t.Error("a reservation past the share was granted")
					return
				}
			}
		}()
	}
	refused := 0
	for range 20000 {
		// 600 bytes are free: "other" fits, whatever greedy asks.
		if err := b.Reserve("other", 400); err != nil {
			refused++
			continue
		}
		b.Release("other", 400)
	}
	stop.Store(true)
	wg.Wait()
	if refused > 0 {
		t.Errorf("another sender's body that fitted was refused %d times of 20000 while one sender past its share asked for more", refused)
	}
	b.Release("greedy", 400)
	if b.Used() != 0 {
		t.Errorf("used %d after everything was given back", b.Used())
	}
}

// TestLimitHoldsASourceBelowTheShare: a source held to less than the
// share (Limit) is refused past its limit, others keep the share, and
// what it gave back is reserved again; a limit at or over the share, or
// on a budget without one, changes nothing but is counted.
func TestLimitHoldsASourceBelowTheShare(t *testing.T) {
	b := New(100, 75)
	b.Limit("captures", 25)
	if err := b.Reserve("captures", 25); err != nil {
		t.Fatalf("within its limit: %v", err)
	}
	if err := b.Reserve("captures", 1); err != ErrSourceFull {
		t.Fatalf("past its limit: %v, want ErrSourceFull", err)
	}
	if err := b.Reserve("sender", 75); err != nil {
		t.Fatalf("another source's whole share: %v", err)
	}
	b.Release("captures", 25)
	b.Release("sender", 75)
	if b.Used() != 0 || b.Sources() != 0 {
		t.Fatalf("after every release: %d bytes, %d sources", b.Used(), b.Sources())
	}

	whole := New(100, 0) // no share
	whole.Limit("captures", 40)
	if err := whole.Reserve("captures", 41); err != ErrSourceFull {
		t.Fatalf("past its limit in a budget without a share: %v, want ErrSourceFull", err)
	}
	if err := whole.Reserve("sender", 100); err != nil {
		t.Fatalf("the whole budget without a share: %v", err)
	}
	whole.Release("sender", 100)
	whole.Limit("other", 100) // the share: no limit
	if err := whole.Reserve("other", 100); err != nil {
		t.Fatalf("a limit of the whole share: %v", err)
	}
}
