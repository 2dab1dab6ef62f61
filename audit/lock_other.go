//go:build !unix

package audit

import "os"

// lockFile is a no-op where flock does not exist: only one process may
// append to a log at a time there.
func lockFile(*os.File) (waited bool, err error) { return false, nil }

func unlockFile(*os.File) {}

// fileState returns f's size and zero links (unknown) where Stat_t is not
// available: the Writer then looks the path up before every append.
func fileState(f *os.File) (size int64, links uint64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), 0, nil
}

// syncDir does nothing where directories cannot be fsynced.
func syncDir(string) error { return nil }
