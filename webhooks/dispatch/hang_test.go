package dispatch_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestProtocolSwitchAnswerDoesNotHoldTheAttempt: a receiver that answers
// 101 Switching Protocols and then keeps the connection open without a
// word does not hold the attempt past webhooks.timeout. The transport
// hands a 101's connection over as its body, out of the request's
// deadline, and the excerpt's read waited for the receiver to close it:
// an attempt, and the gateway's shutdown waiting for it, held for as long
// as the receiver liked.
func TestProtocolSwitchAnswerDoesNotHoldTheAttempt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello")
				<-release // holds the connection open
			}()
		}
	}()
	s := boltStore(t)
	opts := fast(endpoint("ep1", "http://"+ln.Addr().String()+"/hook"))
	opts.Timeout = time.Second
	opts.RetryFor = time.Millisecond // one attempt, then failed
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	// Runs before start's cleanup (which waits for Run): a held attempt
	// ends the test instead of hanging it.
	t.Cleanup(func() {
		close(release)
		ln.Close()
		wg.Wait()
	})
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	dl := waitState(t, s, 1, webhooks.StateFailed)[0]
	if a := dl.Attempts[0]; a.Status != http.StatusSwitchingProtocols || a.Error != "http_status" {
		t.Fatalf("attempt %+v", a)
	}
}
