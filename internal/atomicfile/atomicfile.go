// Package atomicfile writes files whole or not at all: secrets such as the
// master key and the CA key are written to a synced temporary
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
	return write(path, data, perm, func(tmp, path string) error {
		// A hard link succeeds only while path is free; rename would replace.
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("atomicfile: %s: %w", path, fs.ErrExist)
			}
			return fmt.Errorf("atomicfile: install %s: %w", path, err)
		}
		return nil
	})
}

// Write replaces path (or creates it) with data and mode perm: a reader
// sees the old content or the new, never a mix, and after a crash the file
// holds one of them. The directory must exist.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, func(tmp, path string) error {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("atomicfile: install %s: %w", path, err)
		}
		return nil
	})
}

// write puts data in a synced temporary file next to path, installs it
// with install, and syncs the directory.
func write(path string, data []byte, perm os.FileMode, install func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: create %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after a link, or on failure; gone after a rename
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
	if err := install(name, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new entry durable where the file system allows
		_ = d.Close()
	}
	return nil
}
