package audit

import (
	"path/filepath"
	"testing"
)

// TestOtherWritersRotationsPastKeepAreNoGap: two writers on one log with
// rotation and audit.keep (a gateway and CLI commands, or two gateways,
// which open it with the same options). While one is idle, the other
// appends enough to rotate several times, and keep removes the rotated
// file that holds the idle one's last line, as configured. The idle
// Writer's next append read back through the rotated files, found the one
// holding its last line gone and wrote an audit_gap: a tamper alarm for
// retention working as configured.
func TestOtherWritersRotationsPastKeepAreNoGap(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{MaxSize: 2 << 10, Keep: 1}
	a := openRotating(t, path, k, opts)
	logN(t, a, 2)
	waitReleased(t, a)
	b := openRotating(t, path, k, opts)
	logN(t, b, 60)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(rotated(t, path)); n != 1 {
		t.Fatalf("%d rotated files, want 1 (keep)", n)
	}
	logN(t, a, 1)
	for _, l := range parsed(t, path) {
		if l["event"] == EventGap {
			t.Fatalf("an audit_gap was written: %v", l)
		}
	}
	mustVerifySet(t, path, k)
}
