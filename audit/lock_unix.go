//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, waiting for other processes'
// appends (a CLI command writing to the gateway's log) to finish.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// linkCount returns the number of names of the file fi describes: zero
// once it was removed, or another file was renamed over its name.
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}

// syncDir fsyncs a directory, making a rename or a new file in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
