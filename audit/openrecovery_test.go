package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestARecoveryAtOpenThenAnotherWritersLinesIsNoGap: a crash left a torn
// last line; a gateway's Open closes it (a newline and an audit_recovered
// line, and an audit_continued line when the file held no whole line after
// a rotation) and appends nothing else. Another process (a CLI command)
// then appends, and the gateway's next line reads back to the last line it
// wrote, the audit_recovered or audit_continued line of its Open. The
// Writer took what it wrote at Open (the newline that closes the torn line
// and, after a rotation, two lines) for one line, found no valid line there
// and wrote an audit_gap: a tamper alarm for a crash recovered as designed.
func TestARecoveryAtOpenThenAnotherWritersLinesIsNoGap(t *testing.T) {
	k := testKeys(t, 1)
	for _, tc := range []struct {
		name string
		opts Options
		tear func(t *testing.T, path string)
	}{
		{"torn last line", Options{}, func(t *testing.T, path string) {
			lines := readLines(t, path)
			writeLines(t, path, append(lines[:2:2], lines[2][:37]))
		}},
		{"torn first write after a rotation", Options{MaxSize: 1 << 10}, func(t *testing.T, path string) {
			if len(rotated(t, path)) == 0 {
				t.Fatal("no rotation")
			}
			if err := os.Truncate(path, 10); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			w := openRotating(t, path, k, tc.opts)
			logN(t, w, 12)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			tc.tear(t, path)
			a := openRotating(t, path, k, tc.opts) // recovers, appends no event
			waitReleased(t, a)
			if !strings.Contains(strings.Join(readLines(t, path), "\n"), `"event":"audit_recovered"`) {
				t.Fatal("Open wrote no audit_recovered line")
			}
			b := openRotating(t, path, k, tc.opts)
			logN(t, b, 1)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			logN(t, a, 1)
			if gaps := gapLines(t, path); len(gaps) != 0 {
				t.Fatalf("audit_gap written after a recovery and another writer's line: %v", gaps)
			}
			mustVerifySet(t, path, k)
		})
	}
}
