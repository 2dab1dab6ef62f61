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
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
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
	if _, err := r.s.PutMetaIfAbsent(ctx, "written-after-open", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetMeta(ctx, "written-after-open"); err != nil || string(v) != "kept" {
		t.Errorf("a write of the store opened while the file was replaced is not in the vault file (%q, %v): it went to the replaced file", v, err)
	}
}
