package audit

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentWritersRotatingWriteNoGap: two gateways and a CLI (which
// opens the log for each line, as `aliasgate clients create` does) append
// thousands of lines to one log at once, rotating it by size and pruning
// it with keep. Nothing is cut or replaced by anyone but the writers
// themselves, so no audit_gap may be written and the set must verify.
func TestConcurrentWritersRotatingWriteNoGap(t *testing.T) {
	if testing.Short() {
		t.Skip("stress")
	}
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{MaxSize: 2 << 10, Keep: 1}
	lines := 1500
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 2 {
		w := openRotating(t, path, k, opts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			for range 4 {
				inner.Add(1)
				go func() {
					defer inner.Done()
					for range lines / 4 {
						if err := w.Log(context.Background(), Event{Event: EventReveal, Actor: "client:CLTa", Aliases: []string{"a"}, Found: 1}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			inner.Wait()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range lines / 10 {
			w, err := Open(path, k, opts)
			if err != nil {
				errs <- err
				return
			}
			err = w.Log(context.Background(), Event{Event: EventClientCreated, Actor: ActorCLI, Client: "CLTx"})
			w.Close()
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, f := range append(rotated(t, path), path) {
		if g := gapLines(t, f); len(g) > 0 {
			t.Errorf("%s: audit_gap written with no tampering: %v", filepath.Base(f), g)
		}
	}
	mustVerifySet(t, path, k)
}
