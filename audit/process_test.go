//go:build unix

package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv names the log a helper process (this test binary run again,
// TestHelperWriterProcess) appends to.
const helperEnv = "AUDIT_TEST_HELPER_LOG"

// helperRotateEnv, set, makes the helper rotate the log at 3 KiB.
const helperRotateEnv = "AUDIT_TEST_HELPER_ROTATE"

// TestHelperWriterProcess is not a test: run by startWriterProcess, it
// opens the log named by helperEnv and appends reveal lines as fast as it
// can, with four goroutines (so that its Writer keeps the file lock between
// its appends), printing "ready" once it has written some, until it is
// killed.
func TestHelperWriterProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("a helper process of the tests below")
	}
	k, err := DeriveKeys(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var opts Options
	if os.Getenv(helperRotateEnv) != "" {
		opts.MaxSize = 3 << 10
	}
	w, err := Open(path, k, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		go func() {
			for {
				if err := w.Log(context.Background(), Event{Event: EventReveal, Actor: "route:helper", Aliases: []string{fpeAlias}, Found: 1}); err != nil {
					os.Exit(3)
				}
			}
		}()
	}
	for w.Lines() < 50 {
		time.Sleep(time.Millisecond)
	}
	os.Stdout.WriteString("ready\n")
	select {} // until killed
}

// startWriterProcess starts a process appending to path under load, and
// returns once it has appended lines; the test kills it at the end.
func startWriterProcess(t *testing.T, path string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriterProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+path), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the writer process did not start")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the writer process wrote nothing in 30 s")
	}
	return cmd
}

// TestWriterProcessesShareTheLockAndSurviveAKill: another process appending
// to the log under a steady load keeps the file lock between its appends,
// yet a Writer of this process gets each of its lines in within a bound;
// when that process is killed (SIGKILL, at any point: while it keeps the
// lock, or inside an append), its lock goes with it, this Writer goes on
// appending at once, and the two processes' lines form one chain that
// verifies (a line cut by the kill is recovered).
func TestWriterProcessesShareTheLockAndSurviveAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	cmd := startWriterProcess(t, path)
	w := openLog(t, path, k)
	const bound = time.Second // as TestKeptLockLetsAnotherWriterIn
	var worst time.Duration
	logTimed := func(what string) {
		t.Helper()
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			done <- w.Log(context.Background(), Event{Event: EventClientCreated, Actor: ActorCLI, Client: "CLTx"})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second): // starved (the cleanup's kill lets the Log end)
			t.Fatalf("%s: still waiting for the lock after 10 s", what)
		}
		d := time.Since(start)
		if d > bound {
			t.Errorf("%s waited %v for the lock, want at most %v", what, d, bound)
		}
		worst = max(worst, d)
	}
	for range 20 {
		logTimed("a line beside the loaded process")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for range 5 {
		logTimed("a line after the process was killed")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := mustVerify(t, path, k)
	if res.Lines < 50+25 {
		t.Fatalf("Verify = %+v, want the lines of both processes", res)
	}
	if n := strings.Count(strings.Join(readLines(t, path), ""), `"event":"client_created"`); n != 25 {
		t.Fatalf("%d lines of this process in the log, want 25", n)
	}
	t.Logf("verified %d lines (%d recovered); the slowest line of this process waited %v", res.Lines, res.Recovered, worst)
}

// TestCloseReleasesTheKeptLock: a Writer closed while it keeps the file
// lock (just after an append, within holdTick) releases it at Close, so
// another process locks the file at once; the hold timer, which may fire
// during or after Close, touches nothing closed (-race) and the closed
// Writer refuses further lines.
func TestCloseReleasesTheKeptLock(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := range 30 {
		w, err := Open(path, k, Options{})
		if err != nil {
			t.Fatal(err)
		}
		logN(t, w, 2)
		if i%2 == 1 {
			time.Sleep(time.Duration(i%5) * holdTick / 2) // Close around the hold timer's tick
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatalf("round %d: the file is still locked after Close: %v", i, err)
		}
		f.Close()
		if err := w.Log(context.Background(), Event{Event: EventReveal, Actor: "route:x"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Log after Close = %v", err)
		}
	}
	time.Sleep(4 * holdTick) // any timer left fires now, under -race
	if res := mustVerify(t, path, k); res.Lines != 60 {
		t.Fatalf("Verify = %+v, want 60 lines", res)
	}
}

// TestWriterProcessesRotateOneChain: two processes, each keeping the file
// lock between its appends and rotating the log at 3 KiB, with the other
// process killed in the middle: the rotated files and the log verify as
// one chain holding every line this process wrote.
func TestWriterProcessesRotateOneChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	cmd := startWriterProcess(t, path, helperRotateEnv+"=1")
	w := openRotating(t, path, k, Options{MaxSize: 3 << 10})
	const mine = 60
	for i := range mine {
		if err := w.Log(context.Background(), Event{Event: EventClientCreated, Actor: ActorCLI, Client: "CLTx"}); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if i == mine/2 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := rotated(t, path)
	if len(files) < 3 {
		t.Fatalf("%d rotations, want several", len(files))
	}
	res := mustVerifySet(t, path, k)
	n := 0
	for _, f := range append(files, path) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), `"event":"client_created"`)
	}
	if n != mine {
		t.Fatalf("%d lines of this process in the set, want %d", n, mine)
	}
	t.Logf("%d files, %d lines verified (%d recovered)", len(files)+1, res.Lines, res.Recovered)
}
