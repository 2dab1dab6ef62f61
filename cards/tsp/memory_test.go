package tsp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSimulatorKeepsNoTokenPANInClear: the simulator's memory of deleted
// tokens and used cryptograms holds no token PAN (they were its keys, in
// clear, for the life of the process).
func TestSimulatorKeepsNoTokenPANInClear(t *testing.T) {
	ctx := context.Background()
	s := NewSimulator([]byte("k"))
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	used, err := s.Provision(ctx, "4111111111111111", "4", "2030")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Cryptogram(ctx, used.PAN, 1, UseEcommerce, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(used.PAN, c, 1, now); err != nil {
		t.Fatal(err)
	}
	gone, err := s.Provision(ctx, "5555555555554444", "4", "2030")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, gone.Ref, ""); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	mem := fmt.Sprintf("%v %v %v", s.used, s.deleted, s.order)
	s.mu.Unlock()
	for _, p := range []string{used.PAN, gone.PAN} {
		if strings.Contains(mem, p) {
			t.Fatalf("the simulator's memory holds token PAN %s…", p[:6])
		}
	}
	if !errors.Is(s.Verify(used.PAN, c, 1, now), ErrReplay) {
		t.Fatal("a replay is accepted")
	}
	if _, err := s.Cryptogram(ctx, gone.PAN, 1, UseEcommerce, now); !errors.Is(err, ErrDeleted) {
		t.Fatalf("a deleted token's cryptogram: %v", err)
	}
}

// TestSimulatorForgetsUsedCryptogramsPastMaxAge: a used cryptogram is
// remembered only while Verify could accept it again (MaxAge); the set of
// used ones grew with every payment for the life of the process.
func TestSimulatorForgetsUsedCryptogramsPastMaxAge(t *testing.T) {
	ctx := context.Background()
	s := NewSimulator([]byte("k"))
	tok, err := s.Provision(ctx, "4111111111111111", "4", "2030")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	verify := func(counter uint64, now time.Time) error {
		c, err := s.Cryptogram(ctx, tok.PAN, counter, UseEcommerce, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(tok.PAN, c, counter, now); err != nil {
			t.Fatalf("verify %d: %v", counter, err)
		}
		return s.Verify(tok.PAN, c, counter, now)
	}
	const n = 1000
	for i := uint64(0); i < n; i++ {
		if err := verify(i, start); !errors.Is(err, ErrReplay) {
			t.Fatalf("a replay of %d: %v", i, err)
		}
	}
	s.mu.Lock()
	before := len(s.used)
	s.mu.Unlock()
	if before != n {
		t.Fatalf("used cryptograms remembered within MaxAge: %d, want %d", before, n)
	}
	later := start.Add(MaxAge + Window)
	if err := verify(n, later); !errors.Is(err, ErrReplay) {
		t.Fatalf("a replay later: %v", err)
	}
	s.mu.Lock()
	after := len(s.used)
	s.mu.Unlock()
	if after != 1 {
		t.Fatalf("used cryptograms remembered after MaxAge: %d, want 1 (the new one)", after)
	}
}

// TestSimulatorDeletedTokensAreBounded: the simulator remembers at most
// MaxDeleted deleted tokens, the latest; they were kept for the life of
// the process, also after their cards were deleted.
func TestSimulatorDeletedTokensAreBounded(t *testing.T) {
	ctx := context.Background()
	s := NewSimulator([]byte("k"))
	var last []string
	for i := 0; i < MaxDeleted+100; i++ {
		tok, err := s.Provision(ctx, "4111111111111111", "4", "2030")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, tok.Ref, ""); err != nil {
			t.Fatal(err)
		}
		if i >= MaxDeleted+90 {
			last = append(last, tok.PAN)
		}
	}
	s.mu.Lock()
	n := len(s.deleted)
	s.mu.Unlock()
	if n > MaxDeleted {
		t.Fatalf("deleted tokens remembered: %d, bound %d", n, MaxDeleted)
	}
	for _, p := range last {
		if err := s.Update(ctx, p, "5", "2031"); !errors.Is(err, ErrDeleted) {
			t.Fatalf("a recently deleted token is not deleted: %v", err)
		}
	}
}
