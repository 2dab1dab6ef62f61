package boltstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// openFiles counts this process's descriptors open on path (/proc/self/fd).
func openFiles(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestOpenWaitingWhileTheFileIsReplacedOpensTheNewFile: `vault compact`
// holds the vault's lock while it writes the compacted copy, renames it
// over vault.db and lets the lock go. A gateway (or a CLI command)
// started meanwhile has opened the old file and waits for its lock: it
// got the lock on the old file, no longer in the directory, and served it;
// every write from then on went to a file that is gone once it stops
// (aliases made, clients created: lost). Open now checks, once it has the
// lock, that the file is still the one at the path, and opens again if not.
func TestOpenWaitingWhileTheFileIsReplacedOpensTheNewFile(t *testing.T) {
	path := newVaultFile(t)
	holder, err := bolt.Open(path, 0o600, nil) // the compaction's lock
	if err != nil {
		t.Fatal(err)
	}
	type opened struct {
		s   *boltstore.Store
		err error
	}
	done := make(chan opened, 1)
	go func() {
		s, err := boltstore.Open(path, boltstore.Options{Timeout: time.Minute})
		done <- opened{s, err}
	}()
	for openFiles(t, path) < 2 { // the second opener has the old file open and waits for its lock
		time.Sleep(5 * time.Millisecond)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".compact", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".compact", path); err != nil {
		t.Fatal(err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantWriteInTheFileAtPath(t, r.s, path)
}

// newVaultFile makes a vault file, closed, in a temporary directory and
// returns its path.
func newVaultFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantWriteInTheFileAtPath writes through s, closes it and checks that the
// write is in the vault file at path (not in a file replaced under s).
func wantWriteInTheFileAtPath(t *testing.T, s *boltstore.Store, path string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.PutMetaIfAbsent(ctx, "written-after-open", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetMeta(ctx, "written-after-open"); err != nil || string(v) != "kept" {
		t.Errorf("a write of the store is not in the vault file at the path (%q, %v): it went to a file replaced under it", v, err)
	}
}

// TestOpenChecksTheFileItOpenedNotTheNameTwice: Open compared the file at
// the path before the open with the file at the path once the lock was
// held, never the file bbolt had opened. When the path names, after the
// lock, a file with the inode number it named before the open, the check
// passed whatever was opened between: on ext4 a compaction's new file
// commonly gets the inode number of a file freed just before (A at the
// path, replaced by B, which is opened, then B replaced by a file given
// A's number). The rows reach that state deterministically: a hard link
// keeps A's inode, and the file is swapped around bbolt's own open. The
// store must serve the file at the path, whichever happened.
func TestOpenChecksTheFileItOpenedNotTheNameTwice(t *testing.T) {
	type swap func(t *testing.T, path string, open func() (*os.File, error)) (*os.File, error)
	// copyOf writes a copy of the vault file beside it (another inode).
	copyOf := func(t *testing.T, path, name string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(filepath.Dir(path), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rename := func(t *testing.T, from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		swap swap
	}{
		{"replaced before the open and put back after it (same inode at the path both times)", func(t *testing.T, path string, open func() (*os.File, error)) (*os.File, error) {
			a := filepath.Join(filepath.Dir(path), "a.keep")
			if err := os.Link(path, a); err != nil {
				t.Fatal(err)
			}
			rename(t, copyOf(t, path, "b.db"), path)
			f, err := open()
			rename(t, a, path)
			return f, err
		}},
		{"replaced after the open", func(t *testing.T, path string, open func() (*os.File, error)) (*os.File, error) {
			f, err := open()
			rename(t, copyOf(t, path, "c.db"), path)
			return f, err
		}},
		{"replaced before the open and after it", func(t *testing.T, path string, open func() (*os.File, error)) (*os.File, error) {
			rename(t, copyOf(t, path, "b.db"), path)
			f, err := open()
			rename(t, copyOf(t, path, "c.db"), path)
			return f, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newVaultFile(t)
			swapped := false
			s, err := boltstore.OpenWithOpenFile(path, boltstore.Options{}, func(name string, flag int, perm os.FileMode) (*os.File, error) {
				open := func() (*os.File, error) { return os.OpenFile(name, flag, perm) }
				if swapped {
					return open()
				}
				swapped = true
				return tc.swap(t, path, open)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !swapped {
				t.Fatal("the file was never opened through the test's function")
			}
			wantWriteInTheFileAtPath(t, s, path)
		})
	}
}
