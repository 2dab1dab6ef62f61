package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBucketPerKey(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	l := New(10, 3, clk.now)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: ok %v, wait %s (want 100ms)", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	clk.add(50 * time.Millisecond)
	if ok, wait := l.Allow("a"); ok || wait != 50*time.Millisecond {
		t.Fatalf("half a token: ok %v, wait %s", ok, wait)
	}
	clk.add(50 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a refilled token was refused")
	}
	// A long pause refills to the burst, not beyond.
	clk.add(time.Hour)
	for range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("refilled burst refused")
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("the bucket grew beyond its burst")
	}
	// Full buckets are swept.
	clk.add(2 * time.Minute)
	l.Allow("c")
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after the sweep, want only c's", n)
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *Limiter = New(0, 10, nil)
	if l != nil {
		t.Fatal("rate 0 gave a limiter")
	}
	for range 1000 {
		if ok, _ := l.Allow("x"); !ok {
			t.Fatal("nil limiter refused")
		}
	}
}

func TestLimiterUnderConcurrency(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	l := New(1, 100, clk.now)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if a, _ := l.Allow("k"); a {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Fatalf("%d of 400 allowed with a burst of 100 and a frozen clock", ok.Load())
	}
}

func TestTakeIsAllOrNothing(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	l := NewPer(6, time.Minute, 5, clk.now) // a token every 10 s
	if ok, _, left := l.Take("k", 3); !ok || left != 2 {
		t.Fatalf("Take 3 of 5: ok %v left %d", ok, left)
	}
	ok, wait, left := l.Take("k", 3)
	if ok || left != 2 || wait != 10*time.Second {
		t.Fatalf("Take 3 of 2: ok %v left %d wait %s (want refused, 2 left, 10s)", ok, left, wait)
	}
	// A refused Take takes nothing.
	if ok, _, left := l.Take("k", 2); !ok || left != 0 {
		t.Fatalf("Take 2 of 2: ok %v left %d", ok, left)
	}
	// More than the burst can never be taken; the wait is a full refill.
	if ok, wait, _ := l.Take("k", 9); ok || wait != 50*time.Second {
		t.Fatalf("Take over the burst: ok %v wait %s", ok, wait)
	}
	if l.Burst() != 5 {
		t.Fatalf("Burst %d", l.Burst())
	}
	var none *Limiter
	if ok, _, left := none.Take("k", 1000); !ok || left != -1 || none.Burst() != 0 {
		t.Fatal("a nil Limiter limits")
	}
	if NewPer(0, time.Second, 1, nil) != nil || NewPer(1, 0, 1, nil) != nil {
		t.Fatal("NewPer without a rate is not nil")
	}
}

// TestChargeGoesIntoDebt: Charge takes a cost over the burst from a full
// bucket and leaves it below zero, so that the next charge waits for the
// whole cost to refill (Take never takes it); under the burst it is Take.
// Give puts tokens back, up to the burst.
func TestChargeGoesIntoDebt(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	l := NewPer(6, time.Minute, 5, clk.now) // a token every 10 s
	if ok, _, left := l.Charge("k", 3); !ok || left != 2 {
		t.Fatalf("Charge 3 of 5: ok %v left %d", ok, left)
	}
	if ok, wait, left := l.Charge("k", 3); ok || left != 2 || wait != 10*time.Second {
		t.Fatalf("Charge 3 of 2: ok %v left %d wait %s", ok, left, wait)
	}
	if ok, wait, _ := l.Charge("k", 8); ok || wait != 30*time.Second {
		t.Fatalf("Charge 8 of 2: ok %v wait %s (want refused until the bucket is full)", ok, wait)
	}
	clk.add(30 * time.Second)
	if ok, _, left := l.Charge("k", 8); !ok || left != -3 {
		t.Fatalf("Charge 8 from a full bucket of 5: ok %v left %d (want -3)", ok, left)
	}
	if ok, wait, _ := l.Charge("k", 1); ok || wait != 40*time.Second {
		t.Fatalf("Charge 1 in debt of 3: ok %v wait %s (want 40s)", ok, wait)
	}
	if l.Len() != 1 {
		t.Fatal("a bucket in debt was swept")
	}
	l.Give("k", 4)
	if ok, _, left := l.Charge("k", 1); !ok || left != 0 {
		t.Fatalf("after Give 4: ok %v left %d", ok, left)
	}
	l.Give("k", 100)
	if _, _, left := l.Take("k", 0); left != 5 {
		t.Fatalf("Give beyond the burst: %d tokens", left)
	}
	var none *Limiter
	if ok, _, left := none.Charge("k", 1000); !ok || left != -1 {
		t.Fatal("a nil Limiter limits")
	}
	none.Give("k", 1)
}

func TestFullAndForgetFull(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	l := New(10, 3, clk.now)
	if !l.Full("a") {
		t.Fatal("a key without a bucket is not full")
	}
	l.Take("a", 2)
	if l.Full("a") {
		t.Fatal("a bucket taken from is full")
	}
	clk.add(150 * time.Millisecond)
	if l.Full("a") {
		t.Fatal("a bucket 1.5 tokens short is full")
	}
	clk.add(50 * time.Millisecond)
	if !l.Full("a") {
		t.Fatal("a refilled bucket is not full")
	}
	l.Charge("b", 5) // in debt: -2, full again after 500 ms
	clk.add(400 * time.Millisecond)
	if l.Full("b") {
		t.Fatal("a bucket still in debt is full")
	}
	if l.ForgetFull("b") || l.Len() != 2 {
		t.Fatalf("a bucket still in debt was forgotten (%d buckets)", l.Len())
	}
	clk.add(100 * time.Millisecond)
	if !l.ForgetFull("b") || !l.Full("b") || l.Len() != 1 {
		t.Fatalf("after ForgetFull of a full bucket: full %v, %d buckets", l.Full("b"), l.Len())
	}
	if !l.ForgetFull("none") {
		t.Fatal("a key without a bucket is not forgotten")
	}
	var nilL *Limiter
	if !nilL.Full("x") || !nilL.ForgetFull("x") {
		t.Fatal("a nil Limiter is not full")
	}
}

// TestPeekTakesNothing: Peek says whether a token is there without taking
// it, and how long until one is after a Charge left the bucket in debt.
func TestPeekTakesNothing(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewPer(1, time.Second, 2, func() time.Time { return now })
	for range 5 {
		if ok, _ := l.Peek("k"); !ok {
			t.Fatal("Peek of a full bucket refused")
		}
	}
	if ok, _, _ := l.Take("k", 2); !ok {
		t.Fatal("Peek took tokens")
	}
	if ok, wait := l.Peek("k"); ok || wait != time.Second {
		t.Fatalf("Peek of an empty bucket: %v %v, want false 1s", ok, wait)
	}
	now = now.Add(2 * time.Second)
	if ok, _, left := l.Charge("k", 4); !ok || left != -2 {
		t.Fatalf("Charge of 4 from a full bucket of 2: %v, %d left", ok, left)
	}
	if ok, wait := l.Peek("k"); ok || wait != 3*time.Second {
		t.Fatalf("Peek in debt: %v %v, want false 3s", ok, wait)
	}
	var nilL *Limiter
	if ok, _ := nilL.Peek("k"); !ok {
		t.Fatal("a nil Limiter refused")
	}
}

// TestDebitAlwaysCharges: Debit takes its cost from a bucket that holds
// less, down into debt, each time (Charge takes nothing from a bucket
// under one token), and Peek then waits for the whole debt to refill.
func TestDebitAlwaysCharges(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	l := NewPer(6, time.Minute, 2, clk.now) // a token every 10 s
	for range 8 {
		l.Debit("k", 1)
	}
	if ok, wait := l.Peek("k"); ok || wait != 70*time.Second {
		t.Fatalf("after 8 debits of a bucket of 2: Peek %v wait %s, want 70s", ok, wait)
	}
	clk.add(70 * time.Second)
	if ok, _ := l.Peek("k"); !ok {
		t.Fatal("the debt refilled, Peek refused")
	}
	var nl *Limiter
	nl.Debit("k", 1)
}
