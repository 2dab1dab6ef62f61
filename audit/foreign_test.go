package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAnotherLogPutInPlaceWhileRunningIsRecorded: a log of another
// gateway under the same master key (gateways of one PostgreSQL vault
// share it), further along its chain than this Writer, renamed over the
// log while the Writer runs: the Writer continued that chain as if another
// process had appended to its file, the lines it had written gone without
// a trace, and the file verified. Now an append checks that the chain it
// continues passes through its own last line, and records an audit_gap
// when it does not, in a file of the set or beyond a rotation alike.
func TestAnotherLogPutInPlaceWhileRunningIsRecorded(t *testing.T) {
	for _, rotating := range []bool{false, true} {
		name := map[bool]string{false: "one file", true: "rotated"}[rotating]
		t.Run(name, func(t *testing.T) {
			k := testKeys(t, 1)
			opts := Options{}
			if rotating {
				opts.MaxSize = 2 << 10
			}
			path := filepath.Join(t.TempDir(), "audit.log")
			w := openRotating(t, path, k, opts)
			logN(t, w, 3)
			other := filepath.Join(t.TempDir(), "audit.log")
			o := openRotating(t, other, k, opts)
			logN(t, o, 30)
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
			w.pathEvery = 0
			logN(t, w, 1)
			if !rotating {
				lines := parsed(t, path)
				if gap := lines[len(lines)-2]; gap["event"] != EventGap || gap["expected_seq"] != 3.0 {
					t.Fatalf("the line before the new one: %v, want audit_gap with expected_seq 3", gap)
				}
			}
			// (Rotating, the gap line may close a file the append rotated.)
			_, err := VerifySet(path, k)
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Kind != KindGap {
				t.Fatalf("VerifySet = %v, want a gap", err)
			}
		})
	}
}

// TestLongTornTailAfterAnotherWritersLinesIsRecovered: the read back
// through lines another process appended (TestAnotherLogPutInPlace…)
// meets a torn tail longer than its first window, without a newline: it
// reads on (the first version sliced an empty window's lines and
// panicked), the torn tail is recovered, and no gap is recorded.
func TestLongTornTailAfterAnotherWritersLinesIsRecovered(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 2)
	waitReleased(t, w)
	o := openLog(t, path, k)
	logN(t, o, 1)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{'x'}, 100<<10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	logN(t, w, 1)
	res := mustVerify(t, path, k)
	if res.Recovered != 1 || res.Lines != 5 {
		t.Fatalf("Verify = %+v, want 5 lines, the torn tail recovered", res)
	}
}
