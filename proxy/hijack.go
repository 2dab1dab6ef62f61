package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connSet holds a proxy's hijacked connections (CONNECT tunnels and their
// destinations, upgraded WebSocket connections), which http.Server's
// timeouts and Shutdown no longer see once a handler took them over: each
// gets the idle and write deadlines of a trackedConn, and close closes
// them all. The zero value with idle and write set is ready for use.
type connSet struct {
	// idle closes a connection after this long without a byte read or
	// written (at most 1/16 later, see extend); write bounds each write
	// the same way. 0: no limit.
	idle, write time.Duration

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

// errShuttingDown is trackingWriter's Hijack error once the set is closed.
var errShuttingDown = errors.New("proxy: shutting down")

// track puts c in the set, with the set's deadlines; it returns false (and
// closes c) once the set is closed.
func (s *connSet) track(c net.Conn) (net.Conn, bool) {
	tc := &trackedConn{Conn: c, set: s, idle: s.idle, write: s.write}
	tc.touch(time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, false
	}
	if s.conns == nil {
		s.conns = map[*trackedConn]struct{}{}
	}
	s.conns[tc] = struct{}{}
	return tc, true
}

// close closes every connection of the set; later ones are refused.
func (s *connSet) close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// trackedConn is a hijacked connection of a connSet: its idle and write
// deadlines move with its traffic, and Close takes it out of the set.
type trackedConn struct {
	net.Conn
	set         *connSet // nil: in no set
	once        sync.Once
	idle, write time.Duration
	// The read and write deadlines last set (Unix nanoseconds; zero when
	// someone else set one since): see extend.
	readUntil, writeUntil atomic.Int64
}

// extend moves a deadline of the conn to no earlier than now+d. It sets it
// to now+d+d/16, and only when the deadline it last set is earlier than
// now+d: at most once every d/16, instead of before every read and write
// (a runtime timer change each, 1–2 % of the outbound proxy's CPU). A
// tunnel is never cut sooner than d after its last byte, and at most d/16
// later.
func extend(now time.Time, until *atomic.Int64, d time.Duration, set func(time.Time) error) {
	if now.Add(d).UnixNano() <= until.Load() {
		return
	}
	t := now.Add(d + d/16)
	until.Store(t.UnixNano())
	_ = set(t)
}

// touch moves the read deadline idle ahead: any traffic, either way, keeps
// the tunnel open.
func (c *trackedConn) touch(now time.Time) {
	if c.idle > 0 {
		extend(now, &c.readUntil, c.idle, c.Conn.SetReadDeadline)
	}
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.idle > 0 {
		c.touch(time.Now())
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	if c.idle > 0 || c.write > 0 {
		now := time.Now() // one reading for both deadlines
		c.touch(now)
		if c.write > 0 {
			extend(now, &c.writeUntil, c.write, c.Conn.SetWriteDeadline)
		}
	}
	return c.Conn.Write(p)
}

// SetDeadline, SetReadDeadline and SetWriteDeadline (TLS and goproxy set
// and clear deadlines too) make the next read or write set the tunnel's
// own again.
func (c *trackedConn) SetDeadline(t time.Time) error {
	c.readUntil.Store(0)
	c.writeUntil.Store(0)
	return c.Conn.SetDeadline(t)
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.readUntil.Store(0)
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	c.writeUntil.Store(0)
	return c.Conn.SetWriteDeadline(t)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		if c.set != nil {
			c.set.mu.Lock()
			delete(c.set.conns, c)
			c.set.mu.Unlock()
		}
	})
	return c.Conn.Close()
}

// trackingWriter puts the connection a handler hijacks (goproxy's CONNECT
// tunnels, ReverseProxy's upgraded connections) in set.
type trackingWriter struct {
	http.ResponseWriter
	set *connSet
	// guard, when set, counts what is read from the connection (an
	// intercepted tunnel's client: headerGuard).
	guard *headerGuard
}

func (w *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc, ok := w.set.track(c)
	if !ok {
		return nil, nil, errShuttingDown
	}
	if w.guard != nil {
		tc = newGuardedConn(tc, w.guard)
	}
	return tc, rw, nil
}

// Unwrap returns the ResponseWriter it wraps, for http.ResponseController
// (Flush).
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
