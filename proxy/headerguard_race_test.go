package proxy

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closeRecorder is a net.Conn whose Close records whether the request its
// guard began last had taken its headers' wait as on time (started is
// that wait's start) when the connection was closed under it.
type closeRecorder struct {
	net.Conn
	g         *headerGuard
	wait      int64
	cutServed atomic.Bool
}

func (c *closeRecorder) Close() error {
	if c.g.state.Load() < 0 && c.g.started.Load() == c.wait {
		c.cutServed.Store(true)
	}
	return nil
}

// TestHeaderTimeoutDoesNotCutARequestItLetThrough: the tunnel's timer
// (guardedConn.watch) and the end of a request's headers (begin) race
// when the headers end at the deadline. Exactly one of them must win:
// either the wait expired, the connection is closed and the request is
// not served, or the request began and its connection is left alone.
// watch read the wait's start, then decided, then closed: a request
// whose headers ended in between was taken as on time (served, its call
// made) and its connection closed under it, the answer lost. The race
// is run many times; it failed before within a few thousand rounds.
func TestHeaderTimeoutDoesNotCutARequestItLetThrough(t *testing.T) {
	for i := 0; i < 20000; i++ {
		g := newHeaderGuard(0, time.Hour, 0)
		wait := time.Now().Add(-2 * time.Hour).UnixNano() // overdue
		g.since.Store(wait)
		rec := &closeRecorder{g: g, wait: wait}
		gc := newGuardedConn(rec, g)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); g.begin() }()
		go func() { defer wg.Done(); gc.watch() }()
		wg.Wait()
		gc.timer.Stop()
		if rec.cutServed.Load() {
			t.Fatalf("round %d: the header timeout closed the tunnel under a request whose headers it let through", i)
		}
	}
}

// TestReadTimeoutCutsOnlyTheRequestItJudged: the tunnel's timer
// (guardedConn.watch) judges the reading of a request's body by the start
// it read (headerGuard.body), then cuts the connection's reads. A request
// whose body read ended as the bound passed, and the request pipelined
// behind it (its headers in goproxy's buffer: begun at once), race it: the
// timer read the first body's start, the first request ended, the next
// began on time and started reading its body, then the timer cut the
// connection under it, 408 well within its bound. Exactly one must win: the
// timer takes the body it judged (a compare-and-swap) and the request
// begun after it is late (not served, the tunnel ends), or the body was
// read first and the next request, on time, is left alone. It failed
// before in most rounds (the next request began on time whenever the
// timer cut).
func TestReadTimeoutCutsOnlyTheRequestItJudged(t *testing.T) {
	for i := 0; i < 5000; i++ {
		g := newHeaderGuard(0, 0, time.Hour)
		g.since.Store(time.Now().Add(-2 * time.Hour).UnixNano()) // overdue
		n, _ := g.begin()
		first := g.reading()
		gc := newGuardedConn(nopConn{}, g)
		var late bool
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			g.read(first) // the first body read to its end
			g.end(n)
			_, late = g.begin() // pipelined: on time unless the tunnel ends
			g.reading()
		}()
		go func() { defer wg.Done(); gc.watch() }()
		wg.Wait()
		gc.timer.Stop()
		if gc.expired.Load() && !late {
			t.Fatalf("round %d: the read timeout cut the tunnel under a request begun on time after the body it judged", i)
		}
	}
}

// nopConn is a net.Conn that does nothing.
type nopConn struct{ net.Conn }

func (nopConn) Close() error                    { return nil }
func (nopConn) SetReadDeadline(time.Time) error { return nil }

// TestALateBodyCloseLeavesTheNextReadingBounded: a request body closed
// after its exchange ended (the transport may close a request's body once
// it stops writing it, after the answer went out) said "read" for
// whatever reading was under way: the next request's, whose body was then
// bounded by nothing but the idle timeout. A body now ends only its own
// reading. Unit level (the late Close is not staged through goproxy); it
// failed before, the old read clearing the next request's start.
func TestALateBodyCloseLeavesTheNextReadingBounded(t *testing.T) {
	g := newHeaderGuard(0, 0, time.Hour)
	n, _ := g.begin()
	first := &guardBody{ReadCloser: io.NopCloser(strings.NewReader("")), g: g}
	first.start = g.reading()
	g.end(n)
	g.since.Store(time.Now().UnixNano() + 1) // the next request's first byte
	g.begin()
	next := g.reading()
	_ = first.Close() // late
	if got := g.body.Load(); got != next || next == 0 {
		t.Fatalf("the next request's reading is %d after the request before closed its body, want %d", got, next)
	}
}
