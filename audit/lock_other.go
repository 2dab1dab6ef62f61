//go:build !unix

package audit

import "os"

// lockFile is a no-op where flock does not exist: only one process may
// append to a log at a time there.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}

// syncDir does nothing where directories cannot be fsynced.
func syncDir(string) error { return nil }
