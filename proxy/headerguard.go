package proxy

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// headerGuard bounds the headers of the requests inside an intercepted
// tunnel. goproxy reads them with http.ReadRequest, which has no size
// limit (the listener's MaxHeaderBytes ends with the CONNECT): one endless
// header line would be read into memory whole, then forwarded.
//
// Two bounds, neither costing a goroutine or a copy:
//   - what the proxy reads from the tunnel's client between the end of one
//     exchange (and the CONNECT) and the headers of the next request being
//     read is at most max plus guardSlack, counted on the client's
//     connection (guardedConn, below TLS): past it the read fails and the
//     tunnel is dropped (goproxy cannot read the request: counted as not
//     served). The slack holds TLS framing and the unread rest of a body
//     the exchange before left (net/http discards as much before closing
//     a connection);
//   - a request whose line and headers, once read, are over max is
//     answered 431 by onRequest (headerSize) and the tunnel closed, as the
//     listeners do.
//
// While a request is served (onRequest to endLoop) nothing is counted: its
// body is bounded by the route's limits, not here.
//
// It bounds their time too, when timeout is set
// (OutboundOptions.TunnelHeaderTimeout, as http.Server.ReadHeaderTimeout):
// the wait for a request's headers starts at the CONNECT for the first
// request (the TLS handshake is inside it) and at the first byte read
// after an exchange for each next one (quiet between requests is the idle
// timeout's), and ends when they are read (begin). One timer per tunnel
// (guardedConn.watch), re-armed by itself, closes the client's connection
// once a wait is older than timeout: nothing per request. Without it a
// client trickling a byte now and then (under the idle timeout) held its
// tunnel for ever. readTimeout (OutboundOptions.TunnelReadTimeout, as
// http.Server.ReadTimeout) bounds the same way the reading of a request
// whose body is being read (reading, guardBody), from the start of its
// headers' wait (from begin for one pipelined behind another, whose
// headers were read from goproxy's buffer): past it the connection's
// reads fail as timeouts (the body's read is the client's, 408) and the
// tunnel ends; the timer takes the reading it cut (bodyExpired), so a
// request pipelined behind it that begins meanwhile is late (408, not
// served), never cut within its own bound.
type headerGuard struct {
	max int64 // the request line and headers, as http.Server.MaxHeaderBytes
	// state >= 0: waiting for a request's headers, that many bytes may
	// still be read; < 0: request number -state is being served.
	state atomic.Int64
	seq   atomic.Int64 // the number of the last request begun
	// timeout bounds each wait for a request's headers, readTimeout the
	// reading of a whole request; 0: none. every is the shorter set one.
	timeout, readTimeout, every time.Duration
	// since is when the current wait for a request's headers began (Unix
	// nanoseconds); 0: none (a request is served, or nothing was read
	// since the last exchange). started is since of the request being
	// served, body the same while its body is being read (reading).
	since, started, body atomic.Int64
}

// guardSlack is what the proxy reads past max before it drops a tunnel
// that has not ended a request's headers: TLS framing and up to 256 KiB
// of a body the exchange before left unread (net/http's server discards
// that much before it closes the connection instead).
const guardSlack = 256<<10 + 16<<10

// errHeadersTooLarge is a guardedConn's read error once its client sent
// more than its headerGuard allows while no request was being served.
var errHeadersTooLarge = errors.New("proxy: request headers inside the tunnel are too large")

// newHeaderGuard returns the guard of a tunnel just CONNECTed: the wait
// for its first request's headers starts now.
func newHeaderGuard(max int, timeout, readTimeout time.Duration) *headerGuard {
	if max <= 0 {
		max = http.DefaultMaxHeaderBytes
	}
	g := &headerGuard{max: int64(max), timeout: timeout, readTimeout: readTimeout, every: timeout}
	if g.every <= 0 || (readTimeout > 0 && readTimeout < g.every) {
		g.every = readTimeout
	}
	g.state.Store(g.max + guardSlack)
	if g.every > 0 {
		g.since.Store(time.Now().UnixNano())
	}
	return g
}

// spend counts n bytes read from the client; false once they are more
// than the guard allows. The first bytes read after an exchange start the
// wait for the next request's headers.
func (g *headerGuard) spend(n int64) bool {
	for {
		s := g.state.Load()
		if s < 0 {
			return true // a request is being served
		}
		if s < n {
			return false
		}
		if g.state.CompareAndSwap(s, s-n) {
			if s == g.max+guardSlack && g.every > 0 {
				g.since.CompareAndSwap(0, time.Now().UnixNano())
			}
			return true
		}
	}
}

// waitExpired is since once the tunnel's timer took the current wait for
// a request's headers as timed out (watch): the connection is closed, and
// a request whose headers were read at that moment is late (begin).
const waitExpired = -1

// begin says a request's headers were read; it returns the request's
// number, for end, and late when the wait for them had already timed out,
// or the reading of an earlier request's body (bodyExpired): the
// connection is being closed or its reads fail, the request must not be
// served. The wait is taken with one swap, against watch's one
// compare-and-swap: a request either began in time and its tunnel is left
// alone, or is late. A body's reading is taken the same way (watch's
// compare-and-swap against read's and end's): a request pipelined behind
// one whose reading the timer cut is late, never cut within its own bound.
func (g *headerGuard) begin() (n int64, late bool) {
	start := g.since.Swap(0)
	late = start == waitExpired || g.body.Load() == bodyExpired
	n = g.seq.Add(1)
	g.state.Store(-n)
	if (start == 0 && g.readTimeout > 0) || late {
		// Its headers were read while the request before was served
		// (pipelined, in goproxy's buffer): its reading starts now.
		start = time.Now().UnixNano()
	}
	g.started.Store(start)
	return n, late
}

// bodyExpired is body once the tunnel's timer took the reading of a
// request's body as timed out (watch): the connection's reads fail, and a
// request begun after it is late (begin), whatever its own start.
const bodyExpired = -1

// reading says the body of the request begun last is being read: its
// reading is bounded by readTimeout from the start of its headers' wait,
// until read (read, with the start reading returns). Once a reading was
// cut (bodyExpired) the mark stays.
func (g *headerGuard) reading() (start int64) {
	if g.readTimeout > 0 {
		start = g.started.Load()
		g.body.CompareAndSwap(0, start)
	}
	return start
}

// read says the body reading began at start (reading) is read, or
// abandoned: it is no longer bounded, unless the timer took it first
// (bodyExpired), or another request's reading is under way (a body closed
// late leaves the next one's alone).
func (g *headerGuard) read(start int64) {
	if start != 0 {
		g.body.CompareAndSwap(start, 0)
	}
}

// end says request n was served: the next request's headers are counted,
// unless another request began since.
func (g *headerGuard) end(n int64) {
	if g.state.CompareAndSwap(-n, g.max+guardSlack) {
		if b := g.body.Load(); b != bodyExpired {
			g.body.CompareAndSwap(b, 0)
		}
	}
}

// tooLarge reports whether req's request line and headers are over the
// guard's max.
func (g *headerGuard) tooLarge(req *http.Request) bool {
	return headerSize(req) > g.max
}

// headerSize is about what req's request line and headers took on the
// wire ("Name: value\r\n" a value).
func headerSize(req *http.Request) int64 {
	n := len(req.Method) + len(req.RequestURI) + len(req.Proto) + 4 + len("Host: \r\n") + len(req.Host) + 2
	for k, vs := range req.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return int64(n)
}

// overdue reports how long past its bound the current wait for a
// request's headers (headers) or the reading of a request's body, which
// began at wait, is at now (>= 0: overdue), or, when neither is under
// way, -every.
func (g *headerGuard) overdue(now time.Time) (over time.Duration, headers bool, wait int64) {
	if since := g.since.Load(); since > 0 && g.timeout > 0 && g.state.Load() >= 0 {
		return time.Duration(now.UnixNano()-since) - g.timeout, true, since
	}
	if since := g.body.Load(); since > 0 {
		return time.Duration(now.UnixNano()-since) - g.readTimeout, false, since
	}
	return -g.every, false, 0
}

// guardBody is the body of a request inside an intercepted tunnel while
// its guard has a readTimeout: it tells the guard when it is read.
type guardBody struct {
	io.ReadCloser
	g     *headerGuard
	start int64 // its reading's start (reading)
}

func (b *guardBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.g.read(b.start)
	}
	return n, err
}

func (b *guardBody) Close() error {
	b.g.read(b.start)
	return b.ReadCloser.Close()
}

// guardedConn is the client connection of an intercepted tunnel, whose
// reads its headerGuard counts and whose waits for request headers it
// bounds (watch).
type guardedConn struct {
	net.Conn
	g *headerGuard

	timer   *time.Timer // nil: no header or read timeout
	done    atomic.Bool // closed
	expired atomic.Bool // a request's reading took longer than readTimeout
}

// newGuardedConn returns c guarded by g, watched when g has a timeout.
func newGuardedConn(c net.Conn, g *headerGuard) *guardedConn {
	gc := &guardedConn{Conn: c, g: g}
	if g.every > 0 {
		gc.timer = time.AfterFunc(time.Duration(math.MaxInt64), gc.watch)
		gc.timer.Reset(g.every)
	}
	return gc
}

// watch runs on the tunnel's timer: it closes the connection once the
// wait for a request's headers is older than the guard's timeout (the
// read under way fails: goproxy ends the tunnel), fails its reads as
// timeouts once a request's reading is older than readTimeout (the body's
// read is the client's: 408, and the tunnel ends), and otherwise re-arms
// itself for when the current bound would pass, or for the shorter bound
// from now when none is under way (a later one is at most that old then).
// A wait it finds overdue it takes with a compare-and-swap before closing
// (waitExpired): headers read meanwhile (begin) win, and it looks again
// (the wait it read may also be one that ended, a later one begun since).
// An overdue body's reading it takes the same way (bodyExpired): a body
// read to its end meanwhile (read) wins, and a request begun after the
// cut is late (begin), so a request pipelined behind the one it judged is
// never cut within its own bound.
func (c *guardedConn) watch() {
	for !c.done.Load() {
		over, headers, wait := c.g.overdue(time.Now())
		switch {
		case over < 0:
			c.timer.Reset(-over)
		case headers:
			if !c.g.since.CompareAndSwap(wait, waitExpired) {
				continue // the wait ended (begin): look again
			}
			_ = c.Close()
		default:
			if !c.g.body.CompareAndSwap(wait, bodyExpired) {
				continue // the reading ended (read, end): look again
			}
			c.expired.Store(true)
			_ = c.Conn.SetReadDeadline(time.Unix(1, 0)) // a read under way fails now
		}
		return
	}
}

// Close closes the connection and stops its timer.
func (c *guardedConn) Close() error {
	if c.done.CompareAndSwap(false, true) && c.timer != nil {
		c.timer.Stop()
	}
	return c.Conn.Close()
}

// Read fails once the client sent more than the guard allows. A read
// that fails with nothing read since the last exchange ended (or since the
// CONNECT) reads as the end of the tunnel (io.EOF): the tunnel closed for
// idleness or at shutdown, or its client gone, between requests, is not a
// request goproxy could not read (obs.NotServed counts requests begun).
func (c *guardedConn) Read(p []byte) (int, error) {
	if c.expired.Load() {
		if c.g.between() {
			return 0, io.EOF // the tunnel ends after the request it cut off
		}
		return 0, os.ErrDeadlineExceeded
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.g.spend(int64(n)) {
		_ = c.Conn.Close()
		return 0, errHeadersTooLarge
	}
	if n == 0 && err != nil && c.g.between() {
		return 0, io.EOF
	}
	return n, err
}

// between reports whether nothing was read since the last exchange ended
// (or since the CONNECT).
func (g *headerGuard) between() bool {
	return g.state.Load() == g.max+guardSlack
}
