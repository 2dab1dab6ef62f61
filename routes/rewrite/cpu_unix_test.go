//go:build unix

package rewrite

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the test process has used. A
// benchmark's CPU time per operation depends far less than its wall time on
// other load sharing the machine, so ratios of it stay meaningful there.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
