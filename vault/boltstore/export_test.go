package boltstore

import "os"

// OpenWithOpenFile is Open with the function bbolt opens the vault file
// with, so a test can replace the file around the open.
func OpenWithOpenFile(path string, opts Options, openFile func(string, int, os.FileMode) (*os.File, error)) (*Store, error) {
	opts.openFile = openFile
	return Open(path, opts)
}

// Stages of a cached look-up that reads the file, for OpenWithReadHook.
const (
	ReadBeforeTx        = int(beforeTx)
	ReadInTxBeforeCheck = int(inTxBeforeCheck)
	ReadInTxAfterCheck  = int(inTxAfterCheck)
)

// OpenWithReadHook is Open with a function called at each stage of a
// cached look-up that reads the file (after the cache was consulted,
// before the read transaction begins; in it, before and after the check
// that no write began since), so a test can commit a write there.
func OpenWithReadHook(path string, opts Options, inRead func(stage int)) (*Store, error) {
	opts.inRead = func(st readStage) { inRead(int(st)) }
	return Open(path, opts)
}
