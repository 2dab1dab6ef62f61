package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
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

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 90 * time.Second: "90"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%s) = %s, want %s", d, got, want)
		}
	}
}

// headerAuth authenticates the client named by X-Client.
type headerAuth struct{}

func (headerAuth) Require(_ string, _ bool, ct string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Client")
		if id == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), auth.Principal{ClientID: id})))
	})
}

func TestGuardAnswers429WithRetryAfter(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	var refused atomic.Int64
	g := NewGuard(headerAuth{}, New(2, 2, clk.now), "aliases", func(api string) {
		if api == "aliases" {
			refused.Add(1)
		}
	})
	var served atomic.Int64
	h := g.Require("aliases:reveal", true, "application/json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
	}))
	do := func(client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/aliases/x", nil)
		if client != "" {
			r.Header.Set("X-Client", client)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for range 2 {
		if w := do("AC1"); w.Code != 200 {
			t.Fatalf("within the burst: %d", w.Code)
		}
	}
	w := do("AC1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the rate: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		Errors []struct{ Status, Code, Title, Detail string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || len(doc.Errors) != 1 ||
		doc.Errors[0].Status != "429" || doc.Errors[0].Code != "rate_limited" || doc.Errors[0].Detail == "" {
		t.Fatalf("body %s (%v)", w.Body, err)
	}
	if w := do("AC2"); w.Code != 200 {
		t.Fatalf("another client is limited too: %d", w.Code)
	}
	if w := do(""); w.Code != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", w.Code)
	}
	clk.add(500 * time.Millisecond)
	if w := do("AC1"); w.Code != 200 {
		t.Fatalf("after a refill: %d", w.Code)
	}
	if served.Load() != 4 || refused.Load() != 1 {
		t.Errorf("served %d, refused %d; want 4 and 1", served.Load(), refused.Load())
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
