package gctune

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 * mib, 400},
		{16 * mib, 400},
		{20 * mib, 320},
		{32 * mib, 200},
		{48 * mib, 133},
		{64 * mib, 100},
		{1 << 30, 100},
	}
	for _, tt := range tests {
		if got := Percent(tt.live, 64*mib, 100, 400); got != tt.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tt.live/mib, got, tt.want)
		}
	}
}

// TestStartFollowsTheLiveHeap drives Start with a fake live heap and GOGC
// setter: it sets GOGC at once, follows the heap, and stop restores the
// value from before.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	var live atomic.Uint64
	live.Store(8 << 20)
	var mu sync.Mutex
	current := 100
	var history []int
	set := func(p int) int {
		mu.Lock()
		defer mu.Unlock()
		prev := current
		current = p
		history = append(history, p)
		return prev
	}
	get := func() int {
		mu.Lock()
		defer mu.Unlock()
		return current
	}
	stop := Start(Options{Interval: time.Millisecond, Live: live.Load, Set: set})
	if got := get(); got != 400 {
		t.Fatalf("GOGC after Start with 8 MiB live = %d, want 400", got)
	}
	live.Store(128 << 20)
	for deadline := time.Now().Add(10 * time.Second); get() != 100; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC did not follow a 128 MiB live heap: %d", get())
		}
	}
	stop()
	if got := get(); got != 100 {
		t.Fatalf("GOGC after stop = %d, want the 100 from before Start", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(history) < 3 || history[0] != 400 {
		t.Fatalf("GOGC settings %v, want 400, then 100, then the restore", history)
	}
}

// TestStartWithTheRuntime uses the real metric and setter.
func TestStartWithTheRuntime(t *testing.T) {
	runtime.GC()
	if liveHeap() == 0 {
		t.Fatal("the runtime reported no live heap after a collection")
	}
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	stop := Start(Options{})
	p := debug.SetGCPercent(-1) // read it back
	debug.SetGCPercent(p)
	stop()
	if p < 100 || p > 400 {
		t.Fatalf("GOGC under Start = %d, want 100 to 400", p)
	}
	if after := debug.SetGCPercent(100); after != 100 {
		t.Fatalf("GOGC after stop = %d, want 100 restored", after)
	}
}
