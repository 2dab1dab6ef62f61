//go:build unix

package routes

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRoutesFileThatIsNoRegularFileIsRefusedAtOnce: a routes_file that is
// a FIFO (or a link to one, or to a device such as /dev/zero) was read
// with os.ReadFile: the reload blocked for good (or read without end)
// holding the reloader's lock, so every later SIGHUP, file change and
// inspector apply waited behind it. Only a regular file is read now; the
// reload fails at once, the routes in force stay, and the file's return
// as a regular file is loaded.
func TestRoutesFileThatIsNoRegularFileIsRefusedAtOnce(t *testing.T) {
	path, table, r, _, m := newReloadFixture(t)
	r.poll()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, a reader blocked on the FIFO is let go at the end.
	t.Cleanup(func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	for _, target := range []string{fifo, "/dev/zero"} {
		os.Remove(path)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Reload() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second): // a guard against hanging the suite, not a timing assertion
			t.Fatalf("the reload of a routes file linked to %s never returned", target)
		}
		if !errors.Is(err, ErrNotRegularFile) {
			t.Errorf("reload of a link to %s: %v, want ErrNotRegularFile", target, err)
		}
		if n := len(table.Load().Routes); n != 1 {
			t.Fatalf("%d routes after reloading a link to %s", n, target)
		}
	}
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != 2 {
		t.Errorf("invalid reloads counted %v", v)
	}
	os.Remove(path)
	os.WriteFile(path, []byte(reloadDoc+"  - id: second\n    direction: outbound\n    host: api.psp.example\n"), 0o600)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := len(table.Load().Routes); n != 2 {
		t.Fatalf("the regular file was not loaded: %d routes", n)
	}
}
