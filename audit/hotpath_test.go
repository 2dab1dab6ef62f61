package audit

import (
	"path/filepath"
	"testing"
)

// TestALoneWritersAppendsReadNothingBack: a Writer alone on its log finds
// the file as it left it at every append (its size), so it never reads the
// file back (its tail, or its own last line), even when it looks the path
// up at every append. Regression cover of the read back's hot path.
func TestALoneWritersAppendsReadNothingBack(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	for _, every := range []int{0, 1} {
		w := openRotating(t, path, k, Options{})
		logN(t, w, 1)
		if every == 0 {
			w.commitMu.Lock()
			w.pathEvery = 0 // the path looked up at every append
			w.commitMu.Unlock()
		}
		base, checks := w.resyncs.Load(), w.pathChecks.Load()
		logN(t, w, 2000)
		if n := w.resyncs.Load() - base; n != 0 {
			t.Fatalf("%d read backs in 2000 appends by a lone Writer, want none", n)
		}
		if every == 0 && w.pathChecks.Load()-checks < 2000 {
			t.Fatalf("%d path checks, want one per append", w.pathChecks.Load()-checks)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if gaps := gapLines(t, path); len(gaps) != 0 {
		t.Fatalf("audit_gap: %v", gaps)
	}
}
