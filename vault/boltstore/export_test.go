package boltstore

import "os"

// OpenWithOpenFile is Open with the function bbolt opens the vault file
// with, so a test can replace the file around the open.
func OpenWithOpenFile(path string, opts Options, openFile func(string, int, os.FileMode) (*os.File, error)) (*Store, error) {
	opts.openFile = openFile
	return Open(path, opts)
}
