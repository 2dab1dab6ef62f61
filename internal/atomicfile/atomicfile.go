// Package atomicfile creates files whole or not at all: secrets such as the
// master key and the token signing key are written to a synced temporary
// file and linked into place only if the name is still free, so a crash
// never leaves half a key and two processes starting at once agree on one.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteNew creates path with data and mode perm. It fails with an error
// matching fs.ErrExist when path already exists (the caller then reads the
// file that won), and never replaces a file. The directory must exist.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: create %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after the link, or on failure
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	// A hard link succeeds only while path is free; rename would replace.
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("atomicfile: %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("atomicfile: install %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new entry durable where the file system allows
		_ = d.Close()
	}
	return nil
}
