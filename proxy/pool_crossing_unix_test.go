//go:build unix

package proxy

import "syscall"

// setReceiveBuffer sets the socket fd's receive buffer (SO_RCVBUF).
func setReceiveBuffer(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
