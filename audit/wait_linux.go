package audit

import (
	"os"

	"golang.org/x/sys/unix"
)

// waitByte is the byte of the log whose open-file-description lock says
// that a writer waits for the file's flock: each waiter holds a read lock
// on it while it waits. It lies far beyond any log's end; the lock is
// advisory and touches no data.
const waitByte = 1 << 62

// waiting takes (on) or drops the read lock on waitByte of fd.
func waiting(fd int, on bool) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: waitByte, Len: 1}
	if on {
		lk.Type = unix.F_RDLCK
	}
	_ = unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk) // best effort: the holder then releases within holdMaxTicks
}

// othersWaiting reports whether another open file description of f (another
// process, or another Writer) waits for its flock.
func othersWaiting(f *os.File) bool {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: waitByte, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}
