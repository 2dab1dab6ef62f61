//go:build unix

package inspector

import (
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRoutesFileThatIsNoRegularFileAnswersAtOnce: with a routes_file that
// is a FIFO, the routes view and an apply read it with os.ReadFile and
// blocked for good (an apply holding the inspector's apply lock, so every
// later apply waited too). Only a regular file is read: both answer at
// once, 500, and the FIFO is neither written over nor backed up.
func TestRoutesFileThatIsNoRegularFileAnswersAtOnce(t *testing.T) {
	f := newFixture(t, false)
	os.Remove(f.file)
	if err := syscall.Mkfifo(f.file, 0o600); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, a reader blocked on the FIFO is let go at the end.
	t.Cleanup(func() {
		if w, err := os.OpenFile(f.file, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	type answer struct {
		status int
		body   string
	}
	ask := func(method, path string, body any) answer {
		done := make(chan answer, 1)
		go func() {
			res, b := f.do(t, nil, method, path, body, bearer)
			done <- answer{res.StatusCode, string(b)}
		}()
		select {
		case a := <-done:
			return a
		case <-time.After(30 * time.Second): // a guard against hanging the suite, not a timing assertion
			t.Fatalf("%s %s never answered", method, path)
			return answer{}
		}
	}
	if a := ask("GET", "/ui/api/routes", nil); a.status != http.StatusInternalServerError {
		t.Errorf("routes view: %d %s", a.status, a.body)
	}
	if a := ask("POST", "/ui/api/apply", map[string]any{"yaml": shopRoutes}); a.status != http.StatusInternalServerError {
		t.Errorf("apply: %d %s", a.status, a.body)
	}
	if fi, err := os.Lstat(f.file); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi, err)
	}
	if _, err := os.Lstat(f.file + ".bak"); err == nil {
		t.Error("a backup was written")
	}
}
