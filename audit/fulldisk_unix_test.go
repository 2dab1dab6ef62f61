//go:build unix

package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFailingDiskFailsLog: a write that fails (a full disk) is an error
// for every caller, never a silent drop; the next append after the disk
// recovers repairs the torn tail. The disk fills as RLIMIT_FSIZE says (a
// write past it fails with EFBIG, the part before it written: a torn
// line), on a regular file: the log is never a device such as /dev/full
// (TestLogIntoNoRegularFileIsRefused).
func TestFailingDiskFailsLog(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 3)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Skip("RLIMIT_FSIZE:", err)
	}
	full := was
	full.Cur = uint64(fi.Size()) + 40 // room for part of a line
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Skip("RLIMIT_FSIZE:", err)
	}
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
			t.Fatal(err)
		}
	}
	defer restore()
	err = w.Log(context.Background(), Event{Event: EventReveal, Aliases: []string{"a"}})
	if err == nil || !strings.Contains(err.Error(), "audit: write") {
		t.Fatalf("Log on a full disk = %v, want a write error", err)
	}
	if w.Failures() != 1 {
		t.Fatalf("Failures = %d", w.Failures())
	}
	restore()
	logN(t, w, 1)
	res := mustVerify(t, path, k)
	if res.Recovered != 1 || res.Lines != 5 {
		t.Fatalf("Verify after the disk recovered = %+v, want 5 lines and the torn one recovered", res)
	}
}

// TestCheckSaysWhetherTheLogTakesLines: Check writes nothing while appends
// succeed; after one failed it fails while the disk is full, and once the
// disk has room it appends an audit_resumed line (nothing else would: a
// gateway found not ready gets no reveals) and answers nil, then nothing
// more. The log verifies, the torn line recovered.
func TestCheckSaysWhetherTheLogTakesLines(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k)
	logN(t, w, 2)
	ctx := context.Background()
	if err := w.Check(ctx); err != nil || w.Lines() != 2 {
		t.Fatalf("Check of a working log = %v, %d lines, want nil and no line", err, w.Lines())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Skip("RLIMIT_FSIZE:", err)
	}
	full := was
	full.Cur = uint64(fi.Size()) + 40
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Skip("RLIMIT_FSIZE:", err)
	}
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
			t.Fatal(err)
		}
	}
	defer restore()
	if err := w.Log(ctx, Event{Event: EventReveal, Aliases: []string{"a"}}); err == nil {
		t.Fatal("Log on a full disk succeeded")
	}
	if err := w.Check(ctx); err == nil || !strings.Contains(err.Error(), "audit: write") {
		t.Fatalf("Check on a full disk = %v, want the write error", err)
	}
	restore()
	if err := w.Check(ctx); err != nil {
		t.Fatalf("Check after the disk has room = %v", err)
	}
	lines := w.Lines()
	if err := w.Check(ctx); err != nil || w.Lines() != lines {
		t.Fatalf("Check of a recovered log = %v, lines %d then %d: want nil and no line", err, lines, w.Lines())
	}
	res := mustVerify(t, path, k)
	if res.Recovered != 1 || res.LastEvent != EventResumed {
		t.Fatalf("Verify after recovery = %+v, want the torn line recovered and audit_resumed last", res)
	}
}
