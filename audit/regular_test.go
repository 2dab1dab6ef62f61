package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/regfile"
)

// replaceWithLink puts a symbolic link to target in place of path in one
// rename, as an attacker with write access to the log's directory would.
func replaceWithLink(t *testing.T, path, target string) {
	t.Helper()
	tmp := path + ".link"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestLogIntoNoRegularFileIsRefused: the log is appended to a regular file
// only. A link to /dev/null put in the log's place while a gateway runs
// swallowed every later line, its reveals answered (fail open) and nothing
// recorded until the background fsync (audit.fsync: interval, the default)
// failed on it, and a FIFO or a device at audit.path was opened as the log.
func TestLogIntoNoRegularFileIsRefused(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip("no", os.DevNull)
	}
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	// Interval mode, its fsync not due during the test.
	w, err := Open(path, k, Options{Logger: obstest.Logger(t), SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	logN(t, w, 2)
	replaceWithLink(t, path, os.DevNull)
	w.pathEvery = 0 // the link's target is looked up at the next line, not within 100 ms
	if err := w.Log(context.Background(), Event{Event: EventReveal, Actor: "route:checkout", Aliases: []string{fpeAlias}, Found: 1}); !errors.Is(err, regfile.ErrNotRegular) {
		t.Fatalf("Log into a link to %s = %v, want a refusal (not a regular file)", os.DevNull, err)
	}

	// At Open: a link to a device, a device, a FIFO.
	dir := t.TempDir()
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(os.DevNull, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, os.DevNull, fifo} {
		done := make(chan error, 1)
		go func() {
			w, err := Open(p, k, Options{})
			if err == nil {
				w.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, regfile.ErrNotRegular) {
				t.Errorf("Open(%s) = %v, want a refusal (not a regular file)", p, err)
			}
		case <-time.After(10 * time.Second): // a hang, not a speed
			t.Fatalf("Open(%s) blocked", p)
		}
	}
}

// TestVerifyRefusesNoRegularFile: verify reads regular files only. A link
// to /dev/null in the current file's place verified as an empty current
// file ("ok"), whatever the gateway had written, and a FIFO blocked verify
// until some process wrote to it.
func TestVerifyRefusesNoRegularFile(t *testing.T) {
	k := testKeys(t, 1)
	path, _ := rotatedLog(t, k, 40)
	replaceWithLink(t, path, os.DevNull)
	if _, err := VerifySet(path, k); !errors.Is(err, regfile.ErrNotRegular) {
		t.Errorf("VerifySet with the current file a link to %s = %v, want a refusal", os.DevNull, err)
	}
	fifo := filepath.Join(t.TempDir(), "audit.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, verify := range map[string]func() error{
		"VerifyFile": func() error { _, err := VerifyFile(fifo, k); return err },
		"VerifySet":  func() error { _, err := VerifySet(fifo, k); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- verify() }()
		select {
		case err := <-done:
			if !errors.Is(err, regfile.ErrNotRegular) {
				t.Errorf("%s of a FIFO = %v, want a refusal (not a regular file)", name, err)
			}
		case <-time.After(10 * time.Second): // a hang, not a speed
			t.Fatalf("%s of a FIFO blocked", name)
		}
	}
}

// TestOpenRefusesADirectory is regression cover (passed before): an
// audit.path that names a directory is refused at Open as no regular
// file, naming what it is, and verify refuses it the same way.
func TestOpenRefusesADirectory(t *testing.T) {
	k := testKeys(t, 1)
	dir := t.TempDir()
	w, err := Open(dir, k, Options{})
	if err == nil {
		w.Close()
	}
	if !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), "a directory") {
		t.Fatalf("Open(a directory) = %v, want a refusal naming a directory", err)
	}
	if _, err := VerifyFile(dir, k); !errors.Is(err, regfile.ErrNotRegular) {
		t.Fatalf("VerifyFile(a directory) = %v, want a refusal (not a regular file)", err)
	}
}
