//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, waiting for other processes'
// appends (a CLI command writing to the gateway's log) to finish; waited
// says it had to. A caller that must wait says so while it waits
// (waiting), so that a Writer keeping the lock between its commits lets it
// in (othersWaiting).
func lockFile(f *os.File) (waited bool, err error) {
	fd := int(f.Fd())
	err = flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if err != syscall.EWOULDBLOCK {
		return false, err
	}
	waiting(fd, true)
	defer waiting(fd, false)
	return true, flock(fd, syscall.LOCK_EX)
}

// flock is syscall.Flock, retried when a signal interrupts it.
func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// fileState returns the size of f and its number of names (zero once it
// was removed, or another file was renamed over its name), from one fstat
// into a Stat_t on the stack: f.Stat allocates a FileInfo, once per commit.
func fileState(f *os.File) (size int64, links uint64, err error) {
	var st syscall.Stat_t
	for {
		err = syscall.Fstat(int(f.Fd()), &st)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return st.Size, uint64(st.Nlink), nil
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
