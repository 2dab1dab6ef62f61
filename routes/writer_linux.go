//go:build linux

package routes

import (
	"errors"
	"os"
	"syscall"
)

// openForWriting reports whether some process holds f's file open for
// writing: a read lease (fcntl F_SETLEASE) cannot be taken on such a file
// (EAGAIN). The lease, when taken, is given back at once. ok is false
// when it cannot be told: the gateway does not own the file (leases need
// its owner or CAP_LEASE), or its file system has no leases (NFS).
func openForWriting(f *os.File) (writing, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, false
	}
	var leaseErr error
	if err := rc.Control(func(fd uintptr) {
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETLEASE, syscall.F_RDLCK); e != 0 {
			leaseErr = e
			return
		}
		syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETLEASE, syscall.F_UNLCK)
	}); err != nil {
		return false, false
	}
	switch {
	case leaseErr == nil:
		return false, true
	case errors.Is(leaseErr, syscall.EAGAIN):
		return true, true
	}
	return false, false
}
