package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pgtest"
)

// Helpers for tests that run aliasgate as separate processes (several
// gateways on one shared vault, kill -9, vault copy interrupted), against
// the real PostgreSQL and Redis that scripts/test makes sure are running.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// aliasgateBinary builds the command once per test run (without -race: the
// processes under test are the product, the race detector runs in-process).
func aliasgateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "aliasgate-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "aliasgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// testPostgresURL is an empty database of the test's own (pgtest).
func testPostgresURL(t *testing.T) string { return pgtest.NewDatabase(t, "aliasgate_cmd") }

// testRedisURL is the Redis of ALIASGATE_TEST_REDIS_URL (default
// 127.0.0.1:6379, database 0). Volatile records expire by themselves.
func testRedisURL() string {
	if u := os.Getenv("ALIASGATE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newMasterKey returns a random master key for ALIASGATE_MASTER_KEY: every
// process of a test shares it, as gateways sharing a vault must.
func newMasterKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// childGateway is `aliasgate serve` in a process of its own.
type childGateway struct {
	cmd                      *exec.Cmd
	stderr                   *syncBuffer
	inbound, outbound, admin string
	done                     chan error
}

// startChild runs `aliasgate serve --config cfg` with the extra environment
// and waits for its three listeners.
func startChild(t *testing.T, cfg string, env ...string) *childGateway {
	t.Helper()
	g := &childGateway{stderr: &syncBuffer{}, done: make(chan error, 1)}
	g.cmd = exec.Command(aliasgateBinary(t), "serve", "--config", cfg)
	g.cmd.Env = append(os.Environ(), env...)
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(func() { g.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if g.inbound, g.outbound, g.admin = listeners(g.stderr.String()); g.admin != "" {
			return g
		}
		select {
		case err := <-g.done:
			g.done <- err
			t.Fatalf("serve exited early: %v\n%s", err, g.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not log its listeners:\n%s", g.stderr.String())
	return nil
}

// stop sends SIGTERM and waits for a clean exit; the log must hold no PAN.
func (g *childGateway) stop(t *testing.T) {
	t.Helper()
	if g.cmd.ProcessState != nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- err
		if err != nil {
			t.Errorf("serve exited with %v\n%s", err, g.stderr.String())
		}
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
		t.Errorf("serve did not stop within 15 s of SIGTERM")
	}
	obstest.AssertNoPAN(t, "gateway log", []byte(g.stderr.String()))
}
