package sleep

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestForEndsWithItsContext: a context that ends (or had ended) ends the
// wait with its error; a wait that passes returns nil.
func TestForEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if err := For(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("For(cancelled, 1h) = %v, want context.Canceled", err)
	}
	if err := For(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("For(cancelled, 0) = %v, want context.Canceled", err)
	}
	if err := For(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("For(background, 1ms) = %v", err)
	}
	if err := For(context.Background(), -time.Second); err != nil {
		t.Fatalf("For(background, -1s) = %v", err)
	}
}
