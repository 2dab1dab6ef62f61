package audit

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// openRotating opens a Writer with rotation options.
func openRotating(t *testing.T, path string, k Keys, opts Options) *Writer {
	t.Helper()
	opts.Logger = obstest.Logger(t)
	w, err := Open(path, k, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// rotated lists the rotated files of path, oldest first.
func rotated(t *testing.T, path string) []string {
	t.Helper()
	files, err := rotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out
}

// parsed reads a file's lines as JSON objects.
func parsed(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range readLines(t, path) {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: %q: %v", path, l, err)
		}
		out = append(out, m)
	}
	return out
}

func mustVerifySet(t *testing.T, path string, k Keys) SetResult {
	t.Helper()
	res, err := VerifySet(path, k)
	if err != nil {
		t.Fatalf("VerifySet: %v", err)
	}
	return res
}

// wantVerifyError checks that err is a *VerifyError of kind in file.
func wantVerifyError(t *testing.T, err error, file, kind string) *VerifyError {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Kind != kind || ve.File != file {
		t.Fatalf("error = %v, want %s in %s", err, kind, file)
	}
	return ve
}

// rotatedLog writes n reveal lines to a log rotated at 2 KiB and returns
// its path and rotated files.
func rotatedLog(t *testing.T, k Keys, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openRotating(t, path, k, Options{MaxSize: 2 << 10})
	logN(t, w, n)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, rotated(t, path)
}

// TestRotateBySize: a file that reached MaxSize is closed with an
// audit_rotated line naming its new name, renamed, and the chain goes on in
// a new file from an audit_continued line; the set verifies, and so does
// each file alone.
func TestRotateBySize(t *testing.T) {
	k := testKeys(t, 1)
	path, files := rotatedLog(t, k, 40)
	if len(files) < 3 {
		t.Fatalf("%d rotated files after 40 lines rotated at 2 KiB, want 3 or more", len(files))
	}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
		lines := parsed(t, f)
		last := lines[len(lines)-1]
		if last["event"] != EventRotated || last["file"] != filepath.Base(f) || last["reason"] != "size" {
			t.Errorf("%s ends with %v, want its audit_rotated line", f, last)
		}
		if seq, _ := parseRotatedName("audit.log", filepath.Base(f)); float64(seq) != last["seq"] {
			t.Errorf("%s: the name's seq is not the audit_rotated line's %v", f, last["seq"])
		}
		if first := lines[0]; i > 0 && (first["event"] != EventContinued || first["file"] != filepath.Base(files[i-1])) {
			t.Errorf("%s starts with %v, want audit_continued naming %s", f, first, filepath.Base(files[i-1]))
		}
		if i > 0 {
			if res := mustVerify(t, f, k); res.FirstSeq <= 1 {
				t.Errorf("VerifyFile of %s alone: FirstSeq %d", f, res.FirstSeq)
			}
			if res := mustVerifySet(t, f, k); res.FirstSeq <= 1 || res.RotationPending || len(res.Files) != 1 {
				t.Errorf("VerifySet of the rotated file %s = %+v", f, res)
			}
		}
	}
	if cur := parsed(t, path); cur[0]["event"] != EventContinued || cur[0]["file"] != filepath.Base(files[len(files)-1]) {
		t.Errorf("the current file starts with %v", cur[0])
	}
	res := mustVerifySet(t, path, k)
	if want := 40 + 2*len(files); res.Lines != want || len(res.Files) != len(files)+1 || res.FirstSeq != 1 || res.LastEvent != EventReveal {
		t.Fatalf("VerifySet = %+v, want %d lines in %d files from seq 1", res, want, len(files)+1)
	}
	// A Writer opened later continues the chain of the current file.
	w := openRotating(t, path, k, Options{MaxSize: 2 << 10})
	logN(t, w, 1)
	w.Close()
	if res := mustVerifySet(t, path, k); res.Lines < 41+2*len(files) {
		t.Fatalf("VerifySet after reopening = %+v", res)
	}
}

// TestRotateByAge: with an injected clock, the file rotates before the
// first append after MaxAge has passed since its first line.
func TestRotateByAge(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	w := openRotating(t, path, k, Options{MaxAge: time.Hour, Now: clock})
	logN(t, w, 2)
	advance(59 * time.Minute)
	logN(t, w, 1)
	if files := rotated(t, path); len(files) != 0 {
		t.Fatalf("rotated before MaxAge: %v", files)
	}
	advance(time.Minute)
	logN(t, w, 1)
	if w.Rotations() != 1 {
		t.Fatalf("Rotations = %d, want 1", w.Rotations())
	}
	files := rotated(t, path)
	if len(files) != 1 || filepath.Base(files[0]) != "audit.log.000000000004.20261205T000000Z" {
		t.Fatalf("rotated files %v, want audit.log.000000000004.20261205T000000Z", files)
	}
	old := parsed(t, files[0])
	if len(old) != 4 || old[3]["reason"] != "age" {
		t.Fatalf("rotated file %v, want 3 reveals and its audit_rotated line (reason age)", old)
	}
	if cur := parsed(t, path); len(cur) != 2 || cur[0]["event"] != EventContinued || cur[1]["seq"] != 6.0 {
		t.Fatalf("current file %v, want audit_continued and the reveal", cur)
	}
	// A Writer opened later reads the file's age from its first line.
	w.Close()
	advance(30 * time.Minute)
	w = openRotating(t, path, k, Options{MaxAge: time.Hour, Now: clock})
	logN(t, w, 1)
	if files := rotated(t, path); len(files) != 1 {
		t.Fatalf("rotated again 30 minutes into a new file: %v", files)
	}
	advance(31 * time.Minute)
	logN(t, w, 1)
	if files := rotated(t, path); len(files) != 2 {
		t.Fatalf("no rotation 61 minutes into the file: %v", files)
	}
	if res := mustVerifySet(t, path, k); res.Lines != 6+4 {
		t.Fatalf("VerifySet = %+v, want 10 lines", res)
	}
}

// TestVerifySetFindsBrokenSets: a missing middle file, an edited line in
// an old file, a rotated file cut short, renamed files, and a file of
// another log are each reported; removing the oldest files is not an error
// but shows in FirstSeq.
func TestVerifySetFindsBrokenSets(t *testing.T) {
	k := testKeys(t, 1)
	t.Run("missing middle file", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		os.Remove(files[1])
		_, err := VerifySet(path, k)
		ve := wantVerifyError(t, err, filepath.Base(files[2]), KindMissingFile)
		if !strings.Contains(ve.Detail, filepath.Base(files[1])) || !strings.Contains(ve.Detail, filepath.Base(files[0])) {
			t.Fatalf("detail %q does not name the missing file and the one before it", ve.Detail)
		}
	})
	t.Run("missing newest rotated file", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		os.Remove(files[len(files)-1])
		_, err := VerifySet(path, k)
		wantVerifyError(t, err, "audit.log", KindMissingFile)
	})
	t.Run("oldest files removed", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		os.Remove(files[0])
		os.Remove(files[1])
		res := mustVerifySet(t, path, k)
		if res.FirstSeq <= 1 || res.Files[0].Path != files[2] {
			t.Fatalf("VerifySet = %+v, want it to start at %s after seq 1", res, files[2])
		}
	})
	t.Run("edited line in an old file", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		lines := readLines(t, files[1])
		lines[2] = strings.Replace(lines[2], `"found":2`, `"found":1`, 1)
		writeLines(t, files[1], lines)
		_, err := VerifySet(path, k)
		if ve := wantVerifyError(t, err, filepath.Base(files[1]), KindEdited); ve.Line != 3 {
			t.Fatalf("error %v, want line 3", ve)
		}
	})
	t.Run("rotated file cut short", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		lines := readLines(t, files[0])
		writeLines(t, files[0], lines[:len(lines)-3]) // its last two lines (and the empty tail)
		_, err := VerifySet(path, k)
		wantVerifyError(t, err, filepath.Base(files[0]), KindTruncated)
	})
	t.Run("files renamed", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		tmp := files[0] + ".tmp"
		os.Rename(files[0], tmp)
		os.Rename(files[1], files[0])
		os.Rename(tmp, files[1])
		_, err := VerifySet(path, k)
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Kind != KindReordered {
			t.Fatalf("VerifySet of swapped files = %v, want reordered", err)
		}
	})
	t.Run("a file of another log", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		_, others := rotatedLog(t, k, 40) // same key, same seqs, another chain
		b, err := os.ReadFile(others[1])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(files[1], b, 0o600)
		_, err = VerifySet(path, k)
		wantVerifyError(t, err, filepath.Base(files[1]), KindReordered)
	})
	t.Run("lines after audit_rotated", func(t *testing.T) {
		path, files := rotatedLog(t, k, 40)
		cur := readLines(t, path)
		old := readLines(t, files[len(files)-1])
		writeLines(t, files[len(files)-1], append(old[:len(old)-1], cur[:2]...))
		_, err := VerifySet(path, k)
		wantVerifyError(t, err, filepath.Base(files[len(files)-1]), KindReordered)
	})
}

// TestRotationCrashes: a crash after the audit_rotated line but before the
// rename, after the rename but before the new file's first line, and in
// the middle of that line, are each finished or recovered by the next
// Writer, and the set verifies throughout.
func TestRotationCrashes(t *testing.T) {
	k := testKeys(t, 1)
	// crashAfterRename leaves a log whose last file was renamed and whose
	// new file does not exist yet: rotate is run by hand on an idle Writer.
	crashAfterRename := func(t *testing.T) (string, string) {
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
		files := rotated(t, path)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || len(files) != 1 {
			t.Fatalf("after the rename: %v, rotated %v", err, files)
		}
		return path, files[0]
	}
	reopen := func(t *testing.T, path string) {
		t.Helper()
		w := openRotating(t, path, k, Options{})
		logN(t, w, 1)
		w.Close()
	}
	t.Run("between the rename and the first line", func(t *testing.T) {
		path, old := crashAfterRename(t)
		if res := mustVerifySet(t, path, k); !res.CurrentMissing || res.Lines != 4 {
			t.Fatalf("VerifySet with no current file = %+v", res)
		}
		reopen(t, path)
		cur := parsed(t, path)
		if len(cur) != 2 || cur[0]["event"] != EventContinued || cur[0]["file"] != filepath.Base(old) || cur[0]["seq"] != 5.0 {
			t.Fatalf("new file %v, want audit_continued (seq 5) naming %s, then the reveal", cur, old)
		}
		if res := mustVerifySet(t, path, k); res.Lines != 6 || res.CurrentMissing {
			t.Fatalf("VerifySet = %+v", res)
		}
	})
	t.Run("between audit_rotated and the rename", func(t *testing.T) {
		path, old := crashAfterRename(t)
		if err := os.Rename(old, path); err != nil {
			t.Fatal(err)
		}
		if res := mustVerifySet(t, path, k); !res.RotationPending || res.LastEvent != EventRotated {
			t.Fatalf("VerifySet of an unfinished rotation = %+v", res)
		}
		reopen(t, path)
		if files := rotated(t, path); len(files) != 1 || files[0] != old {
			t.Fatalf("rotated files %v, want %s", files, old)
		}
		if res := mustVerifySet(t, path, k); res.Lines != 6 || res.RotationPending {
			t.Fatalf("VerifySet = %+v", res)
		}
	})
	t.Run("in the middle of the first line", func(t *testing.T) {
		path, _ := crashAfterRename(t)
		os.WriteFile(path, []byte(`{"seq":5,"time":"2026-12-`), 0o600)
		reopen(t, path)
		res := mustVerifySet(t, path, k)
		if res.Recovered != 1 || res.Lines != 7 {
			t.Fatalf("VerifySet = %+v, want 7 lines and 1 recovery", res)
		}
	})
}

// TestTwoWritersRotateOneChain: two Writers (a gateway and a CLI command)
// append to one log rotated every few lines: every rotation is followed by
// exactly one audit_continued line and the set is one chain.
func TestTwoWritersRotateOneChain(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	gw := openRotating(t, path, k, Options{MaxSize: 3 << 10, SyncInterval: time.Millisecond})
	cli := openRotating(t, path, k, Options{MaxSize: 3 << 10})
	var wg sync.WaitGroup
	for _, w := range []*Writer{gw, cli, gw, cli} {
		wg.Go(func() { logN(t, w, 40) })
	}
	// Verifying the set while it rotates sees one chain.
	stop := make(chan struct{})
	verified := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			select {
			case <-stop:
				verified <- nil
				return
			default:
			}
			_, err = VerifySet(path, k)
		}
		verified <- err
	}()
	wg.Wait()
	close(stop)
	if err := <-verified; err != nil {
		t.Errorf("VerifySet during rotations: %v", err)
	}
	gw.Close()
	cli.Close()
	files := rotated(t, path)
	if len(files) < 5 {
		t.Fatalf("%d rotations for 160 lines at 3 KiB", len(files))
	}
	res := mustVerifySet(t, path, k)
	if want := 160 + 2*len(files); res.Lines != want {
		t.Fatalf("VerifySet = %d lines, want %d (160 reveals, one audit_rotated and one audit_continued per rotation)", res.Lines, want)
	}
}

// TestKeepRemovesOldestFiles: with Keep, a rotation removes the oldest
// rotated files beyond it and names them in its audit_rotated line.
func TestKeepRemovesOldestFiles(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openRotating(t, path, k, Options{MaxSize: 2 << 10, Keep: 2})
	logN(t, w, 60)
	w.Close()
	files := rotated(t, path)
	if len(files) != 2 {
		t.Fatalf("rotated files %v, want 2", files)
	}
	last := parsed(t, files[1])
	if l := last[len(last)-1]; l["removed_files"] == nil {
		t.Fatalf("the last audit_rotated line %v names no removed file", l)
	}
	res := mustVerifySet(t, path, k)
	if res.FirstSeq <= 1 || len(res.Files) != 3 {
		t.Fatalf("VerifySet = %+v", res)
	}
}

// TestRotatedNames: only names of the form <base>.<seq>.<time> are
// rotated files of a log.
func TestRotatedNames(t *testing.T) {
	name := filepath.Base(RotatedName("/x/audit.log", 123, time.Date(2026, 12, 4, 23, 15, 0, 0, time.UTC)))
	if name != "audit.log.000000000123.20261204T231500Z" {
		t.Fatalf("RotatedName = %s", name)
	}
	for name, want := range map[string]bool{
		"audit.log.000000000123.20261204T231500Z":    true,
		"audit.log.123456789012345.20261204T231500Z": true,
		"audit.log.000000000123.20261204T231500Z.gz": false,
		"audit.log.123.20261204T231500Z":             false,
		"audit.log.00000000012x.20261204T231500Z":    false,
		"other.log.000000000123.20261204T231500Z":    false,
		"audit.log":              false,
		"audit.log.000000000123": false,
		"audit.log.000000000123.2026-12-04T23:15:00Z": false,
	} {
		if _, got := parseRotatedName("audit.log", name); got != want {
			t.Errorf("parseRotatedName(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestLogAfterOtherWriterRotated: a Writer whose file another Writer
// rotated meanwhile appends to the new file, never to the rotated one.
func TestLogAfterOtherWriterRotated(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	cli := openRotating(t, path, k, Options{})
	logN(t, cli, 1)
	gw := openRotating(t, path, k, Options{MaxSize: 1})
	logN(t, gw, 2) // rotates before each
	if err := cli.Log(context.Background(), Event{Event: EventClientCreated, Actor: ActorCLI, Client: "CLTx"}); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	gw.Close()
	cur := parsed(t, path)
	if l := cur[len(cur)-1]; l["event"] != EventClientCreated {
		t.Fatalf("the current file ends with %v, want the CLI's line", l)
	}
	if res := mustVerifySet(t, path, k); res.Lines != 4+2*2 {
		t.Fatalf("VerifySet = %+v", res)
	}
}

// TestPathLookedUpOnlyWhenDue: a Writer whose file is as it left it does
// not look the path up before each append; another Writer's append or
// rotation, and a removal of the file, are still seen at the next append.
func TestPathLookedUpOnlyWhenDue(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	gw := openRotating(t, path, k, Options{})
	gw.pathEvery = time.Hour
	base := gw.pathChecks.Load()
	logN(t, gw, 20)
	if n := gw.pathChecks.Load() - base; n != 0 {
		t.Fatalf("20 appends to an unchanged file looked the path up %d times, want 0", n)
	}

	t.Run("another writer appended", func(t *testing.T) {
		cli := openRotating(t, path, k, Options{})
		logN(t, cli, 1)
		cli.Close()
		base := gw.pathChecks.Load()
		logN(t, gw, 1)
		if n := gw.pathChecks.Load() - base; n != 1 {
			t.Fatalf("path lookups after another writer's append: %d, want 1", n)
		}
		if res := mustVerify(t, path, k); res.Lines != 22 {
			t.Fatalf("Verify = %+v, want 22 lines", res)
		}
	})

	t.Run("another writer rotated", func(t *testing.T) {
		rot := openRotating(t, path, k, Options{MaxSize: 1})
		logN(t, rot, 1) // rotates first
		rot.Close()
		logN(t, gw, 1)
		cur := parsed(t, path)
		if len(cur) != 3 || cur[0]["event"] != EventContinued || cur[2]["event"] != EventReveal {
			t.Fatalf("the new file holds %v, want audit_continued, the other writer's line and this one", cur)
		}
		if res := mustVerifySet(t, path, k); res.Lines != 26 {
			t.Fatalf("VerifySet = %+v, want 26 lines", res)
		}
	})

	t.Run("the file was removed", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		logN(t, gw, 1)
		// The new file continues from the newest rotated one and records
		// the lines that went with the removed file.
		cur := parsed(t, path)
		if len(cur) != 3 || cur[0]["event"] != EventContinued || cur[1]["event"] != EventGap || cur[2]["event"] != EventReveal {
			t.Fatalf("the file after the removal holds %v, want audit_continued, audit_gap and the reveal", cur)
		}
	})
}

// TestMovedFileIsLeftWithinPathEvery: an operator's mv of the log, which
// changes neither the open file's size nor its link count, is seen once
// the path check is due; until then lines go to the moved file, chained.
func TestMovedFileIsLeftWithinPathEvery(t *testing.T) {
	k := testKeys(t, 1)
	dir := t.TempDir()
	path, moved := filepath.Join(dir, "audit.log"), filepath.Join(dir, "moved.log")
	w := openRotating(t, path, k, Options{})
	w.pathEvery = time.Hour
	logN(t, w, 2)
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	logN(t, w, 1)
	if res := mustVerify(t, moved, k); res.Lines != 3 {
		t.Fatalf("the moved file: Verify = %+v, want 3 lines", res)
	}
	w.pathEvery = 0 // the check is due
	logN(t, w, 1)
	w.Close()
	if res := mustVerify(t, moved, k); res.Lines != 3 {
		t.Fatalf("the moved file after the check: Verify = %+v, want 3 lines", res)
	}
	cur := parsed(t, path)
	if len(cur) != 2 || cur[0]["event"] != EventGap || cur[1]["event"] != EventReveal {
		t.Fatalf("the new file holds %v, want audit_gap and the reveal", cur)
	}
}

// TestVerifySetDuringTheFirstRotation: a first rotation that renames the
// log after VerifySet listed the (then no) rotated files left the current
// file missing with no rotated file listed, and VerifySet failed ("open
// audit.log: no such file or directory") instead of reading the set again,
// as it does when a later rotation races it (TestTwoWritersRotateOneChain
// failed so, now and then, on a loaded machine).
func TestVerifySetDuringTheFirstRotation(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openRotating(t, path, k, Options{MaxSize: 2 << 10})
	logN(t, w, 5)
	w.Close()
	// The list is read before the rotation; the rename (the first half of
	// a rotation) happens before the current file is opened.
	calls := 0
	list := func(p string) ([]rotatedFile, error) {
		calls++
		if calls == 1 {
			rs, err := rotatedFiles(p)
			if err != nil || len(rs) != 0 {
				t.Fatalf("before the rotation: %v %v", rs, err)
			}
			if err := os.Rename(p, p+".000000000005.20261207T035941Z"); err != nil {
				t.Fatal(err)
			}
			return rs, nil
		}
		return rotatedFiles(p)
	}
	_, stale, err := verifySetOnce(path, k, list)
	if err != nil || !stale {
		t.Fatalf("verifySetOnce across a first rotation: stale %v, err %v; want stale (read again)", stale, err)
	}
	// With no file at all, there is nothing to read again: an error.
	if err := os.Remove(path + ".000000000005.20261207T035941Z"); err != nil {
		t.Fatal(err)
	}
	if _, stale, err := verifySetOnce(path, k, rotatedFiles); stale || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("verifySetOnce with no log: stale %v, err %v; want ErrNotExist", stale, err)
	}
}
