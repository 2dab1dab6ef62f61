package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// TestArchivedRotatedFilesAreNoGap: two writers on one log (two gateways,
// or a gateway and CLI commands). While one is idle the other rotates the
// log several times, and the operator archives the oldest rotated files
// off the machine as SECURITY.md says to (copied elsewhere, removed from
// the data dir; `verify` accepts a set whose oldest files are gone): the
// file holding the idle Writer's last line among them.
func TestArchivedRotatedFilesAreNoGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{MaxSize: 2 << 10}
	a := openRotating(t, path, k, opts)
	logN(t, a, 2)
	waitReleased(t, a)
	b := openRotating(t, path, k, opts)
	logN(t, b, 40)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	files := rotated(t, path)
	if len(files) < 3 {
		t.Fatalf("%d rotated files, want several", len(files))
	}
	for _, f := range files[:1] {
		if err := os.Remove(f); err != nil { // archived: copied off the machine, then removed
			t.Fatal(err)
		}
	}
	logN(t, a, 1)
	for _, f := range append(rotated(t, path), path) {
		if gaps := gapLines(t, f); len(gaps) != 0 {
			t.Fatalf("audit_gap written after the operator archived the oldest rotated file: %v", gaps)
		}
	}
	mustVerifySet(t, path, k)
}

// TestARotatedFileRemovedFromTheMiddleIsAGap: the file holding an idle
// Writer's last line, rotated by another writer, removed while an older
// rotated file is left (not archiving, which removes the oldest first:
// `verify` reports the missing middle file). The Writer's next line is an
// audit_gap, although it still holds the file open
// (TestArchivedRotatedFilesAreNoGap).
func TestARotatedFileRemovedFromTheMiddleIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{MaxSize: 2 << 10}
	b := openRotating(t, path, k, opts)
	for len(rotated(t, path)) == 0 {
		logN(t, b, 1)
	}
	waitReleased(t, b)
	a := openRotating(t, path, k, opts)
	logN(t, a, 2)
	waitReleased(t, a)
	n := len(rotated(t, path))
	for len(rotated(t, path)) < n+3 {
		logN(t, b, 1)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	files := rotated(t, path)
	if err := os.Remove(files[n]); err != nil { // a's file: an older one is left
		t.Fatal(err)
	}
	logN(t, a, 1)
	gaps := 0
	for _, f := range append(rotated(t, path), path) {
		gaps += len(gapLines(t, f))
	}
	if gaps == 0 {
		t.Fatal("no audit_gap after a file was removed from the middle of the set")
	}
}
