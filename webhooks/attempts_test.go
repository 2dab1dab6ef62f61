package webhooks

import (
	"testing"
	"time"
)

// TestAddAttemptKeepsTheLastMaxAttempts: a delivery keeps its last
// MaxAttempts attempts, oldest first, and counts the ones it dropped.
func TestAddAttemptKeepsTheLastMaxAttempts(t *testing.T) {
	var d Delivery
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	const n = MaxAttempts + 7
	for i := range n {
		d.AddAttempt(Attempt{At: t0.Add(time.Duration(i) * time.Second), Status: 500 + i%2})
		if len(d.Attempts) > MaxAttempts {
			t.Fatalf("after %d attempts %d are kept", i+1, len(d.Attempts))
		}
	}
	if len(d.Attempts) != MaxAttempts || d.AttemptsDropped != n-MaxAttempts {
		t.Fatalf("kept %d, dropped %d; want %d, %d", len(d.Attempts), d.AttemptsDropped, MaxAttempts, n-MaxAttempts)
	}
	if first, last := d.Attempts[0].At, d.Attempts[MaxAttempts-1].At; !first.Equal(t0.Add(7*time.Second)) || !last.Equal(t0.Add((n-1)*time.Second)) {
		t.Fatalf("kept attempts from %v to %v", first, last)
	}
}
