package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestPerSourceBound: past PerSource open connections of one source, a
// new one is closed as it is accepted (Refused names the source) and
// Accept goes on to the next; another source, an exempt peer, and a
// source whose connection closed (once, however often Close is called)
// are accepted; counts of sources with nothing open are forgotten.
func TestPerSourceBound(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var refused []string
	l := Wrap(inner, Options{PerSource: 2,
		Exempt:  func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.9") },
		Refused: func(s string) { mu.Lock(); refused = append(refused, s); mu.Unlock() },
	}).(*Listener)
	defer l.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(ip string) net.Conn {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
		}
		return nil
	}
	a1, a2 := dial("127.0.0.2"), dial("127.0.0.2")
	s1, s2 := next(), next()
	over := dial("127.0.0.2")
	// The refused one is closed: the client reads EOF.
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := over.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the third connection of one source: read %d, %v", n, err)
	}
	dial("127.0.0.3")
	if c := next(); c.RemoteAddr().(*net.TCPAddr).IP.String() != "127.0.0.3" {
		t.Fatalf("accepted %s, want 127.0.0.3", c.RemoteAddr())
	}
	for range 3 {
		dial("127.0.0.9")
		if _, ok := next().(*conn); ok {
			t.Fatal("an exempt peer's connection was counted")
		}
	}
	if l.Open(a1.LocalAddr().String()) != 2 {
		t.Fatalf("open %d, want 2", l.Open(a1.LocalAddr().String()))
	}
	s1.Close()
	s1.Close() // a second Close gives back nothing more
	dial("127.0.0.2")
	next()
	if l.Open(a2.LocalAddr().String()) != 2 {
		t.Fatalf("open %d after a close and a new connection, want 2", l.Open(a2.LocalAddr().String()))
	}
	mu.Lock()
	if len(refused) != 1 || refused[0] != "127.0.0.2" {
		t.Fatalf("refused %v", refused)
	}
	mu.Unlock()
	s2.Close()
	if l.Sources() != 2 { // 127.0.0.2 (one left) and 127.0.0.3
		t.Fatalf("%d sources held", l.Sources())
	}
	if Wrap(inner, Options{}) != inner {
		t.Fatal("PerSource 0 wrapped the listener")
	}
}
