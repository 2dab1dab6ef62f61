// Package sleep is the one context-aware wait of the module: For waits a
// duration or until a context ends, whichever comes first, and stops its
// timer either way (time.After kept its timer until it fired before Go
// 1.23, and a bare time.Sleep outlives a shutdown).
package sleep

import (
	"context"
	"time"
)

// For waits d, or until ctx ends; then it returns ctx's error (nil when d
// passed first). A d of zero or less returns at once, with ctx's error if
// it has ended.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
