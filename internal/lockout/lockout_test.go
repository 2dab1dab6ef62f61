package lockout

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func wrong() bool { return false }
func right() bool { return true }

func TestLockoutDoublesAndExpires(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 3, Base: time.Second, Max: 8 * time.Second, Now: c.now})
	for i := range 3 {
		if v, w := tb.Try("a", wrong); v != Denied || w != 0 {
			t.Fatalf("free failure %d: %v %v", i+1, v, w)
		}
	}
	for _, want := range []time.Duration{1, 2, 4, 8, 8, 8} {
		v, w := tb.Try("a", wrong)
		if v != Denied || w != want*time.Second {
			t.Fatalf("failure past the free ones: %v %v, want a lockout of %v s", v, w, want)
		}
		ran := false
		if v, left := tb.Try("a", func() bool { ran = true; return true }); v != LockedOut || left != w || ran {
			t.Fatalf("while locked out: %v %v (ran %v)", v, left, ran)
		}
		if v, _ := tb.Try("b", right); v != Allowed {
			t.Fatal("another address is locked out too")
		}
		c.add(w)
	}
	if got := tb.Lockouts(); got != 6 {
		t.Fatalf("Lockouts = %d", got)
	}
	if v, _ := tb.Try("a", right); v != Allowed {
		t.Fatalf("the right secret after the lockout: %v", v)
	}
	if v, w := tb.Try("a", wrong); v != Denied || w != 0 || tb.Len() != 1 {
		t.Fatalf("a success did not reset the address: %v %v", v, w)
	}
}

func TestFailuresAreForgotten(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 2, Max: time.Minute, Forget: time.Hour, Now: c.now})
	tb.Try("a", wrong)
	tb.Try("a", wrong)
	c.add(time.Hour)
	if v, w := tb.Try("b", wrong); v != Denied || w != 0 || tb.Len() != 1 {
		t.Fatalf("after an hour: %v %v, %d entries", v, w, tb.Len())
	}
	if v, w := tb.Try("a", wrong); v != Denied || w != 0 {
		t.Fatalf("a's failures were not forgotten: %v %v", v, w)
	}
}

// TestConcurrentGuessesAreCharged: past the free failures, guesses sent at
// once get one check per lockout, not one each.
func TestConcurrentGuessesAreCharged(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 2, Now: c.now})
	tb.Try("a", wrong)
	tb.Try("a", wrong)
	var checks atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb.Try("a", func() bool { checks.Add(1); <-release; return false })
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := checks.Load(); n != 1 {
		t.Fatalf("%d checks ran at once past the free failures, want 1", n)
	}
}

func TestTableIsBounded(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 1, MaxEntries: 100, Now: c.now})
	tb.Try("victim", wrong)
	tb.Try("victim", wrong) // locked out
	key := func(i int) string { return "2001:db8:" + strconv.FormatInt(int64(i), 16) + "::/64" }
	for i := range 100000 {
		tb.Try(key(i), wrong)
		if i%1000 == 0 {
			c.add(time.Millisecond)
		}
	}
	if n := tb.Len(); n != 100 {
		t.Fatalf("%d entries after a flood, want 100", n)
	}
	if v, _ := tb.Try("victim", right); v != Allowed {
		t.Fatal("the evicted victim is still locked out") // the price of the bound, documented
	}
	// The newest addresses are kept, the oldest evicted.
	if v, _ := tb.Try(key(99999), right); v != Allowed {
		t.Fatal("the right secret is refused")
	}
	if tb.Len() != 99 {
		t.Fatalf("a success kept its entry: %d", tb.Len())
	}
	if v, _ := tb.Try(key(0), wrong); v != Denied || tb.Len() != 100 {
		t.Fatalf("an evicted address: %v, %d entries", v, tb.Len())
	}
}

func TestSuccessesAddNothing(t *testing.T) {
	tb := New(Options{})
	for i := range 1000 {
		if v, _ := tb.Try(strconv.Itoa(i), right); v != Allowed {
			t.Fatal(v)
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("%d entries", tb.Len())
	}
}

func TestKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"127.0.0.1:5000", "127.0.0.1"},
		{"127.0.0.2:5000", "127.0.0.2"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:22", "fe80::/64"},
		{"[::1]:9090", "::/64"},
		{"192.0.2.1", "192.0.2.1"},
		{"@", "@"},
		{"", ""},
	} {
		if got := Key(tt.in); got != tt.want {
			t.Errorf("Key(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	tb := New(Options{Max: time.Minute, Forget: time.Second})
	if tb.opts.Free != DefaultFree || tb.opts.Base != DefaultBase || tb.opts.Forget != time.Minute || tb.opts.MaxEntries != DefaultMaxEntries {
		t.Fatalf("%+v", tb.opts)
	}
	for over, want := range map[int]time.Duration{1: time.Second, 6: 32 * time.Second, 7: time.Minute, 1000: time.Minute} {
		if got := tb.backoff(over); got != want {
			t.Errorf("backoff(%d) = %v, want %v", over, got, want)
		}
	}
}

// TestVoidChecksAreNotCharged: a check that reaches no verdict (the store
// behind the secret failed) has its charge taken back: however many there
// are, the address keeps its free failures, is not locked out, is not
// reset either, and holds no entry when it had no failure.
func TestVoidChecksAreNotCharged(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	tb := New(Options{Free: 3, Now: c.now})
	void := func() Outcome { return Void }
	for range 20 {
		if v, w := tb.Attempt("a", void); v != Voided || w != 0 {
			t.Fatalf("a void check: %v %v", v, w)
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("%d entries after void checks only", tb.Len())
	}
	for range 3 {
		tb.Try("a", wrong)
	}
	for range 20 {
		if v, w := tb.Attempt("a", void); v != Voided || w != 0 {
			t.Fatalf("a void check after the free failures: %v %v", v, w)
		}
	}
	// The failures stand (not reset by the void checks): the next wrong
	// secret locks the address out.
	if v, w := tb.Try("a", wrong); v != Denied || w != DefaultBase {
		t.Fatalf("the failure past the free ones: %v %v", v, w)
	}
	ran := false
	if v, _ := tb.Attempt("a", func() Outcome { ran = true; return Void }); v != LockedOut || ran {
		t.Fatalf("a locked-out address: %v (ran %v)", v, ran)
	}
	c.add(DefaultBase)
	// Taken back past the free ones: the lockout is the one of the
	// failures left.
	if v, _ := tb.Attempt("a", void); v != Voided {
		t.Fatalf("after the lockout: %v", v)
	}
	if v, w := tb.Try("a", wrong); v != Denied || w != 2*DefaultBase {
		t.Fatalf("the second failure past the free ones: %v %v", v, w)
	}
}
