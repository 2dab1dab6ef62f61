package vaultapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// cutListener's connections fail every write once limit bytes went out,
// as a connection past the server's write timeout does (the server then
// closes it).
type cutListener struct {
	net.Listener
	limit int
}

func (l cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: c, left: l.limit}, nil
}

type cutConn struct {
	net.Conn
	mu   sync.Mutex
	left int
}

var errCut = errors.New("write cut (as a write timeout)")

func (c *cutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left <= 0 {
		return 0, errCut
	}
	if len(p) > c.left {
		n, _ := c.Conn.Write(p[:c.left])
		c.left = 0
		return n, errCut
	}
	c.left -= len(p)
	return c.Conn.Write(p)
}

// TestCutAnswerIsNotTakenAsComplete: an answer the gateway could not write
// whole (its write timeout passed while a slow client read a large
// reveal) must not reach the client as a whole answer. Answers written in
// pieces had no Content-Length: to an HTTP/1.0 client, and to a proxy in
// front of the gateway that speaks HTTP/1.0 to it (nginx's default
// proxy_http_version), such an answer ends when the connection closes, so
// the cut answer read as a complete 200 (jsonapi.WriteJSON set
// Content-Length before). The answer says its length: the cut shows as an
// unexpected EOF, as for an HTTP/1.1 client's chunked answer.
func TestCutAnswerIsNotTakenAsComplete(t *testing.T) {
	e := setup(t, nil)
	var aliases []string
	for i := range 3 {
		recs := e.create(t, `{"data":[{"value":"`+strings.Repeat(`caf\u00e9 <&> \\ \u2028`, 20000)+fmt.Sprint(i)+`"}]}`)
		aliases = append(aliases, recs[0].Aliases[0].Alias)
	}
	paths := []string{"/aliases/" + aliases[0], "/aliases?q=" + strings.Join(aliases, ",")}
	// The whole answers, for their lengths.
	for _, p := range paths {
		r := e.do(t, "GET", p, e.reveal, "", "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", p, r.status, r.body)
		}
		if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(r.body)) {
			t.Errorf("GET %s: Content-Length %q for an answer of %d bytes", p, got, len(r.body))
		}
		// HEAD is no reveal (TestHEADOfTheVaultAPIRevealsNothing in
		// cmd/aliasgate): 405, no length of the record.
		if h := e.do(t, "HEAD", p, e.reveal, "", ""); h.status != 405 {
			t.Errorf("HEAD %s: %d, want 405", p, h.status)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.Listener.Close()
	srv.Listener = cutListener{Listener: ln, limit: 100 << 10}
	srv.Start()
	t.Cleanup(srv.Close)
	for _, p := range paths {
		for _, proto := range []string{"HTTP/1.0", "HTTP/1.1"} {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET %s %s\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", p, proto, e.reveal)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				c.Close()
				t.Fatalf("%s %s: %v", proto, p, err)
			}
			n, err := io.Copy(io.Discard, res.Body)
			c.Close()
			if res.StatusCode == 200 && err == nil {
				t.Errorf("%s GET %s: an answer cut after %d bytes of body read as a complete 200 (Content-Length %q)",
					proto, p, n, res.Header.Get("Content-Length"))
			}
		}
	}
}
