//go:build !unix

package audit

import "os"

// lockFile is a no-op where flock does not exist: only one process may
// append to a log at a time there.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}

// linkCount returns zero (unknown) where Stat_t is not available: the
// Writer then looks the path up before every append.
func linkCount(os.FileInfo) uint64 { return 0 }

// syncDir does nothing where directories cannot be fsynced.
func syncDir(string) error { return nil }
