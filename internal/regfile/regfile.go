// Package regfile reads files that must be regular files: a FIFO would
// block the open or the read for good (until some writer comes), and a
// device such as /dev/zero would feed the read without end. Such a file is
// refused at once (ErrNotRegular), and what is read is the regular file
// that was looked up. OpenFile opens a file to write (an audit log) under
// the same rule: lines appended to a link to /dev/null would be lost.
// Stamp tells, without reading it, whether a file has changed (for files
// the gateway reads again when they change: the routes file, the
// listeners' certificates).
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// ErrNotRegular is wrapped by the error of Open and Read for a path that
// is not a regular file (a FIFO, a device, a socket, a directory; a
// symbolic link is followed).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by Read's error for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// Open opens the regular file at path for reading and returns it with its
// information, read from the open file. The open does not block on a FIFO
// put in the file's place between the look-up and the open: it is opened
// non-blocking, then refused. The error wraps fs.ErrNotExist for a missing
// file and ErrNotRegular for one that is not a regular file.
func Open(path string) (*os.File, fs.FileInfo, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := Check(path, before); err != nil {
		return nil, nil, err
	}
	f, fi, err := open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	if !os.SameFile(before, fi) {
		f.Close()
		return nil, nil, fmt.Errorf("%s changed while it was opened", path)
	}
	return f, fi, nil
}

// OpenFile is os.OpenFile for a regular file (an audit log appended to,
// or read): a path that exists and is no regular file is refused without
// being opened (ErrNotRegular), and so is what was opened when it is none
// (put in place between the look-up and the open, which does not block
// on a FIFO). Unlike Open, the file opened may be another than the one
// looked up (a rotation renames files while they are opened): it is a
// regular file all the same. The error wraps fs.ErrNotExist for a missing
// file (without os.O_CREATE).
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, fs.FileInfo, error) {
	before, err := os.Stat(path)
	switch {
	case err == nil:
		if err := Check(path, before); err != nil {
			return nil, nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	return open(path, flag, perm)
}

// open opens path non-blocking and refuses what is no regular file.
func open(path string, flag int, perm os.FileMode) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := Check(path, fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Check returns an error wrapping ErrNotRegular, naming path and what it
// is, when fi is not a regular file's.
func Check(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kind(fi.Mode()))
}

// Read returns the content of the regular file at path, refusing one of
// more than limit bytes (ErrTooLarge) and one that is no regular file
// (ErrNotRegular).
func Read(path string, limit int64) ([]byte, error) {
	f, _, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadOpen(f, path, limit)
}

// ReadOpen reads f, opened by Open from path (or any file a command is
// given, /dev/stdin included), up to limit bytes (ErrTooLarge beyond).
func ReadOpen(f *os.File, path string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", path, ErrTooLarge, limit)
	}
	return b, nil
}

// kind names what a file that is not a regular file is.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// Stamp tells one version of a file from another without reading it: its
// modification time, its size, its mode and which file it is (device and
// inode, os.SameFile). Which file, so that a file swapped for another of
// the same size and time (a link moved to a sibling file, a file renamed
// into place, both out of one archive or copied with their times) is a
// change; the mode, so that a file refused for its mode (others may write
// it, others may read a key: secretfile) is read again once the chmod the
// refusal names is run, which changes nothing else.
type Stamp struct {
	mtime time.Time
	size  int64
	mode  fs.FileMode
	fi    fs.FileInfo // nil: the file could not be looked up
}

// StampOf returns the stamp of the file at path, links followed; the zero
// Stamp (OK false) when it cannot be looked up.
func StampOf(path string) Stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}
	}
	return Stamp{mtime: fi.ModTime(), size: fi.Size(), mode: fi.Mode(), fi: fi}
}

// OK reports whether the file could be looked up.
func (s Stamp) OK() bool { return s.fi != nil }

// Same reports whether s and o describe the same file alike (two stamps
// of no file are alike).
func (s Stamp) Same(o Stamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == nil && o.fi == nil
	}
	return s.mtime.Equal(o.mtime) && s.size == o.size && s.mode == o.mode && os.SameFile(s.fi, o.fi)
}
