package vault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGateReleasesOneSlotPerEnter: the release a gate's enter returns
// (the one function made with the gate, whether the slot was free at once
// or waited for) frees exactly one slot: many goroutines entering and
// releasing never hold more than the bound and leave every slot free; a
// refused or canceled enter returns no release and takes no slot; a nil
// gate admits every call with a release that does nothing.
func TestGateReleasesOneSlotPerEnter(t *testing.T) {
	const bound = 3
	g := newGate(bound, time.Hour)
	var held, most atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 300 {
				done, err := g.enter(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := held.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				held.Add(-1)
				done()
			}
		})
	}
	wg.Wait()
	if most.Load() > bound || len(g.slots) != 0 {
		t.Fatalf("most held %d (bound %d), %d slots still taken", most.Load(), bound, len(g.slots))
	}
	// Full: a canceled enter fails, returns no release and takes nothing.
	var dones []func()
	for range bound {
		done, err := g.enter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if done, err := g.enter(ctx); !errors.Is(err, context.Canceled) || done != nil {
		t.Fatalf("enter on a full gate with a canceled context = %v, %v", done != nil, err)
	}
	short := newGate(1, time.Millisecond)
	d, err := short.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if done, err := short.enter(context.Background()); !errors.Is(err, ErrBusy) || done != nil {
		t.Fatalf("enter on a full gate after the wait = %v, %v", done != nil, err)
	}
	d()
	if len(short.slots) != 0 {
		t.Fatal("the slot was not freed")
	}
	if len(g.slots) != bound {
		t.Fatalf("%d slots taken, want %d", len(g.slots), bound)
	}
	// A waiting enter gets its slot when one is released, with a release
	// that frees one slot.
	got := make(chan func())
	go func() {
		done, err := g.enter(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- done
	}()
	dones[0]()
	waited := <-got
	waited()
	for _, d := range dones[1:] {
		d()
	}
	if len(g.slots) != 0 {
		t.Fatalf("%d slots still taken", len(g.slots))
	}
	var none *gate
	for range 3 {
		done, err := none.enter(context.Background())
		if err != nil || done == nil {
			t.Fatalf("nil gate enter = %v", err)
		}
		done()
	}
}
