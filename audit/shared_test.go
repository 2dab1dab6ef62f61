package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestOtherWritersRotationsPastKeepAreNoGap: two writers on one log with
// rotation and audit.keep (a gateway and CLI commands, or two gateways,
// which open it with the same options). While one is idle, the other
// appends enough to rotate several times, and keep removes the rotated
// file that holds the idle one's last line, as configured. The idle
// Writer's next append read back through the rotated files, found the one
// holding its last line gone and wrote an audit_gap: a tamper alarm for
// retention working as configured.
func TestOtherWritersRotationsPastKeepAreNoGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{MaxSize: 2 << 10, Keep: 1}
	a := openRotating(t, path, k, opts)
	logN(t, a, 2)
	waitReleased(t, a)
	b := openRotating(t, path, k, opts)
	logN(t, b, 60)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(rotated(t, path)); n != 1 {
		t.Fatalf("%d rotated files, want 1 (keep)", n)
	}
	logN(t, a, 1)
	for _, l := range parsed(t, path) {
		if l["event"] == EventGap {
			t.Fatalf("an audit_gap was written: %v", l)
		}
	}
	mustVerifySet(t, path, k)
}

// validLines returns the lines of the file at path that are JSON objects
// (a torn line recovered is not).
func validLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range readLines(t, path) {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// gapLines returns the audit_gap lines of the file at path.
func gapLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range validLines(t, path) {
		if l["event"] == EventGap {
			out = append(out, l)
		}
	}
	return out
}

// TestACopyOfTheWritersLastLineInAnotherLogIsAGap: another log under the
// same key (TestAnotherLogPutInPlaceWhileRunningIsRecorded) put in place
// with a verbatim copy of the Writer's last line spliced in where its seq
// falls. The read back looked for a line with the Writer's last seq and
// mac anywhere in the tail, found the copy, and wrote no gap: the lines
// the Writer wrote were gone without a gap line. It now follows the chain
// (each line's prev is the mac of the line before it, its seq one more),
// so the copy, which chains to neither neighbour, is not reached.
func TestACopyOfTheWritersLastLineInAnotherLogIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 3)
	mine := readLines(t, path)
	other := filepath.Join(t.TempDir(), "audit.log")
	o := openLog(t, other, k)
	logN(t, o, 10)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	theirs := readLines(t, other)
	forged := append(append(append([]string{}, theirs[:2]...), mine[2]), theirs[3:]...)
	tmp := filepath.Join(filepath.Dir(other), "forged")
	writeLines(t, tmp, forged)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	w.pathEvery = 0
	logN(t, w, 1)
	gaps := gapLines(t, path)
	if len(gaps) != 1 || gaps[0]["expected_seq"] != 3.0 {
		t.Fatalf("audit_gap lines %v, want one with expected_seq 3", gaps)
	}
}

// TestATornFirstLineAnotherWriterRecoveredIsNoGap: a crash tore the first
// write into a file a rotation started; the next writer ended it with an
// audit_recovered line and then the audit_continued line (in that order),
// and appended. A Writer whose last line is in the rotated file read back
// to the file's first valid line, the recovery, took a file that does not
// start with audit_continued for another chain and wrote an audit_gap
// while nothing was tampered with.
func TestATornFirstLineAnotherWriterRecoveredIsNoGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{MaxSize: 2 << 10}
	a := openRotating(t, path, k, opts)
	logN(t, a, 2)
	waitReleased(t, a)
	b := openRotating(t, path, k, opts)
	for len(rotated(t, path)) == 0 {
		logN(t, b, 1)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash: the new file's first write cut short.
	if err := os.Truncate(path, 10); err != nil {
		t.Fatal(err)
	}
	c := openRotating(t, path, k, opts)
	logN(t, c, 2)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if l := validLines(t, path); len(l) < 2 || l[0]["event"] != EventRecovered || l[1]["event"] != EventContinued {
		t.Fatalf("the file starts with %v, want audit_recovered then audit_continued", l[:min(2, len(l))])
	}
	a.pathEvery = 0
	logN(t, a, 1)
	if gaps := gapLines(t, path); len(gaps) != 0 {
		t.Fatalf("audit_gap written: %v", gaps)
	}
	mustVerifySet(t, path, k)
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestReadBackReadsEachByteOnce: the read back through another writer's
// lines reads what follows the Writer's last line once, a chunk at a time
// (the first version read windows doubling from 64 KiB and parsed the
// tail's lines again in each: about three times a 1 MiB tail, and every
// line's HMAC up to twice each). Regression cover for the cost bound of
// the new walk (no line is parsed twice either: the walk is one pass).
func TestReadBackReadsEachByteOnce(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	a := openLog(t, path, k)
	logN(t, a, 1)
	waitReleased(t, a)
	mine := int64(len(readLines(t, path)[0]) + 1)
	b := openLog(t, path, k)
	var buf []byte
	seq, mac, now := b.seq, b.mac, time.Now()
	for len(buf) < 1<<20 {
		seq++
		buf, mac = b.encode(buf, line{Event: EventClientCreated, Actor: ActorSystem, Outcome: OutcomeOK}, seq, mac, now)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cr := &countingReaderAt{r: r}
	a.commitMu.Lock()
	holds, err := a.chainThrough(cr, fi.Size(), &chainWalk{budget: maxTail, removed: map[string]bool{}})
	a.commitMu.Unlock()
	if err != nil || !holds {
		t.Fatalf("chainThrough = %v, %v; want the chain to hold", holds, err)
	}
	if after := fi.Size() - mine; cr.n > after+lineChunk {
		t.Fatalf("read %d bytes back for %d bytes after the Writer's line (chunk %d)", cr.n, after, lineChunk)
	}
}

// TestReadBackThroughALongRecoveredLineIsLinear: 8 MiB appended without a
// newline (garbage, or a write cut short), recovered by another writer,
// lies between the Writer's last line and the tail. The read back carries
// a line that spans its chunks from one read to the next; a chunk of fixed
// size copied the carried bytes once per chunk (about 2 GiB allocated for
// 8 MiB, under the file lock). Regression cover of eachLineBackward's
// doubling reads (the walk before ca03bb4 read windows doubling from 64 KiB).
func TestReadBackThroughALongRecoveredLineIsLinear(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	a := openLog(t, path, k)
	logN(t, a, 1)
	waitReleased(t, a)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	const long = 8 << 20
	if _, err := f.Write(bytes.Repeat([]byte{'x'}, long)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b := openLog(t, path, k)
	logN(t, b, 2)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	logN(t, a, 1)
	runtime.ReadMemStats(&after)
	if gaps := gapLines(t, path); len(gaps) != 0 {
		t.Fatalf("audit_gap written: %v", gaps)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*long {
		t.Fatalf("the append allocated %d bytes reading back through a %d-byte line", alloc, long)
	}
	if res := mustVerify(t, path, k); res.Recovered != 1 {
		t.Fatalf("Verify = %+v, want the torn line recovered", res)
	}
}
