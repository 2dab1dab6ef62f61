// Package faultnet takes a server away from the code under test without
// stopping it: a Proxy forwards TCP connections from a loopback port to the
// server and can be cut (the port refuses connections and every open one is
// closed, as when the server stops) and restored on the same port, or
// stalled (connections stay open and new ones are accepted, but no byte
// goes either way, as when a network path drops packets or the server
// hangs) and resumed. Tests of store outages use it, since other tests
// share the real PostgreSQL and Redis at the same time.
package faultnet

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards connections from Addr to a target while up.
type Proxy struct {
	t               testing.TB
	network, target string
	addr            string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	stalled bool
	resumed chan struct{} // closed by Resume; a new one while stalled
}

// New starts a proxy on a free loopback port to target (network "tcp" or
// "unix"); it is cut when the test ends.
func New(t testing.TB, network, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, network: network, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.Up()
	t.Cleanup(func() { p.Resume(); p.Down() })
	return p
}

// Addr is the host:port clients dial.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Up listens (again) on the proxy's port.
func (p *Proxy) Up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was just closed; give the kernel a moment
		if ln, err = net.Listen("tcp", p.Addr()); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("faultnet: listen on %s: %v", p.Addr(), err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *Proxy) pipe(c net.Conn) {
	p.wait()
	u, err := net.DialTimeout(p.network, p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { p.copy(u, c); u.Close() }()
	p.copy(c, u)
	c.Close()
}

// copy is io.Copy that holds each chunk read while the proxy is stalled.
func (p *Proxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait returns at once unless the proxy is stalled, else when it resumes.
func (p *Proxy) wait() {
	p.mu.Lock()
	ch := p.resumed
	stalled := p.stalled
	p.mu.Unlock()
	if stalled {
		<-ch
	}
}

// Stall stops every byte through the proxy, both ways, on open and new
// connections alike, until Resume: the server seems to hang. The test's
// end resumes it.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled, p.resumed = true, make(chan struct{})
	}
}

// Resume lets bytes through again after Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resumed)
	}
}

// Down cuts the proxy: no new connections, every open one closed.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
