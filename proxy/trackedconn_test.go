package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestExtendSetsDeadlinesSparingly: extend sets a deadline no earlier than
// now+d, and sets it again only once the one it set is closer than that or
// someone else set one (until reset to zero).
func TestExtendSetsDeadlinesSparingly(t *testing.T) {
	const d = time.Hour
	var until atomic.Int64
	var sets []time.Time
	set := func(t time.Time) error { sets = append(sets, t); return nil }
	before := time.Now()
	for range 100 {
		extend(time.Now(), &until, d, set)
	}
	if len(sets) != 1 {
		t.Fatalf("100 touches within a moment set the deadline %d times, want 1", len(sets))
	}
	if got := sets[0]; got.Before(before.Add(d)) || got.After(time.Now().Add(d+d/16)) {
		t.Fatalf("deadline %s, want between now+%s and now+%s", got, d, d+d/16)
	}
	until.Store(0) // someone else set a deadline
	extend(time.Now(), &until, d, set)
	if len(sets) != 2 {
		t.Fatalf("after a foreign deadline: %d sets, want 2", len(sets))
	}
	until.Store(time.Now().Add(d - time.Second).UnixNano()) // closer than now+d
	extend(time.Now(), &until, d, set)
	if len(sets) != 3 {
		t.Fatalf("with a deadline closer than now+d: %d sets, want 3", len(sets))
	}
}

// TestTrackedConnRestoresIdleDeadline: a deadline cleared through the
// conn (as TLS and goproxy do after a handshake) does not leave a tunnel
// without its idle timeout: the next read sets it again.
func TestTrackedConnRestoresIdleDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	defer server.Close()

	tc := &trackedConn{Conn: server, idle: 200 * time.Millisecond}
	tc.touch(time.Now())
	if err := tc.SetDeadline(time.Time{}); err != nil { // cleared, as after a handshake
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tc.Read(make([]byte, 1)) // the client never writes
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want the idle deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read on a conn whose deadline was cleared never timed out")
	}
}

// TestTrackedConnWriteMovesBothDeadlines: a write moves the idle (read)
// and the write deadline, from one reading of the clock; a read moves only
// the idle one; a conn with neither timeout sets none.
func TestTrackedConnWriteMovesBothDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	tc := &trackedConn{Conn: a, idle: time.Hour, write: 2 * time.Hour}
	before := time.Now()
	if _, err := tc.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	r, w := tc.readUntil.Load(), tc.writeUntil.Load()
	if r < before.Add(time.Hour).UnixNano() || w < before.Add(2*time.Hour).UnixNano() {
		t.Fatalf("after a write: read deadline %d, write deadline %d, want past now+idle and now+write", r, w)
	}
	if w-r != (2*time.Hour + 2*time.Hour/16 - (time.Hour + time.Hour/16)).Nanoseconds() {
		t.Fatalf("the two deadlines are %d apart: not from one reading of the clock", w-r)
	}
	none := &trackedConn{Conn: a}
	if _, err := none.Write([]byte("x")); err != nil || none.readUntil.Load() != 0 || none.writeUntil.Load() != 0 {
		t.Fatalf("a conn without timeouts set a deadline (err %v)", err)
	}
}
