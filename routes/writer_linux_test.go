//go:build linux

package routes

import (
	"os"
	"strings"
	"testing"
)

// TestRoutesFileOpenForWritingIsNotLoaded: the watcher loaded a file that
// had stayed the same for one poll, so a writer that paused longer half way
// (cat > routes.yaml with a routes file pasted or typed, scp over a slow
// link, a pipeline writing through tee) had its half file put in force:
// here a filter that has lost its CVC target. On Linux a file some process
// still holds open for writing is not loaded (a read lease cannot be
// taken on it); it is loaded once the writer has closed it, even when the
// last write came long before the close.
func TestRoutesFileOpenForWritingIsNotLoaded(t *testing.T) {
	path, table, r, _, m := newReloadFixture(t)
	r.poll()
	half := reloadDoc[:strings.Index(reloadDoc, "          - json: card.cvc")]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(half)
	r.poll()
	r.poll() // the same for a whole poll: settled, but still open for writing
	if n := targetsOf(table); n != 2 {
		t.Fatalf("a file still open for writing was loaded half written: %d targets", n)
	}
	if err := r.Reload(); err == nil {
		t.Error("SIGHUP's reload of a file still open for writing succeeded")
	}
	if n := targetsOf(table); n != 2 {
		t.Fatalf("a file still open for writing was loaded half written by Reload: %d targets", n)
	}
	f.WriteString(reloadDoc[len(half):] + "  - id: second\n    direction: outbound\n    host: api.psp.example\n")
	r.poll()
	r.poll()
	r.poll() // written whole, settled, still open: not loaded
	if n := len(table.Load().Routes); n != 1 {
		t.Fatalf("%d routes while the file is still open for writing", n)
	}
	// Reported once by the watcher and once by SIGHUP, not at every poll.
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != 2 {
		t.Errorf("invalid reloads counted %v, want 2", v)
	}
	f.Close() // no write since the last poll: only the close
	r.poll()
	if n, routes := targetsOf(table), len(table.Load().Routes); n != 2 || routes != 2 {
		t.Fatalf("the file closed by its writer was not loaded: %d routes, %d targets", routes, n)
	}
}
