package vaulttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// IdempotencyStore is the part of cards.Store that keeps Idempotency-Key
// records.
type IdempotencyStore interface {
	ClaimIdempotency(ctx context.Context, account, key string, record []byte, now, expires time.Time) ([]byte, error)
	FinishIdempotency(ctx context.Context, account, key string, record []byte, expires time.Time) error
	ReleaseIdempotency(ctx context.Context, account, key string) error
}

// testIdempotency: a claim wins once per (account, key) until its record
// expires; the winner's record is returned to later claims; finish and
// release replace and remove it; concurrent claims of one key have one
// winner.
func testIdempotency(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	is, ok := s.(IdempotencyStore)
	if !ok {
		t.Fatalf("%T does not implement IdempotencyStore", s)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	claim := func(account, key, rec string, now time.Time, ttl time.Duration) string {
		t.Helper()
		ex, err := is.ClaimIdempotency(ctx, account, key, []byte(rec), now, now.Add(ttl))
		if err != nil {
			t.Fatal(err)
		}
		return string(ex)
	}
	if ex := claim("acct_a", "k1", "pending", t0, time.Minute); ex != "" {
		t.Fatalf("first claim returned %q", ex)
	}
	if ex := claim("acct_a", "k1", "other", t0.Add(time.Second), time.Minute); ex != "pending" {
		t.Fatalf("second claim = %q, want the first record", ex)
	}
	if ex := claim("acct_b", "k1", "b", t0, 48*time.Hour); ex != "" {
		t.Fatalf("same key in another account = %q", ex)
	}
	if err := is.FinishIdempotency(ctx, "acct_a", "k1", []byte("done"), t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ex := claim("acct_a", "k1", "x", t0.Add(time.Hour), time.Minute); ex != "done" {
		t.Fatalf("claim after finish = %q, want done (the finish moved the expiry)", ex)
	}
	if ex := claim("acct_a", "k1", "fresh", t0.Add(25*time.Hour), time.Minute); ex != "" {
		t.Fatalf("claim after expiry = %q, want a new claim", ex)
	}
	if err := is.ReleaseIdempotency(ctx, "acct_a", "k1"); err != nil {
		t.Fatal(err)
	}
	if ex := claim("acct_a", "k1", "again", t0.Add(25*time.Hour), time.Minute); ex != "" {
		t.Fatalf("claim after release = %q", ex)
	}
	if ex := claim("acct_b", "k1", "b2", t0.Add(time.Second), time.Minute); ex != "b" {
		t.Fatalf("another account's key changed: %q", ex)
	}
	// Many expired keys are swept by later claims without harm. A shared
	// store also holds a claim as a lease on its own clock for expires −
	// now (pgstore: the database's, so that gateways with skewed clocks
	// agree): the old claims are a millisecond long, and a few pass in
	// real time before they are claimed again.
	for i := range 40 {
		claim("acct_c", fmt.Sprint("old", i), "r", t0, time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	for i := range 5 {
		claim("acct_c", fmt.Sprint("new", i), "r", t0.Add(time.Hour), time.Hour)
	}
	for i := range 40 {
		if ex := claim("acct_c", fmt.Sprint("old", i), "s", t0.Add(2*time.Hour), time.Hour); ex != "" {
			t.Fatalf("expired key old%d = %q", i, ex)
		}
	}
	// Concurrent claims of one key: one winner.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex, err := is.ClaimIdempotency(ctx, "acct_d", "race", []byte(fmt.Sprint("g", g)), t0, t0.Add(time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			if ex == nil {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d concurrent claims won, want 1", winners)
	}
}
