// Package faultnet takes a server away from the code under test without
// stopping it: a Proxy forwards TCP connections from a loopback port to the
// server and can be cut (the port refuses connections and every open one is
// closed, as when the server stops) and restored on the same port. Tests of
// store outages use it, since other tests share the real PostgreSQL and
// Redis at the same time.
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

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// New starts a proxy on a free loopback port to target (network "tcp" or
// "unix"); it is cut when the test ends.
func New(t testing.TB, network, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, network: network, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.Up()
	t.Cleanup(p.Down)
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
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
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
