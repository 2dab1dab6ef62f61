package vault

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrBusy: the Service's concurrency bound (Options.MaxConcurrent) was
// reached and no operation finished within Options.MaxWait. It is also
// ErrUnavailable, so callers answer it as a temporary failure (503).
var ErrBusy = fmt.Errorf("vault: too many operations in flight: %w", ErrUnavailable)

// DefaultMaxWait is how long an operation waits for a slot when
// Options.MaxConcurrent is set and Options.MaxWait is not.
const DefaultMaxWait = 5 * time.Second

// gate bounds the operations in flight: a counting semaphore whose waiters
// give up after a timeout or when their context ends. A nil *gate admits
// everything.
type gate struct {
	slots chan struct{}
	wait  time.Duration
	done  func() // g.leave, made once: a method value returned by enter would be allocated at each call
}

// admitted is what a nil *gate's enter returns.
func admitted() {}

func newGate(n int, wait time.Duration) *gate {
	if n <= 0 {
		return nil
	}
	if wait <= 0 {
		wait = DefaultMaxWait
	}
	g := &gate{slots: make(chan struct{}, n), wait: wait}
	g.done = g.leave
	return g
}

// enter takes a slot, waiting up to g.wait; the caller calls the returned
// function when done. It fails with ErrBusy after the wait, or with the
// context's error.
func (g *gate) enter(ctx context.Context) (func(), error) {
	if done, ok := g.tryEnter(); ok {
		return done, nil
	}
	return g.waitSlot(ctx)
}

// tryEnter takes a slot if one is free now, without waiting.
func (g *gate) tryEnter() (func(), bool) {
	if g == nil {
		return admitted, true
	}
	select {
	case g.slots <- struct{}{}:
		return g.done, true
	default:
		return nil, false
	}
}

// waitSlot waits for a slot, up to g.wait (g is not nil).
func (g *gate) waitSlot(ctx context.Context) (func(), error) {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.done, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gate) leave() { <-g.slots }

// InFlight returns how many operations hold a slot of the concurrency bound
// (0 when there is no bound).
func (s *Service) InFlight() int {
	if s.gate == nil {
		return 0
	}
	return len(s.gate.slots)
}

// writeFailed classifies a store's failure to write (a full disk, an I/O
// error, a lost connection) as ErrUnavailable, so that every caller answers
// it as a temporary failure (503) and refuses the message, rather than as
// an internal error. Errors that already say what they are (ErrUnavailable,
// ErrClosed, a context's end, ErrStoreRefused: the store refuses the
// gateway until an operator acts, which no retry changes) are returned as
// they are.
func writeFailed(err error) error {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) || errors.Is(err, ErrStoreRefused) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
