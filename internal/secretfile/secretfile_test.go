package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRead checks what Read refuses: a file others may read, write or
// execute, a missing file (os.ErrNotExist), a directory, an oversized
// file; and that it reads a file only its owner may use.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if b, err := Read(write("ok", 0o600, []byte("s3cret"))); err != nil || string(b) != "s3cret" {
		t.Fatalf("0600: %q, %v", b, err)
	}
	if b, err := Read(write("ro", 0o400, []byte("s3cret"))); err != nil || string(b) != "s3cret" {
		t.Fatalf("0400: %q, %v", b, err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601} {
		p := write("exposed", mode, []byte("s3cret"))
		_, err := Read(p)
		if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrExposed naming the fix", mode, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("mode %04o: the error holds the secret: %v", mode, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want os.ErrNotExist", err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(sub); err == nil {
		t.Error("a directory was read")
	}
	if _, err := Read(write("big", 0o600, make([]byte, maxSize+1))); err == nil {
		t.Error("an oversized file was read")
	}
}
