// Package redistest runs a Redis server of a test's own: a redis-server
// process on a free loopback port, without persistence, in a temporary
// directory, killed when the test ends. Tests that change a server's role,
// ACL, password or configuration use it; the shared Redis the README's
// test command starts (127.0.0.1:6379) is never changed. A missing
// redis-server binary fails the test, never skips it.
package redistest

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds the wait for the server to answer a PING: a bound on
// a hang, not a speed.
const startTimeout = 10 * time.Second

// Start runs a redis-server for t on a free loopback port, with its
// files in a temporary directory, and returns its address (host:port).
func Start(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	Run(t, addr, t.TempDir())
	return addr
}

// Run runs a redis-server for t at addr (a loopback address) with its
// files in dir and the extra arguments given, and waits until it answers
// (LOADING counts as an answer: a server restarted over a large dump
// answers so first). stop kills it and waits for it; it is also killed
// when the test ends.
func Run(t testing.TB, addr, dir string, extra ...string) (stop func()) {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, extra...)
	cmd := exec.Command("redis-server", args...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (install it: apt-get install redis-server)", err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(20 * time.Millisecond) {
		if err := c.Ping(context.Background()).Err(); err == nil || redis.HasErrorPrefix(err, "LOADING") {
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start:\n%s", addr, out.String())
		}
	}
}

// lockedBuffer is the server's output, written by exec's copying
// goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
