package proxy

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// reviewBody is response or request body i: distinct bytes, 0.5-9 KiB (so
// the bodies fall in several classes of bodyBuffers), with the card
// number at its start when withPAN.
func reviewBody(i int, withPAN bool) string {
	head := "-"
	if withPAN {
		head = testPAN
	}
	return fmt.Sprintf(`{"head":%q,"i":%d,"pad":%q}`, head, i, strings.Repeat(fmt.Sprintf("%04x", i), 128+(i*97)%2200))
}

// reviewTail is what follows the head of reviewBody(i, …).
func reviewTail(i int) string {
	return fmt.Sprintf(`,"i":%d,"pad":%q}`, i, strings.Repeat(fmt.Sprintf("%04x", i), 128+(i*97)%2200))
}

// checkReviewResponse fails the test unless got is response i of reviewBody
// as the response phase leaves it: its own tail, no card number, and its
// head redacted where reviewBody put the card number (every fifth).
func checkReviewResponse(t *testing.T, i int, got []byte) {
	t.Helper()
	var v struct{ Head string }
	if err := json.Unmarshal(got, &v); err != nil || !strings.HasSuffix(string(got), reviewTail(i)) ||
		bytes.Contains(got, []byte(testPAN)) || (i%5 == 0) == (v.Head == "-") {
		t.Errorf("response %d is not its own (or holds the card number): %.80q", i, got)
	}
}

// TestResponseBodiesSentAsReadUnderAbortsAndHEAD: the response bodies the
// inbound leak guard reads into pooled buffers and sends as read (memBody
// owning the buffer, given back when ReverseProxy closes it), mixed with
// ones it masks (their buffers go back at once), HEAD requests (no body
// read) and clients that hang up after a few bytes (the copy fails, the
// body is closed): every client that reads its response whole gets its
// own bytes, never another exchange's nor zeros.
func TestResponseBodiesSentAsReadUnderAbortsAndHEAD(t *testing.T) {
	const n = 96
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		w.Header().Set("Content-Type", "application/json")
		body := reviewBody(i, i%5 == 0)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = io.WriteString(w, body)
	})
	const doc = `routes:
  - id: guard
    direction: inbound
    host: "*"
    path_prefix: /g
    upstream: {{UP}}
    leak_guard: redact
`
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{})
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				i := i + round*n
				method := http.MethodGet
				if i%7 == 3 {
					method = http.MethodHead
				}
				abort := i%3 == 1
				tr := &http.Transport{DisableKeepAlives: abort}
				defer tr.CloseIdleConnections()
				req, _ := http.NewRequest(method, g.URL+"/g?i="+strconv.Itoa(i), nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				if abort {
					_, _ = io.ReadFull(resp.Body, make([]byte, 7))
					return // hang up: the proxy's copy may fail
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("request %d: status %d, %v", i, resp.StatusCode, err)
					return
				}
				if method == http.MethodHead {
					if len(got) != 0 {
						t.Errorf("HEAD %d: a body of %d bytes", i, len(got))
					}
					return
				}
				checkReviewResponse(t, i, got)
			})
		}
		wg.Wait()
	}
}

// closingUpstream answers each connection's first request and, when that
// connection brings a second one, reads it whole and hangs up without an
// answer (the upstream closed an idle keep-alive connection just as the
// transport reused it), so the transport sends that request again on a
// new connection, from GetBody. It records every body it read, the ones
// it dropped too.
type closingUpstream struct {
	ln      net.Listener
	mu      sync.Mutex
	bodies  []string
	dropped int
}

func newClosingUpstream(t *testing.T) *closingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &closingUpstream{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *closingUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for k := 0; ; k++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.bodies = append(u.bodies, string(b))
		if k == 1 {
			u.dropped++
		}
		u.mu.Unlock()
		if k == 1 {
			return // hang up, no answer
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
	}
}

// TestRequestBodyResentFromGetBodyAfterReusedConnDies: the request body
// timeoutTransport sends is the request phase's own reader; when the
// reused upstream connection dies under it, the transport sends the
// request again from GetBody: the upstream gets the same (rewritten)
// bytes both times, each request its own.
func TestRequestBodyResentFromGetBodyAfterReusedConnDies(t *testing.T) {
	up := newClosingUpstream(t)
	g := newGateway(t, parseRoutes(t, testRoutes, "http://"+up.ln.Addr().String()), nil, gwOptions{})
	const n = 24
	doc := func(i int) string {
		return fmt.Sprintf(`{"card":{"number":%q},"i":%d,"pad":%q}`, testPAN, i, strings.Repeat(fmt.Sprintf("%03d", i), 100+40*i))
	}
	for i := range n { // one at a time: the gateway's upstream connection is reused
		resp, body := g.do(t, "POST", "/json", "application/json", strings.NewReader(doc(i)), map[string]string{"Idempotency-Key": strconv.Itoa(i)})
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.dropped == 0 {
		t.Fatal("no reused connection died under a request: the test did not test the resend")
	}
	seen := map[int]int{}
	for _, b := range up.bodies {
		var v cardDoc
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			t.Fatalf("a body the upstream got does not parse: %v: %.80q", err, b)
		}
		if v.Card.Number == "" || v.Card.Number == testPAN || v.Pad != strings.Repeat(fmt.Sprintf("%03d", v.I), 100+40*v.I) {
			t.Fatalf("body %d arrived damaged or with the card number", v.I)
		}
		seen[v.I]++
	}
	if len(seen) != n || len(up.bodies) != n+up.dropped {
		t.Fatalf("the upstream got %d bodies (%d dropped) of %d requests, want each once plus the dropped", len(up.bodies), up.dropped, len(seen))
	}
	t.Logf("%d requests sent again after their connection died", up.dropped)
}

// TestOutboundResponsesSentAsReadUnderAbortsAndHEAD is the outbound
// (intercepted tunnel) side of TestResponseBodiesSentAsReadUnderAbortsAndHEAD:
// response bodies the psp route's leak guard reads and goproxy writes
// through the swapBody, then closes.
func TestOutboundResponsesSentAsReadUnderAbortsAndHEAD(t *testing.T) {
	const n = 64
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		w.Header().Set("Content-Type", "application/json")
		body := reviewBody(i, false)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = io.WriteString(w, body)
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	cl := g.client()
	defer cl.CloseIdleConnections()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			method := http.MethodGet
			if i%7 == 3 {
				method = http.MethodHead
			}
			req, _ := http.NewRequest(method, "https://psp.example.com:"+psp.port()+"/v1/x?i="+strconv.Itoa(i), nil)
			resp, err := cl.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			if i%3 == 1 {
				_, _ = io.ReadFull(resp.Body, make([]byte, 7))
				return
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request %d: status %d, %v", i, resp.StatusCode, err)
				return
			}
			want := reviewBody(i, false)
			if method == http.MethodHead {
				want = ""
			}
			if string(got) != want {
				t.Errorf("response %d is not its own: %.80q", i, got)
			}
		})
	}
	wg.Wait()
}

// TestInterceptedAccessLinesOncePerRequestUnderLoad: many clients, each
// sending several requests on one intercepted tunnel (the loopReq, its
// swapBody and its access line are per request, never the tunnel's), some
// HEAD, some answered 304, some hung up on mid-body: exactly one access
// line for each request, with its own path and status, and the bytes of
// its own body for those read whole.
func TestInterceptedAccessLinesOncePerRequestUnderLoad(t *testing.T) {
	const clients, each = 12, 6
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		w.Header().Set("Content-Type", "application/json")
		if i%11 == 5 {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := reviewBody(i, false)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, body)
		}
	})
	c := obstest.NewCapture(t)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger})
	var wg sync.WaitGroup
	for k := range clients {
		wg.Go(func() {
			cl := g.client()
			defer cl.CloseIdleConnections()
			for j := range each {
				i := k*each + j
				method := http.MethodGet
				if i%7 == 3 {
					method = http.MethodHead
				}
				req, _ := http.NewRequest(method, "https://psp.example.com:"+psp.port()+"/r/"+strconv.Itoa(i), nil)
				resp, err := cl.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				if i%13 == 6 && method == http.MethodGet && resp.StatusCode == 200 {
					_, _ = io.ReadFull(resp.Body, make([]byte, 7))
					resp.Body.Close() // hang up (the tunnel too)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := reviewBody(i, false)
				if method == http.MethodHead || i%11 == 5 {
					want = ""
				}
				if string(got) != want {
					t.Errorf("response %d is not its own: %.80q", i, got)
				}
			}
		})
	}
	wg.Wait()
	// CONNECT lines: at least one a client, more where a hang-up made a
	// new tunnel; the intercepted requests' lines are the ones with a path
	// under /r/.
	deadline := time.Now().Add(5 * time.Second)
	var lines []map[string]any
	for {
		lines = lines[:0]
		for _, l := range accessLines(c) {
			if p, _ := l["path"].(string); strings.HasPrefix(p, "/r/") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= clients*each || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a second line for a request would come now
	seen := map[int]int{}
	for _, l := range accessLines(c) {
		p, _ := l["path"].(string)
		if !strings.HasPrefix(p, "/r/") {
			continue
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(p, "/r/"))
		seen[i]++
		status, _ := l["status"].(float64)
		bytesN, _ := l["bytes"].(float64)
		wantStatus, wantBytes := 200, len(reviewBody(i, false))
		if i%11 == 5 {
			wantStatus, wantBytes = 304, 0
		}
		if i%7 == 3 {
			wantBytes = 0
		}
		if int(status) != wantStatus || (i%13 != 6 && int(bytesN) != wantBytes) {
			t.Errorf("access line of request %d: status %v bytes %v, want %d and %d", i, l["status"], l["bytes"], wantStatus, wantBytes)
		}
	}
	for i := range clients * each {
		if seen[i] != 1 {
			t.Errorf("request %d has %d access lines, want 1", i, seen[i])
		}
	}
}

// TestPlainHTTPResponsesSentAsRead: plain-HTTP (not intercepted) requests
// through the outbound proxy on a route whose leak guard reads the
// response: goproxy copies the body the phase kept (memBody, owning a
// pooled buffer) to the client and closes it. Concurrent clients, mixed
// with HEAD and hang-ups, each get their own bytes.
func TestPlainHTTPResponsesSentAsRead(t *testing.T) {
	const n = 64
	plain := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		w.Header().Set("Content-Type", "application/json")
		body := reviewBody(i, i%5 == 0)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, body)
		}
	})
	_, pport, _ := net.SplitHostPort(plain.Listener.Addr().String())
	const doc = `routes:
  - id: plainguard
    direction: outbound
    host: a1.example.com
    leak_guard: redact
`
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, routes: doc})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cl := g.client()
			defer cl.CloseIdleConnections()
			method := http.MethodGet
			if i%7 == 3 {
				method = http.MethodHead
			}
			req, _ := http.NewRequest(method, "http://a1.example.com:"+pport+"/x?i="+strconv.Itoa(i), nil)
			resp, err := cl.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			if i%3 == 1 {
				_, _ = io.ReadFull(resp.Body, make([]byte, 7))
				return
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request %d: status %d, %v: %.200q", i, resp.StatusCode, err, got)
				return
			}
			if method == http.MethodHead {
				if len(got) != 0 {
					t.Errorf("HEAD %d: %d body bytes", i, len(got))
				}
				return
			}
			checkReviewResponse(t, i, got)
		})
	}
	wg.Wait()
}

// TestExpectContinueBodiesRewritten: clients that send Expect:
// 100-continue (inbound redact, outbound reveal in an intercepted tunnel,
// concurrently): the request phase reads the body (the client is told to
// send it), the rewritten body goes upstream whole, as the request's own,
// without the Expect header.
func TestExpectContinueBodiesRewritten(t *testing.T) {
	const n = 24
	doc := func(i int, number string) string {
		return fmt.Sprintf(`{"card":{"number":%q},"i":%d,"pad":%q}`, number, i, strings.Repeat(fmt.Sprintf("%03d", i), 200+30*i))
	}
	check := func(t *testing.T, got []received, wantNumber func(string) bool) {
		t.Helper()
		for i, v := range cardDocsOnce(t, got, n, nil) {
			if !wantNumber(v.Card.Number) || v.Pad != strings.Repeat(fmt.Sprintf("%03d", v.I), 200+30*v.I) || got[i].Header.Get("Expect") != "" {
				t.Fatalf("body %d arrived damaged, or with Expect %q", v.I, got[i].Header.Get("Expect"))
			}
		}
	}
	send := func(t *testing.T, cl *http.Client, u, body string) {
		req, _ := http.NewRequest("POST", u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		resp, err := cl.Do(req)
		if err != nil {
			t.Errorf("%v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("status %d: %s", resp.StatusCode, b)
		}
	}
	t.Run("inbound", func(t *testing.T) {
		up := newUpstream(t, nil)
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{})
		cl := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
		defer cl.CloseIdleConnections()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { send(t, cl, g.URL+"/json", doc(i, testPAN)) })
		}
		wg.Wait()
		check(t, up.requests(), func(s string) bool { return s != "" && s != testPAN })
	})
	t.Run("outbound", func(t *testing.T) {
		psp := newTLSUpstream(t, nil)
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
		panA, _ := aliases(t, g.vault)
		cl := g.client()
		cl.Transport.(*http.Transport).ExpectContinueTimeout = time.Minute
		defer cl.CloseIdleConnections()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { send(t, cl, "https://psp.example.com:"+psp.port()+"/v1/charges", doc(i, panA)) })
		}
		wg.Wait()
		check(t, psp.requests(), func(s string) bool { return s == testPAN })
	})
}

// TestOutboundDeflateResponsesPooled: deflate response bodies of declared
// length (the transport does not decode deflate: the compressed bytes are
// read into a pooled buffer, the phase works on a decoded copy), half of
// them redacted by the response phase (re-encoded into a new slice, the
// buffer goes back at once), half sent as read (the memBody owns the
// buffer), through intercepted tunnels at once: each client's body
// inflates to its own document.
func TestOutboundDeflateResponsesPooled(t *testing.T) {
	const n = 48
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		echo := ""
		if i%2 == 0 {
			echo = fmt.Sprintf(`"echo":{"pan":%q},`, testPAN)
		}
		var zb bytes.Buffer
		zw := zlib.NewWriter(&zb)
		_, _ = fmt.Fprintf(zw, `{%s"i":%d,"pad":%q}`, echo, i, echoPad(i))
		_ = zw.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "deflate")
		w.Header().Set("Content-Length", strconv.Itoa(zb.Len()))
		_, _ = w.Write(zb.Bytes())
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	cl := g.client()
	defer cl.CloseIdleConnections()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, body := post(t, cl, "https://psp.example.com:"+psp.port()+"/v1/echo?i="+strconv.Itoa(i), "application/json", `{}`)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "deflate" {
				t.Errorf("request %d: status %d, encoding %q", i, resp.StatusCode, resp.Header.Get("Content-Encoding"))
				return
			}
			zr, err := zlib.NewReader(strings.NewReader(body))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			plain, err := io.ReadAll(zr)
			var v echoResponse
			if err != nil || json.Unmarshal(plain, &v) != nil {
				t.Errorf("request %d: the body does not inflate to JSON: %v", i, err)
				return
			}
			v.check(t, i, plain)
		})
	}
	wg.Wait()
}

// TestInternalUpstreamResponsesPooled: an in-process upstream's response
// on a route with a response phase is buffered, read by the phase into a
// pooled buffer and either redacted (new slice) or sent as read, copied
// by serveInternal and then closed (the buffer goes back): concurrent
// clients, some hanging up, each get their own body.
func TestInternalUpstreamResponsesPooled(t *testing.T) {
	const n = 64
	cards := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		echo := ""
		if i%2 == 0 {
			echo = fmt.Sprintf(`"echo":{"pan":%q},`, testPAN)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{%s"i":%d,"pad":%q}`, echo, i, echoPad(i))
	})
	const doc = `routes:
  - id: cardsr
    direction: inbound
    host: "*"
    path_prefix: /c
    upstream: internal:cards
    leak_guard: redact
    filters:
      - id: resp-redact
        phase: response
        match: {content_type: json}
        operation: redact
        targets: [{json: echo.pan}]
`
	g := newGateway(t, parseRoutes(t, doc, ""), nil, gwOptions{internal: map[string]http.Handler{"internal:cards": cards}})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			abort := i%5 == 4
			tr := &http.Transport{DisableKeepAlives: abort}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", g.URL+"/c?i="+strconv.Itoa(i), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			if abort {
				_, _ = io.ReadFull(resp.Body, make([]byte, 7))
				return
			}
			body, err := io.ReadAll(resp.Body)
			var v echoResponse
			if err != nil || resp.StatusCode != 200 || json.Unmarshal(body, &v) != nil {
				t.Errorf("request %d: status %d, %v: %.100q", i, resp.StatusCode, err, body)
				return
			}
			v.check(t, i, body)
		})
	}
	wg.Wait()
}

// TestInboundCapturesOfPooledResponsesDoNotCross: concurrent inbound
// exchanges whose response bodies the leak guard reads into pooled
// buffers and sends as read (the buffer goes back when ReverseProxy
// closes the body, before the capture is handed on): each capture holds
// its own response, as received and as sent.
func TestInboundCapturesOfPooledResponsesDoNotCross(t *testing.T) {
	const n = 48
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		body := reviewBody(i, false)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	})
	c := &recCapturer{limit: 64 << 10}
	srv := captureGateway(t, up.URL, c, nil)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := http.Post(srv.URL+"/shop/pay?i="+strconv.Itoa(i), "application/json",
				strings.NewReader(`{"card":{"number":"`+testPAN+`"},"i":`+strconv.Itoa(i)+`}`))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != reviewBody(i, false) {
				t.Errorf("request %d: status %d, not its own body", i, res.StatusCode)
			}
		})
	}
	wg.Wait()
	c.wait(t, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[int]bool{}
	for _, x := range c.got {
		i, err := strconv.Atoi(strings.TrimPrefix(x.RawQuery, "i="))
		if err != nil || seen[i] {
			t.Fatalf("capture of query %q: twice or unreadable", x.RawQuery)
		}
		seen[i] = true
		want := reviewBody(i, false)
		if got := string(x.Response.Received.Body); got != want {
			t.Errorf("capture %d: response received %.60q…", i, got)
		}
		if got := string(x.Response.Sent.Body); got != want {
			t.Errorf("capture %d: response sent %.60q…", i, got)
		}
		if strings.Contains(string(x.Request.Sent.Body), testPAN) {
			t.Errorf("capture %d: the request as sent holds the card number", i)
		}
	}
}

// TestInboundAccessLinesOncePerRequestUnderLoad: concurrent inbound
// requests (the AccessLog writer and RouteInfo context are one allocation
// per request), some HEAD, some hung up on mid-body (ReverseProxy aborts
// the handler with a panic): exactly one access line each, with its own
// path, route and status.
func TestInboundAccessLinesOncePerRequestUnderLoad(t *testing.T) {
	const n = 96
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		body := reviewBody(i, false) + strings.Repeat(" ", 200<<10) // more than the sockets hold: a hang-up fails the copy
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, body)
		}
	})
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: c.Logger})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			method := http.MethodGet
			if i%7 == 3 {
				method = http.MethodHead
			}
			abort := i%3 == 1 && method == http.MethodGet
			tr := &http.Transport{DisableKeepAlives: abort}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest(method, g.URL+"/plain/r"+strconv.Itoa(i)+"?i="+strconv.Itoa(i), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			if abort {
				_, _ = io.ReadFull(resp.Body, make([]byte, 7))
				return
			}
			got, _ := io.ReadAll(resp.Body)
			if method == http.MethodGet && !strings.HasPrefix(string(got), reviewBody(i, false)) {
				t.Errorf("response %d is not its own", i)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(accessLines(c)) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a second line for a request would come now
	seen := map[string]int{}
	for _, l := range accessLines(c) {
		p, _ := l["path"].(string)
		seen[p]++
		if l["route"] != "plain" || l["status"] != float64(200) {
			t.Errorf("access line %v: route %v status %v", p, l["route"], l["status"])
		}
	}
	if len(accessLines(c)) != n || len(seen) != n {
		t.Errorf("%d access lines for %d requests", len(accessLines(c)), n)
	}
	for k, v := range seen {
		if v != 1 {
			t.Errorf("%s: %d access lines", k, v)
		}
	}
}

// echoPad is the padding of response i in the pooled-response tests above:
// a different length and content for each.
func echoPad(i int) string { return strings.Repeat(fmt.Sprintf("%03d", i), 300+10*i) }

// echoResponse is a response of those tests: its number, its padding and,
// for even numbers, an echo whose card number the response phase redacts.
type echoResponse struct {
	Echo struct{ Pan string }
	I    int
	Pad  string
}

// check reports an error unless v, read from body, is response i whole:
// its own number and padding, the echo exactly when i is even, and no card
// number in body.
func (v *echoResponse) check(t *testing.T, i int, body []byte) {
	t.Helper()
	if v.I != i || v.Pad != echoPad(i) || bytes.Contains(body, []byte(testPAN)) || (i%2 == 0) != (v.Echo.Pan != "") {
		t.Errorf("request %d got response %d, damaged or with the card number", i, v.I)
	}
}
