package boltstore

import "os"

// OpenWithOpenFile is Open with the function bbolt opens the vault file
// with, so a test can replace the file around the open.
func OpenWithOpenFile(path string, opts Options, openFile func(string, int, os.FileMode) (*os.File, error)) (*Store, error) {
	opts.openFile = openFile
	return Open(path, opts)
}

// Stages of a cached look-up that reads the file and of a commit, for
// OpenWithHook.
const (
	ReadBeforeTx        = int(beforeTx)
	ReadInTxBeforeCheck = int(inTxBeforeCheck)
	ReadInTxAfterCheck  = int(inTxAfterCheck)
	WriteBegun          = int(writeBegun)
)

// OpenWithHook is Open with a function called at each stage of a cached
// look-up that reads the file (after the cache was consulted, before the
// read transaction begins; in it, before and after the check that no
// write began since) and of a commit (its generation moved, its
// transaction not begun), so a test can run a write or a read there.
func OpenWithHook(path string, opts Options, hook func(stage int)) (*Store, error) {
	opts.hook = func(st hookStage) { hook(int(st)) }
	return Open(path, opts)
}
