package audit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLogrotateIsAGap pins the decision on external rotation tools
// (logrotate), which the log does not support (the package doc, Rotation):
// copytruncate copies the file and cuts it to nothing under the gateway,
// which is what cutting lines looks like, and create renames it and
// starts a new file, which is an operator's mv; both are an audit_gap at
// the gateway's next line, which `verify` reports. Regression cover
// (passes before).
func TestLogrotateIsAGap(t *testing.T) {
	k := testKeys(t, 1)
	for _, tc := range []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{"copytruncate", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"create", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			w := openRotating(t, path, k, Options{})
			logN(t, w, 3)
			waitReleased(t, w)
			tc.rotate(t, path)
			w.commitMu.Lock()
			w.pathEvery = 0 // the rename seen at once, not within 100 ms
			w.commitMu.Unlock()
			logN(t, w, 1)
			if gaps := gapLines(t, path); len(gaps) != 1 || gaps[0]["expected_seq"] != 3.0 {
				t.Fatalf("audit_gap lines %v, want one expecting seq 3", gaps)
			}
			_, err := VerifySet(path, k)
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Kind != KindGap {
				t.Fatalf("VerifySet = %v, want a gap", err)
			}
			mustVerify(t, path+".1", k) // the lines moved away are whole and chained
		})
	}
}
