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
