package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reasons of an audit_rotated line.
const (
	rotateSize = "size"
	rotateAge  = "age"
)

// rotatedTime is the layout of the time in a rotated file's name.
const rotatedTime = "20060102T150405Z"

// RotatedName returns the name a log at path is renamed to when it is
// rotated with the audit_rotated line seq at t:
// <path>.<seq, 12 digits or more>.<UTC time, 20060102T150405Z>, so that the
// rotated files of a log sort in chain order.
func RotatedName(path string, seq uint64, t time.Time) string {
	return fmt.Sprintf("%s.%012d.%s", path, seq, t.UTC().Format(rotatedTime))
}

// rotatedFile is one rotated file of a log.
type rotatedFile struct {
	path string
	seq  uint64 // the seq of its audit_rotated line, from its name
}

// parseRotatedName returns the seq in the name of a rotated file of the
// log named base, and whether name is one.
func parseRotatedName(base, name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, base+".")
	if !ok {
		return 0, false
	}
	digits, stamp, ok := strings.Cut(rest, ".")
	if !ok || len(digits) < 12 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	if _, err := time.Parse(rotatedTime, stamp); err != nil {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// rotatedFiles lists the rotated files of the log at path, oldest first
// (by the seq in their names).
func rotatedFiles(path string) ([]rotatedFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list the rotated files of %s: %w", path, err)
	}
	var out []rotatedFile
	for _, e := range entries {
		if seq, ok := parseRotatedName(base, e.Name()); ok && e.Type().IsRegular() {
			out = append(out, rotatedFile{path: filepath.Join(dir, e.Name()), seq: seq})
		}
	}
	slices.SortFunc(out, func(a, b rotatedFile) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.path, b.path)
	})
	return out, nil
}

// lockCurrent takes the flock of w.f once it is the file at w.path and
// returns its size: when another Writer rotated the log (or a crash left no
// file), it opens the file now at w.path instead. One fstat of the open
// file tells whether the path must be looked up too (pathCheckDue); under
// a steady load it mostly need not, which saves a stat per commit. When
// the Writer kept the lock since its last append (hold), no other writer
// can have appended, rotated or started a rotation, but the fstat is still
// made before every append: something that takes no lock (an operator's
// cut, rm or foreign append) is found at the next line, as without the
// hold, and no line goes into a removed file (see Several writers in the
// package doc).
func (w *Writer) lockCurrent() (int64, error) {
	for range 16 {
		if !w.locked {
			waited, err := lockFile(w.f)
			if err != nil {
				return 0, fmt.Errorf("audit: lock %s: %w", w.path, err)
			}
			w.locked = true
			if waited {
				w.pauseHold() // another writer appends too: take turns
			}
		}
		size, links, err := fileState(w.f)
		if err != nil {
			w.unlock()
			return 0, fmt.Errorf("audit: stat %s: %w", w.path, err)
		}
		if !w.pathCheckDue(size, links) {
			return size, nil
		}
		current, err := w.isCurrent()
		if err != nil {
			w.unlock()
			return 0, err
		}
		if current {
			w.pathChecked = time.Now()
			return size, nil
		}
		w.unlock()
		if err := w.reopen(); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("audit: %s keeps being replaced; giving up", w.path)
}

// pathCheckEvery bounds how long lockCurrent goes without looking up the
// path while the open file is as this Writer left it.
const pathCheckEvery = 100 * time.Millisecond

// pathCheckDue reports whether lockCurrent must check that the open file
// (its size and link count: its fstat, taken under the lock) is still the
// one at w.path. It
// need not when the file is exactly as this Writer's last append left it
// (the same size), still has a name (its link count is not zero) and the
// path was checked less than w.pathEvery ago. What replaces the file:
//   - another Writer's rotation appends its audit_rotated line before the
//     rename (the size changed), and a crash's unfinished rotation is one
//     this Writer read (w.size is -1 until it is done);
//   - a removal, or a file renamed over the path, leaves the open file
//     without a name (a link count of zero);
//   - an operator's mv of the file, which changes neither, is seen within
//     w.pathEvery: the lines in between go to the moved file, whole and
//     chained, and the next file continues with an audit_gap line.
func (w *Writer) pathCheckDue(size int64, links uint64) bool {
	return size != w.size || w.size < 0 || links == 0 || time.Since(w.pathChecked) >= w.pathEvery
}

// isCurrent reports whether w.f is the file at w.path.
func (w *Writer) isCurrent() (bool, error) {
	w.pathChecks.Add(1)
	mine, err := w.f.Stat()
	if err != nil {
		return false, fmt.Errorf("audit: stat %s: %w", w.path, err)
	}
	onDisk, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: stat %s: %w", w.path, err)
	}
	return os.SameFile(mine, onDisk), nil
}

// reopen opens (creating it) the file at w.path in place of w.f.
func (w *Writer) reopen() error {
	f, fi, err := openLogFile(w.path)
	if err != nil {
		return err
	}
	w.syncMu.Lock()
	old, oldInfo := w.f, w.fInfo
	w.f, w.fInfo = f, fi
	w.syncMu.Unlock()
	if w.writtenIn != nil && os.SameFile(oldInfo, w.writtenIn) {
		w.dropWrittenFile()
		w.writtenF = old // holds the Writer's last line: kept for the read back (chainHolds)
	} else {
		old.Close() // renamed by the rotation, which fsynced it first
	}
	w.size, w.born = -1, time.Time{}
	return nil
}

// rotationDue returns why a file of size bytes must be rotated before the
// next lines, or "".
func (w *Writer) rotationDue(size int64, now time.Time) string {
	switch {
	case size == 0:
		return ""
	case w.maxSize > 0 && size >= w.maxSize:
		return rotateSize
	case w.maxAge > 0 && !w.born.IsZero() && now.Sub(w.born) >= w.maxAge:
		return rotateAge
	}
	return ""
}

// rotate closes the file (under its lock; size bytes) with an
// audit_rotated line after buf, fsyncs it and renames it (finishRotation).
func (w *Writer) rotate(buf []byte, size int64, reason string, now time.Time) error {
	older, err := rotatedFiles(w.path)
	if err != nil {
		return err
	}
	var removed []string
	if w.keep > 0 && len(older)+1 > w.keep {
		for _, r := range older[:len(older)+1-w.keep] {
			removed = append(removed, filepath.Base(r.path))
		}
	}
	seq := w.seq + 1
	l := line{Event: EventRotated, Actor: ActorSystem, File: filepath.Base(RotatedName(w.path, seq, now)), Reason: reason,
		Removed: removed, Outcome: OutcomeOK}
	buf, mac := w.encode(buf, &l, seq, w.mac, now)
	l.Seq = seq
	if w.every > 0 {
		if err := w.pendingSyncError(); err != nil {
			return err
		}
	}
	w.size = -1
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("audit: write %s: %w", w.path, err)
	}
	if err := w.fsync(); err != nil { // always, whatever SyncInterval: the file is closed for good
		return err
	}
	w.seq, w.mac, w.written, w.writtenMac = seq, mac, seq, mac
	w.writtenIn, w.writtenEnd, w.writtenLen = w.fInfo, size+int64(len(buf)), lastLineLen(buf)
	w.dropWrittenFile()
	return w.finishRotation(l)
}

// finishRotation renames the file, which ends with the audit_rotated line
// l, to the name l gives, fsyncs the directory and removes the files l
// names. The next append starts a new file with an audit_continued line.
func (w *Writer) finishRotation(l line) error {
	w.finish = nil
	base := filepath.Base(w.path)
	if _, ok := parseRotatedName(base, l.File); !ok || filepath.Base(l.File) != l.File {
		return fmt.Errorf("audit: the last line of %s is an audit_rotated line naming %q, which is not a rotated file of it", w.path, l.File)
	}
	dir := filepath.Dir(w.path)
	target := filepath.Join(dir, l.File)
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("audit: rotate %s: %s already exists; keep it as evidence and move it aside", w.path, target)
	}
	if err := os.Rename(w.path, target); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", w.path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("audit: rotate %s: fsync directory: %w", w.path, err)
	}
	w.rotations.Add(1)
	w.log.Info("audit: log rotated", "file", w.path, "rotated_to", target, "reason", l.Reason, "last_seq", l.Seq)
	for _, name := range l.Removed {
		if _, ok := parseRotatedName(base, name); !ok || filepath.Base(name) != name {
			continue // never anything but a rotated file of this log
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.log.Error("audit: could not remove an old rotated file (audit keep)", "file", name, "error", err.Error())
			continue
		}
		w.log.Info("audit: removed an old rotated file (audit keep)", "file", name)
	}
	if len(l.Removed) > 0 {
		if err := syncDir(dir); err != nil {
			w.log.Warn("audit: fsync of the log's directory failed", "file", w.path, "error", err.Error())
		}
	}
	return nil
}

// rotatedHead returns the name of the newest rotated file and its last
// line, the chain head of a new file; "" when there is none.
func (w *Writer) rotatedHead() (string, line, error) {
	files, err := rotatedFiles(w.path)
	if err != nil || len(files) == 0 {
		return "", line{}, err
	}
	newest := files[len(files)-1].path
	f, err := openRead(newest)
	if err != nil {
		return "", line{}, fmt.Errorf("audit: open the newest rotated file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", line{}, fmt.Errorf("audit: stat %s: %w", newest, err)
	}
	last, torn, err := readTail(f, fi.Size())
	if err != nil {
		return "", line{}, fmt.Errorf("audit: read the end of %s: %w", newest, err)
	}
	if last == nil || torn > 0 {
		return "", line{}, fmt.Errorf("audit: %s, the newest rotated file of %s, does not end with a whole line: "+
			"check the set with `aliasgate audit verify`, keep it as evidence and move it aside", newest, w.path)
	}
	l, err := w.keys.parse(last)
	if err != nil {
		return "", line{}, fmt.Errorf("audit: the last line of %s (the newest rotated file of %s) does not verify (%v): "+
			"the file was edited, or the master key is not this log's; check the set with `aliasgate audit verify`", newest, w.path, err)
	}
	return filepath.Base(newest), l, nil
}

// firstLineTime returns the time of the file's first line, or zero when it
// cannot be read.
func firstLineTime(f io.ReaderAt, size int64) time.Time {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 4<<10)
	b, err := br.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return time.Time{}
	}
	var l struct {
		Time time.Time `json:"time"`
	}
	// The time comes second, after the seq: a prefix of a long line holds it.
	if i := strings.Index(string(b), `,"event":`); i > 0 {
		b = append(b[:i:i], '}')
	}
	if json.Unmarshal(b, &l) != nil {
		return time.Time{}
	}
	return l.Time
}
