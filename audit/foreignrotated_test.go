package audit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAnotherLogEndingWithARotationPutInPlaceIsAGap: another gateway's
// rotated file (same key, further along its chain, ending with its
// audit_rotated line, as a crash between that line and the rename leaves
// a log) renamed over the log while a Writer runs. The Writer finishes
// that rotation (a file ending with audit_rotated is renamed before
// anything else) and must still find that its own lines are gone.
func TestAnotherLogEndingWithARotationPutInPlaceIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	opts := Options{MaxSize: 2 << 10}
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openRotating(t, path, k, opts)
	logN(t, w, 3)
	waitReleased(t, w)
	other := filepath.Join(t.TempDir(), "audit.log")
	o := openRotating(t, other, k, opts)
	logN(t, o, 40)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	files := rotated(t, other)
	if len(files) < 2 {
		t.Fatalf("%d rotated files of the other log, want several", len(files))
	}
	if err := os.Rename(files[len(files)-1], path); err != nil {
		t.Fatal(err)
	}
	w.commitMu.Lock()
	w.pathEvery = 0
	w.commitMu.Unlock()
	logN(t, w, 1)
	gaps := 0
	for _, f := range append(rotated(t, path), path) {
		gaps += len(gapLines(t, f))
	}
	if gaps == 0 {
		t.Fatal("no audit_gap written: the Writer's lines are gone without a trace")
	}
	_, err := VerifySet(path, k)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("VerifySet = %v, want an error", err)
	}
	t.Logf("VerifySet: %v", err)
}
