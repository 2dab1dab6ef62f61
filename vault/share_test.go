package vault

import (
	"errors"
	"testing"
	"time"
)

// TestVolatileShareCountsAnAccountsValuesForOneTTL: an account may create
// its share of volatile values in any one TTL; past it a call is refused
// whole with a ThrottleError whose RetryAfter is when enough of its values
// have expired, another account is not limited, a call over the whole
// share waits a TTL, values count until their part of the TTL is a TTL old,
// and a released reservation is given back (never below zero).
func TestVolatileShareCountsAnAccountsValuesForOneTTL(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	v := newVolatileShare(10, time.Minute) // parts of 1 s
	if _, err := v.reserve("a", 6, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := v.reserve("a", 4, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	var te *ThrottleError
	_, err := v.reserve("a", 1, t0.Add(40*time.Second))
	if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) || te.Limit != LimitVolatileShare || te.RetryAfter != 21*time.Second {
		t.Fatalf("the 11th value: %v (want a wait until the first 6 have expired: 21 s)", err)
	}
	if _, err := v.reserve("b", 10, t0.Add(40*time.Second)); err != nil {
		t.Fatalf("another account: %v", err)
	}
	if _, err := v.reserve("a", 11, t0.Add(40*time.Second)); !errors.As(err, &te) || te.RetryAfter != time.Minute {
		t.Fatalf("a call over the whole share: %v", err)
	}
	// The first part counts until it is a TTL old, whole.
	if _, err := v.reserve("a", 1, t0.Add(60*time.Second)); err == nil {
		t.Fatal("a value of the first part was forgotten before its part was a TTL old")
	}
	p, err := v.reserve("a", 6, t0.Add(61*time.Second))
	if err != nil {
		t.Fatalf("once the first 6 expired: %v", err)
	}
	v.release("a", p)
	v.release("a", p) // twice: nothing more is given back
	if _, err := v.reserve("a", 6, t0.Add(62*time.Second)); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := v.reserve("a", 1, t0.Add(62*time.Second)); err == nil {
		t.Fatal("a double release gave back more than it took")
	}
	// Accounts with nothing left are forgotten.
	v.reserve("c", 1, t0.Add(200*time.Second))
	if len(v.accounts) != 1 {
		t.Fatalf("%d accounts held, want the one with values", len(v.accounts))
	}
	if newVolatileShare(0, time.Minute) != nil {
		t.Fatal("a share of 0 bounds")
	}
}
