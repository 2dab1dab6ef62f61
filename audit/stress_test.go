package audit

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
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

// TestQueuedLogsEachWriteTheirOwnLine: Logs queued for the loop's group
// commits, some of whose contexts end while they wait (their requests are
// then never reused: the loop may still answer them), each write the line
// of their own event, once: a request reused while the loop still held it
// would write another caller's event, or one twice.
func TestQueuedLogsEachWriteTheirOwnLine(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	const callers, each = 16, 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	written := map[string]bool{} // the alias hashes of the Logs that returned nil
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				alias := fmt.Sprint("tok_", c, "_", i)
				ctx, cancel := context.WithCancel(context.Background())
				if i%5 == 4 {
					cancel() // at once, or while it waits (below)
				} else if i%5 == 3 {
					go cancel()
				}
				err := w.Log(ctx, Event{Event: EventReveal, Actor: "route:r", Aliases: []string{alias}, Found: 1})
				cancel()
				if err == nil {
					mu.Lock()
					written[k.AliasHash(alias)] = true
					mu.Unlock()
				} else if !errors.Is(err, context.Canceled) {
					t.Error(err)
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Minute):
		// A request answered twice blocks the loop on its answer channel,
		// and so would Close in the test's cleanup: stop here.
		panic("the Logs did not finish within a minute")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range parsed(t, path) {
		for _, h := range l["aliases"].([]any) {
			if seen[h.(string)] {
				t.Fatalf("alias hash %s written twice", h)
			}
			seen[h.(string)] = true
		}
	}
	for h := range written {
		if !seen[h] {
			t.Fatalf("a Log that returned nil has no line (alias hash %s)", h)
		}
	}
	if len(written) < callers*each/2 {
		t.Fatalf("%d Logs succeeded, want at least %d", len(written), callers*each/2)
	}
	mustVerify(t, path, k)
}
