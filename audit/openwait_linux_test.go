package audit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenThatWaitedForTheLock: when Open's first commit has to wait for
// another writer's flock, it arms the hold timer (pauseHold), whose
// releaseIdle may run while Open is still committing; here the log was
// removed while Open waited, so the commit goes on to reopen it after the
// timer was armed. Under -race this reported a data race on the Writer's
// file until Open took commitMu for that commit. The Writer then goes on
// writing a chain that verifies.
func TestOpenThatWaitedForTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	k := testKeys(t, 1)
	w0 := openLog(t, path, k)
	logN(t, w0, 2)
	if err := w0.Close(); err != nil {
		t.Fatal(err)
	}

	holder, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := lockFile(holder); err != nil {
		t.Fatal(err)
	}
	type opened struct {
		w   *Writer
		err error
	}
	done := make(chan opened, 1)
	go func() {
		w, err := Open(path, k, Options{})
		done <- opened{w, err}
	}()
	for !othersWaiting(holder) { // Open waits for the lock
		select {
		case o := <-done:
			t.Fatalf("Open returned (%v) while another writer held the lock", o.err)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	if err := os.Remove(path); err != nil { // as an operator's rm would
		t.Fatal(err)
	}
	unlockFile(holder)
	o := <-done
	if o.err != nil {
		t.Fatalf("Open: %v", o.err)
	}
	w := o.w
	defer w.Close()
	// Nothing here takes commitMu before the hold timer has run (which
	// would order the Writer's state before it for the race detector).
	time.Sleep(20 * holdTick)
	for { // until releaseIdle has run and found nobody waiting
		w.commitMu.Lock()
		armed := w.holdArmed
		w.commitMu.Unlock()
		if !armed {
			break
		}
		time.Sleep(time.Millisecond)
	}
	logN(t, w, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if res := mustVerify(t, path, k); res.Lines < 3 {
		t.Fatalf("Verify = %+v, want the 3 lines written after Open", res)
	}
}
