package audit

import (
	"bytes"
	"encoding/json"
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

// TestAnotherWritersLargeTailIsNotReadBack: another writer (a CLI command,
// another gateway) appended 33 MiB to the log after this Writer's last
// line. The read back walked those lines from the tail (allocating and
// parsing up to 32 MiB under the file lock, in one append) and then, past
// its bound, took the tail as is. The Writer now finds its own line where
// it wrote it (the file it wrote it to, at the offset its newline ends
// at): the append reads that line, not what others wrote after it, and
// writes no gap.
func TestAnotherWritersLargeTailIsNotReadBack(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	a := openLog(t, path, k)
	logN(t, a, 1)
	waitReleased(t, a)
	b := openLog(t, path, k)
	var buf []byte
	seq, mac, now := b.seq, b.mac, time.Now()
	for len(buf) < maxTail+(1<<20) {
		seq++
		buf, mac = b.encode(buf, &line{Event: EventClientCreated, Actor: ActorSystem, Outcome: OutcomeOK}, seq, mac, now)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	buf = nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	logN(t, a, 1)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("the append allocated %d bytes: it read back through the other writer's lines", alloc)
	}
	tail, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(tail[len(tail)-4096:], []byte(`"event":"audit_gap"`)) {
		t.Fatal("audit_gap written")
	}
}

// TestReadBackThroughALongRecoveredLineIsLinear: 8 MiB appended without a
// newline (garbage, or a write cut short), recovered by another writer,
// lies between the Writer's last line and the tail. The line-by-line read
// back of an earlier version of this branch copied such a line once per
// 16 KiB chunk (about 2 GiB allocated for 8 MiB, under the file lock; a
// later one bounded it). The Writer now reads only its own line, where it
// wrote it: regression cover that an append past such a line allocates a
// bounded amount and writes no gap.
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

// TestALargeLogPutInPlaceIsAGap: another log under the same key put in
// place (TestAnotherLogPutInPlaceWhileRunningIsRecorded) holding more than
// the read back's 32 MiB after the Writer's last seq: the read back gave
// up ("cannot tell") and took the tail as is, so a production-sized log of
// another gateway renamed over this one hid the lines it had written. The
// Writer now remembers which file (its identity) and where (the offset
// its newline ends at) it wrote its last line, and goes back file by file
// (their first and last lines, and the links between them) to that file,
// whatever their sizes.
func TestALargeLogPutInPlaceIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 3)
	other := filepath.Join(t.TempDir(), "audit.log")
	o := openLog(t, other, k)
	logN(t, o, 1)
	var buf []byte
	seq, mac, now := o.seq, o.mac, time.Now()
	for len(buf) < maxTail+(1<<20) {
		seq++
		buf, mac = o.encode(buf, &line{Event: EventClientCreated, Actor: ActorSystem, Outcome: OutcomeOK}, seq, mac, now)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(other, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	w.pathEvery = 0
	logN(t, w, 1)
	tail, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := bytes.Split(tail[len(tail)-4096:], []byte{'\n'})
	var gap map[string]any
	if err := json.Unmarshal(last[len(last)-3], &gap); err != nil || gap["event"] != EventGap || gap["expected_seq"] != 3.0 {
		t.Fatalf("the line before the new one: %s, want audit_gap with expected_seq 3", last[len(last)-3])
	}
}

// TestACutCopyOfTheLogThatAnotherWriterContinuedIsAGap: the log copied to
// a new file without the Writer's last lines, put in place, and appended
// to by another writer (a CLI command) before the Writer's next line: the
// tail's seq is past the Writer's, so only the read back can tell. The
// copy is not the file the Writer wrote to, and starts before its line:
// an audit_gap (regression cover for the file-identity read back: the
// content walk before it found the other writer's line at the Writer's
// seq, with another mac, and said so too).
func TestACutCopyOfTheLogThatAnotherWriterContinuedIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 4)
	waitReleased(t, w)
	lines := readLines(t, path)
	tmp := filepath.Join(filepath.Dir(path), "copy")
	writeLines(t, tmp, lines[:2])
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	o := openLog(t, path, k)
	logN(t, o, 5)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	w.pathEvery = 0
	logN(t, w, 1)
	gaps := gapLines(t, path)
	if len(gaps) != 1 || gaps[0]["expected_seq"] != 4.0 {
		t.Fatalf("audit_gap lines %v, want one with expected_seq 4", gaps)
	}
}

// TestACutCopyOfARotatedLogIsAGap: as TestACutCopyOfTheLogThatAnother…,
// in a rotated log whose older files keep removed: the copy starts with
// the audit_continued line, so it chains to the rotated file before it,
// and going on back would end at a file keep removed ("cannot tell"). A
// file that starts at or before the Writer's line and is not the file it
// wrote it to is the gap (failed before the seq check: no gap line).
func TestACutCopyOfARotatedLogIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openRotating(t, path, k, Options{MaxSize: 2 << 10, Keep: 1})
	for len(rotated(t, path)) == 0 || len(validLines(t, rotated(t, path)[0])) == 0 ||
		validLines(t, rotated(t, path)[0])[0]["event"] != EventContinued {
		logN(t, w, 1)
	}
	logN(t, w, 1) // the current file: audit_continued, then lines
	logN(t, w, 2)
	waitReleased(t, w)
	lines := readLines(t, path)
	if len(lines) < 4 {
		t.Fatalf("the current file holds %d lines", len(lines))
	}
	written := w.written
	tmp := filepath.Join(filepath.Dir(path), "copy")
	writeLines(t, tmp, lines[:len(lines)-2])
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	o := openRotating(t, path, k, Options{})
	logN(t, o, 3)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	w.pathEvery = 0
	logN(t, w, 1)
	var gaps []map[string]any
	for _, p := range append(rotated(t, path), path) {
		gaps = append(gaps, gapLines(t, p)...)
	}
	if len(gaps) != 1 || gaps[0]["expected_seq"] != float64(written) {
		t.Fatalf("audit_gap lines %v, want one with expected_seq %d", gaps, written)
	}
}
