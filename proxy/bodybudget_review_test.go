package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// TestHoldBodiesReservesAChunkedDocumentAsItIsRead: HoldBodies reserved
// the API's most (the vault API's 2 × vault.max_value_size + 64 KiB)
// for every request document of unknown length, before the handler ran:
// with a budget smaller than that most (limits.max_buffered_bytes is
// valid from one max_body up, and max_body may be less than the vault
// API's most) every chunked document was refused 503 gateway_busy, a
// 10-byte one with nothing else in flight, however long the client waited
// as Retry-After told it to; under a smaller share, 429 source_busy. Now
// such a document is reserved as the API reads it, as the phases reserve
// a body of unknown length: it holds what it sent. One that does not fit
// as it is read is still refused (the API's own answer to its failed read
// replaced), and everything is given back.
func TestHoldBodiesReservesAChunkedDocumentAsItIsRead(t *testing.T) {
	const apiMax = 5000 // the API's most: more than the budget
	b := bodybudget.New(1000, 0)
	read := make(chan int64, 1)
	h := HoldBodies(b, apiMax, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, apiMax+1))
		if err != nil {
			w.Header().Set("X-Api", "its own answer")
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		read <- b.Used()
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body[:min(len(body), 3)])
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	chunked := func(body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(struct{ io.Reader }{strings.NewReader(body)}))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(got)
	}

	resp, got := chunked(strings.Repeat("x", 10))
	if resp.StatusCode != http.StatusCreated || got != "xxx" {
		t.Fatalf("a 10-byte chunked document with the budget free: %d %s, want 201", resp.StatusCode, got)
	}
	if held := <-read; held != 10 {
		t.Errorf("a 10-byte chunked document held %d bytes once read, want 10", held)
	}
	waitGivenBack(t, b, "chunked document")

	// Past the budget as it is read: 503 gateway_busy, not the API's 400.
	resp, got = chunked(strings.Repeat("x", 2000))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(got, "gateway_busy") || resp.Header.Get("X-Api") != "" {
		t.Errorf("a 2000-byte chunked document over a 1000-byte budget: %d %v %s, want 503 gateway_busy alone", resp.StatusCode, resp.Header, got)
	}
	waitGivenBack(t, b, "refused chunked document")

	// Past the sender's share as it is read: 429 source_busy.
	share := bodybudget.New(100000, 1000)
	srv.Config.Handler = HoldBodies(share, apiMax, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	resp, got = chunked(strings.Repeat("x", 2000))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(got, "source_busy") {
		t.Errorf("a 2000-byte chunked document over a 1000-byte share: %d %v %s, want 429 source_busy", resp.StatusCode, resp.Header, got)
	}
	waitGivenBack(t, share, "refused chunked document (share)")
}

// TestCaptureReadAfterTheExchangeIsHandedOnHoldsNothing: a capture
// reserved of the body budget every body byte it recorded, also after
// the exchange was handed to the Capturer and its reservation given back
// (captureRec.done): a destination that answers before it reads the
// request body leaves the transport reading the client's body into the
// capture after that, and those bytes stayed reserved for ever (a leak
// that turns, request by request, into a gateway that refuses every body:
// 503 gateway_busy). What a capture records once it is handed on is no
// longer kept nor reserved.
func TestCaptureReadAfterTheExchangeIsHandedOnHoldsNothing(t *testing.T) {
	// A destination that answers once it has the request's headers and
	// keeps the connection open (Go's server reads the body first).
	psp := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate
	t.Cleanup(psp.Close)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(tcp, psp.TLS)
	t.Cleanup(func() { ln.Close() })
	answered := make(chan struct{}, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") // before the request body
					answered <- struct{}{}
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						return
					}
				}
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	tv := newTestVault(t)
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(psp.Certificate())
	b := bodybudget.New(1<<20, 0)
	c := &recCapturer{limit: 1 << 20}
	ob, err := NewOutbound(OutboundOptions{
		Table: routes.NewTable(parseRoutes(t, outRoutes, "")), Tokenizer: tv.tok, CA: ca, AllowPrivate: true, RootCAs: roots,
		Logger: obstest.Logger(t), Resolver: testResolver, UpstreamTimeout: 5 * time.Second, Capturer: c, Budget: b,
		Authenticate: func(_ context.Context, user, pass string) (ProxyClient, error) {
			return ProxyClient{ID: "cli"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ob)
	t.Cleanup(func() { srv.Close(); ob.Close() })
	g := &outGateway{srv: srv, ob: ob, ca: ca, vault: tv}

	tc := tunnelTLS(t, g, "psp.example.com:"+port)
	defer tc.Close()
	// A body the route streams (text: no filter reads it), 100 bytes of
	// the 20,000 declared sent before the answer.
	if _, err := io.WriteString(tc, "POST /v1/upload HTTP/1.1\r\nHost: psp.example.com:"+port+
		"\r\nContent-Type: text/plain\r\nContent-Length: 20000\r\n\r\n"+strings.Repeat("a", 100)); err != nil {
		t.Fatal(err)
	}
	<-answered
	br := bufio.NewReader(tc)
	readOK := func() {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	readOK()
	c.wait(t, 1)                                      // handed on
	waitGivenBack(t, b, "the capture once handed on") // and given back
	// The rest of the body, which the transport still reads, and a
	// second request, answered once the first one's body was read.
	if _, err := io.WriteString(tc, strings.Repeat("b", 19900)+"GET /v1/next HTTP/1.1\r\nHost: psp.example.com:"+port+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	readOK()
	c.wait(t, 2)
	tc.Close()
	waitGivenBack(t, b, "the body read after the capture was handed on")
}

// TestDecodedBodiesAreReservedAsTheyAreDecoded: a gzip or deflate body's
// decoded copy was reserved as max_body + 1 before it was decoded, on
// top of the raw body's bytes. One sender's share may be one max_body
// (limits.source_buffered_share never gives less; 25% of the smallest
// default budget, 4 × max_body, is exactly that), and then every gzip
// body was refused, a 100-byte one with nothing else in flight: a
// client's request 429 source_busy, and every response on a route whose
// responses are read (the proxy asks the upstream for gzip itself:
// askGzip) 502. The decoded copy is now reserved as it is decoded, as a
// body of unknown length is read; one that does not fit is still
// refused, and everything is given back.
func TestDecodedBodiesAreReservedAsTheyAreDecoded(t *testing.T) {
	const maxBody = 64 << 10
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz(t, []byte(`{"ok":true}`)))
	})
	b := bodybudget.New(4*maxBody, maxBody) // the share: one max_body
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b, maxBody: maxBody})
	resp, body := g.do(t, "POST", "/json", "application/json", bytes.NewReader(gz(t, []byte(cardJSON))),
		map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a small gzip request and a gzip answer under a one-max_body share: %d %s, want 200", resp.StatusCode, obstestMask(string(body)))
	}
	if got := up.requests(); len(got) != 1 {
		t.Fatalf("the upstream received %d requests, want 1", len(got))
	}
	waitGivenBack(t, b, "decoded bodies")
	if p := b.Peak(); p == 0 || p > heldStep+1<<10 {
		t.Errorf("peak %d: want the bodies (a few hundred bytes) and at most one step of a decoded copy", p)
	}

	// A body whose decoded copy does not fit is still refused.
	small := bodybudget.New(heldStep+2000, 0)
	g = newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: small, maxBody: 1 << 20})
	big := `{"card":{"number":"` + testPAN + `"},"pad":"` + strings.Repeat("x", 200<<10) + `"}`
	resp, body = g.do(t, "POST", "/json", "application/json", bytes.NewReader(gz(t, []byte(big))),
		map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "gateway_busy") {
		t.Errorf("a gzip body decoding past the budget: %d %s, want 503 gateway_busy", resp.StatusCode, obstestMask(string(body)))
	}
	waitGivenBack(t, small, "refused decoded body")
}

// TestParallelChunkedCheckoutsFitTheSmallestDefaultShare: the smallest
// budget the defaults give (4 × max_body, GOMEMLIMIT being low) leaves
// one sender a share of one max_body. Ordinary checkouts of a few hundred
// bytes sent chunked (no Content-Length, as many HTTP clients stream a
// JSON body), 16 at once from one backend, each reserved 32 KiB while it
// was read, whatever it held: with max_body 64 KiB two fitted, and the
// others were refused 429 source_busy. A body of unknown length is now
// reserved as the buffer that reads it grows, what it holds.
func TestParallelChunkedCheckoutsFitTheSmallestDefaultShare(t *testing.T) {
	const maxBody = 64 << 10
	up := newUpstream(t, nil)
	b := bodybudget.New(4*maxBody, maxBody)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b, maxBody: maxBody})
	const senders, each = 16, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range each {
				pr, pw := io.Pipe()
				go func() {
					// The body in two chunks, the second a moment later:
					// the reads of all the senders overlap.
					_, _ = io.WriteString(pw, cardJSON[:10])
					_, _ = io.WriteString(pw, cardJSON[10:])
					pw.Close()
				}()
				req, _ := http.NewRequest("POST", g.URL+"/json", pr)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if statuses[http.StatusOK] != senders*each {
		t.Errorf("statuses %v: want all %d checkouts served", statuses, senders*each)
	}
	waitGivenBack(t, b, "parallel chunked checkouts")
}
