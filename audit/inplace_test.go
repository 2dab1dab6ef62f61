package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTamperingInPlaceIsReported: the log rewritten in place (the same
// file, its inode kept: truncated and written again) while a Writer runs.
// Regression cover (passes before). Another gateway's log under the same
// key written over it is an audit_gap at the Writer's next line (its line
// is not at its offset); what keeps the Writer's last line where it wrote
// it (a line of another chain with a valid mac spliced in the middle, the
// Writer's own last line edited in place, same length) the Writer does not
// read on its hot path, and `verify` reports it.
func TestTamperingInPlaceIsReported(t *testing.T) {
	k := testKeys(t, 1)
	foreign := func(t *testing.T, n int) [][]byte {
		other := filepath.Join(t.TempDir(), "audit.log")
		o := openRotating(t, other, k, Options{})
		logN(t, o, n)
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(other)
		if err != nil {
			t.Fatal(err)
		}
		return splitLines(b)
	}
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, mine [][]byte) []byte
		others  int // lines another process appends after the tampering
		wantGap bool
	}{
		{"cut in place, then others append past the Writer's seq", func(t *testing.T, mine [][]byte) []byte {
			return bytes.Join(mine[:3], nil)
		}, 6, true},
		{"another log written over it", func(t *testing.T, _ [][]byte) []byte {
			return bytes.Join(foreign(t, 30), nil)
		}, 0, true},
		{"a line of another chain spliced in the middle", func(t *testing.T, mine [][]byte) []byte {
			f := foreign(t, 5)
			mine[2] = f[2] // same seq, valid mac, another chain
			return bytes.Join(mine, nil)
		}, 0, false},
		{"the Writer's last line edited in place", func(t *testing.T, mine [][]byte) []byte {
			last := mine[len(mine)-1]
			i := bytes.Index(last, []byte(`"route":"checkout"`))
			copy(last[i:], `"route":"checkoux"`)
			return bytes.Join(mine, nil)
		}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			w := openRotating(t, path, k, Options{})
			logN(t, w, 5)
			waitReleased(t, w)
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			mine := splitLines(b)
			if err := os.WriteFile(path, tc.tamper(t, mine), 0o600); err != nil { // in place: O_TRUNC
				t.Fatal(err)
			}
			if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) {
				t.Fatalf("the file was replaced, not rewritten in place (%v)", err)
			}
			if tc.others > 0 {
				o := openRotating(t, path, k, Options{})
				logN(t, o, tc.others)
				if err := o.Close(); err != nil {
					t.Fatal(err)
				}
			}
			logN(t, w, 1)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := len(gapLines(t, path)) > 0; got != tc.wantGap {
				t.Fatalf("audit_gap written: %v, want %v", got, tc.wantGap)
			}
			_, err = VerifyFile(path, k)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyFile = %v, want the tampering reported", err)
			}
			if tc.wantGap && ve.Kind != KindGap && !strings.Contains(err.Error(), "gap") {
				t.Fatalf("VerifyFile = %v, want a gap", err)
			}
			t.Logf("verify: %v", err)
		})
	}
}

// splitLines splits b after each newline (each line keeps its newline).
func splitLines(b []byte) [][]byte {
	out := bytes.SplitAfter(b, []byte("\n"))
	if len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	return out
}
