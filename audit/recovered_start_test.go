package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLinesRemovedBeforeARecoveryAreFound: a log that recovered from a
// crash holds a torn line and its audit_recovered line in the middle.
// Removing every line before the torn one (and keeping the torn line, or
// any line of its length) left a file that verified: a recovery line was
// taken as the start of the file whatever its seq, as if a rotation had
// started the file, and `audit verify` said only that rotated files had
// been removed. A file starts after seq 1 only where a rotation started
// it, and then its audit_continued line follows (the recovery of a torn
// first line is written with it); anything else is lines removed.
func TestLinesRemovedBeforeARecoveryAreFound(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 4)
	w.Close()
	lines := readLines(t, path)
	writeLines(t, path, append(lines[:3:3], lines[3][:37])) // seq 4 torn by a crash
	w2 := openLog(t, path, k)
	logN(t, w2, 2)
	w2.Close()
	lines = readLines(t, path) // L1 L2 L3 torn R4 L5 L6 ""
	if res := mustVerify(t, path, k); res.Lines != 6 || res.Recovered != 1 {
		t.Fatalf("Verify = %+v, want 6 lines and a recovery", res)
	}

	for name, torn := range map[string]string{
		"the torn line kept":        lines[3],
		"a line of its length made": strings.Repeat("x", len(lines[3])-1) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			cut := filepath.Join(t.TempDir(), "audit.log")
			writeLines(t, cut, append([]string{torn}, lines[4:]...))
			_, err := VerifyFile(cut, k)
			ve := wantVerifyError(t, err, "", KindRemoved)
			if ve.Line != 2 || !strings.Contains(ve.Detail, "seq 1 to 3") {
				t.Fatalf("VerifyFile = %v, want the lines with seq 1 to 3 missing before line 2", ve)
			}
			_, err = VerifySet(cut, k)
			wantVerifyError(t, err, "audit.log", KindRemoved)
		})
	}
}

// TestATornFirstLineOfARotatedFileStillVerifies: the file a rotation
// started whose first line a crash tore starts with the torn line, its
// audit_recovered line and the audit_continued line: alone, and as the
// oldest file of a set whose older files were removed, it verifies from
// there (as a file starting with audit_continued does).
func TestATornFirstLineOfARotatedFileStillVerifies(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openRotating(t, path, k, Options{})
	logN(t, w, 3)
	w.commitMu.Lock()
	size, err := w.lockCurrent()
	if err != nil {
		t.Fatal(err)
	}
	err = w.rotate(nil, size, "size", time.Now().UTC())
	w.unlock()
	w.commitMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(path, []byte(`{"seq":5,"time":"2026-12-`), 0o600); err != nil {
		t.Fatal(err)
	}
	w = openRotating(t, path, k, Options{})
	logN(t, w, 2)
	w.Close()
	if cur := readLines(t, path); !strings.Contains(cur[1], `"event":"`+EventRecovered+`"`) || !strings.Contains(cur[2], `"event":"`+EventContinued+`"`) {
		t.Fatalf("the new file is %q", cur)
	}
	res, err := VerifyFile(path, k)
	if err != nil || res.FirstSeq != 5 || res.Recovered != 1 || res.Lines != 4 {
		t.Fatalf("VerifyFile = %+v, %v; want 4 lines from seq 5 and a recovery", res, err)
	}
	for _, f := range rotated(t, path) {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if set := mustVerifySet(t, path, k); set.FirstSeq != 5 || set.Lines != 4 {
		t.Fatalf("VerifySet without the rotated file = %+v", set)
	}
}
