//go:build !linux

package audit

import "os"

// waiting does nothing where open-file-description locks do not exist: a
// Writer keeping the lock releases it within holdMaxTicks.
func waiting(int, bool) {}

// othersWaiting reports no waiter where it cannot be known.
func othersWaiting(*os.File) bool { return false }
