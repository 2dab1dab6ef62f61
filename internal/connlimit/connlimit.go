// Package connlimit bounds the connections one source address may hold
// open on a listener at once. http.Server bounds how long a connection
// may take over its headers and how long it may stay idle, but not how
// many a sender keeps: one address holding thousands of keep-alive
// connections (a request every idle timeout keeps each alive) or CONNECT
// tunnels costs the gateway a goroutine, buffers and a file descriptor
// each, without limit. A Listener refuses a connection past the bound by
// closing it as soon as it is accepted, before a byte is read.
//
// A source is a peer address as internal/lockout counts it (lockout.Key:
// an IPv4 address, an IPv6 /64, IPv4-mapped addresses unmapped): one
// sender cannot step through the addresses of its /64. Peers the caller
// exempts (the load balancers of limits.trusted_proxies, whose connections
// carry many customers) are not counted.
//
// Memory is bounded by the connections open: a source's count is removed
// when its last connection closes.
package connlimit

import (
	"net"
	"net/netip"
	"sync"

	"github.com/aliasgate/aliasgate/internal/lockout"
)

// Options configure Wrap.
type Options struct {
	// PerSource is the most connections one source may hold open; 0 or
	// less: no bound (Wrap returns the listener as is).
	PerSource int
	// Exempt, when set, reports peers that are not counted.
	Exempt func(netip.Addr) bool
	// Refused, when set, is called (without a lock held) for each
	// connection closed because its source held PerSource already, with
	// the source (as lockout.Key names it).
	Refused func(source string)
}

// Listener is a net.Listener whose Accept refuses a source's connections
// past Options.PerSource. It is safe for concurrent use.
type Listener struct {
	net.Listener
	opts Options

	mu   sync.Mutex
	open map[string]int // connections open by source
}

// Wrap returns l bounded by opts, or l itself when opts.PerSource is 0 or
// less.
func Wrap(l net.Listener, opts Options) net.Listener {
	if opts.PerSource <= 0 {
		return l
	}
	return &Listener{Listener: l, opts: opts, open: map[string]int{}}
}

// Accept returns the next connection whose source holds fewer than
// Options.PerSource; the others are closed as they come.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		remote := c.RemoteAddr().String()
		if l.opts.Exempt != nil {
			if ap, err := netip.ParseAddrPort(remote); err == nil && l.opts.Exempt(ap.Addr().Unmap()) {
				return c, nil
			}
		}
		key := lockout.Key(remote)
		l.mu.Lock()
		if l.open[key] >= l.opts.PerSource {
			l.mu.Unlock()
			_ = c.Close()
			if l.opts.Refused != nil {
				l.opts.Refused(key)
			}
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, key: key}, nil
	}
}

// Open returns how many connections the source of remoteAddr (a
// RemoteAddr, "host:port") holds, for tests and metrics.
func (l *Listener) Open(remoteAddr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[lockout.Key(remoteAddr)]
}

// Sources returns how many sources hold a connection.
func (l *Listener) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// conn is an accepted connection counted against its source until it is
// closed (a hijacked one too: a CONNECT tunnel or an upgraded connection
// is closed through it).
type conn struct {
	net.Conn
	l    *Listener
	key  string
	once sync.Once
}

// Close closes the connection and, the first time, gives its source's
// place back.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
