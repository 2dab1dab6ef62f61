package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aliasgate/aliasgate/routes"
)

// TestBodyPoolClassesAndClear: get gives a buffer of the smallest class
// that holds n bytes (none above the largest), put clears what it keeps
// and clears a buffer of no class too, which it drops.
func TestBodyPoolClassesAndClear(t *testing.T) {
	var bp bodyPool
	for _, tc := range []struct {
		n       int64
		wantCap int // 0: no buffer
	}{
		{1, 1 << 10}, {1024, 1 << 10}, {1025, 2 << 10}, {4000, 4 << 10}, {64 << 10, 64 << 10}, {64<<10 + 1, 0},
	} {
		p := bp.get(tc.n)
		switch {
		case tc.wantCap == 0 && p != nil:
			t.Errorf("get(%d): a buffer of %d bytes, want none", tc.n, cap(*p))
		case tc.wantCap != 0 && (p == nil || cap(*p) != tc.wantCap || len(*p) != tc.wantCap):
			t.Errorf("get(%d): %v, want %d bytes", tc.n, p, tc.wantCap)
		}
	}
	p := bp.get(1500)
	copy(*p, "4111111111111111 and more")
	*p = (*p)[:16]
	bp.put(p)
	if len(*p) != 2<<10 || !bytes.Equal(*p, make([]byte, 2<<10)) {
		t.Fatal("put kept a buffer that is not all zeros")
	}
	odd := make([]byte, 3000)
	copy(odd, testPAN)
	bp.put(&odd) // no class: cleared and dropped, not kept
	if !bytes.Equal(odd, make([]byte, len(odd))) {
		t.Fatal("put dropped a buffer of no class without clearing it")
	}
	if q := bp.get(3000); q != nil && &(*q)[0] == &odd[0] {
		t.Fatal("a buffer of no class came back")
	}
}

// TestReadBodyIntoBuffer: a declared length is read into the buffer given
// when it has room, else into a new one; a body longer than declared is
// still read whole (up to max), a shorter one is an error.
func TestReadBodyIntoBuffer(t *testing.T) {
	buf := make([]byte, 64)
	for _, tc := range []struct {
		name        string
		body        string
		length, max int64
		buf         []byte
		inBuf       bool
		err         error
	}{
		{"fits the buffer", "hello", 5, 100, buf, true, nil},
		{"no buffer", "hello", 5, 100, nil, false, nil},
		{"buffer too small", strings.Repeat("x", 100), 100, 1000, buf, false, nil},
		{"longer than declared", "hello world", 5, 100, buf, true, nil},
		{"longer than declared and max", "hello world", 5, 8, buf, true, errTooLarge},
		{"fills the buffer, longer", strings.Repeat("x", 65), 64, 100, buf, false, nil}, // grown past it
		{"fills the buffer", strings.Repeat("x", 64), 64, 100, buf, true, nil},
		{"no buffer, longer", "hello world", 5, 100, nil, false, nil},
		{"shorter than declared", "hel", 5, 100, buf, true, io.ErrUnexpectedEOF},
		{"unknown length", "hello", -1, 100, buf, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(iotest.HalfReader(strings.NewReader(tc.body)), tc.length, tc.max, tc.buf)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			want := tc.body
			if int64(len(want)) > tc.max+1 {
				want = want[:tc.max+1]
			}
			if tc.err == nil && string(got) != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			if inBuf := len(got) > 0 && &got[0] == &buf[0]; inBuf != tc.inBuf {
				t.Fatalf("read into the buffer given: %v, want %v", inBuf, tc.inBuf)
			}
		})
	}
}

// TestReadBodyAllocatesNothingIntoABuffer: a body of declared length read
// into a buffer with room (a pooled one) costs no allocation; the byte
// that tells a longer body was read into a [1]byte of its own, which
// escaped to the heap through the reader for every body.
func TestReadBodyAllocatesNothingIntoABuffer(t *testing.T) {
	buf := make([]byte, 0, 2048)
	body := strings.Repeat("x", 1034)
	r := strings.NewReader(body)
	n := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		got, err := readBody(r, int64(len(body)), 4096, buf)
		if err != nil || len(got) != len(body) {
			t.Fatalf("readBody = %d bytes, %v", len(got), err)
		}
	})
	if n != 0 {
		t.Errorf("readBody: %v allocations, want 0", n)
	}
}

// TestPooledBodiesDoNotCross: many concurrent requests whose bodies the
// filters rewrite (so their buffers go back to the pool and are used again
// at once), mixed with requests the filters read but leave as they are
// (their buffers are what is sent, never pooled), each reach the upstream
// whole and as their own, inbound (redact) and outbound (reveal).
func TestPooledBodiesDoNotCross(t *testing.T) {
	const n = 64
	doc := func(i int, number string) string {
		if i%2 == 1 {
			number = "" // nothing to change
		}
		// 1-3 KiB, so the bodies fall in different classes
		return fmt.Sprintf(`{"card":{"number":%q},"i":%d,"pad":%q}`, number, i, echoPad(i))
	}
	check := func(t *testing.T, got []received, number string) {
		t.Helper()
		for _, v := range cardDocsOnce(t, got, n, nil) {
			if v.I%2 == 1 && v.Card.Number != "" || v.I%2 == 0 && number != "" && v.Card.Number != number || v.Pad != echoPad(v.I) {
				t.Fatalf("body %d arrived damaged (number %q)", v.I, v.Card.Number)
			}
		}
	}
	t.Run("inbound", func(t *testing.T) {
		up := newUpstream(t, nil)
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, body := g.do(t, "POST", "/json", "application/json", strings.NewReader(doc(i, testPAN)), nil)
				if resp.StatusCode != 200 {
					t.Errorf("status %d: %s", resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		got := up.requests()
		for _, r := range got {
			if bytes.Contains(r.Body, []byte(testPAN)) {
				t.Fatal("the upstream got the card number")
			}
		}
		check(t, got, "")
	})
	t.Run("outbound", func(t *testing.T) {
		psp := newTLSUpstream(t, nil)
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
		panA, _ := aliases(t, g.vault)
		cl := g.client()
		defer cl.CloseIdleConnections()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, body := post(t, cl, "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json", doc(i, panA))
				if resp.StatusCode != 200 {
					t.Errorf("status %d: %s", resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		check(t, psp.requests(), testPAN)
	})
}

// TestPooledBodiesDoNotCrossResponsesAndGzip: the other ways a pooled
// buffer goes back. Outbound responses whose echo.pan the response phase
// redacts (their buffers are pooled) mixed with ones it leaves as they
// are, through intercepted tunnels at once: each client gets its own
// response, whole, with no card number. Inbound gzip request bodies (the
// compressed bytes are in the pooled buffer, the rewrite works on the
// decoded copy): each upstream request decodes to its own body with the
// card number replaced.
func TestPooledBodiesDoNotCrossResponsesAndGzip(t *testing.T) {
	const n = 48
	t.Run("outbound responses", func(t *testing.T) {
		psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			var in struct{ I int } // the handler read the body already: the query says which
			_, _ = fmt.Sscan(r.URL.Query().Get("i"), &in.I)
			echo := ""
			if in.I%2 == 0 {
				echo = fmt.Sprintf(`"echo":{"pan":%q},`, testPAN)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{%s"i":%d,"pad":%q}`, echo, in.I, echoPad(in.I))
		})
		g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
		cl := g.client()
		defer cl.CloseIdleConnections()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, body := post(t, cl, "https://psp.example.com:"+psp.port()+"/v1/echo?i="+strconv.Itoa(i), "application/json", fmt.Sprintf(`{"i":%d}`, i))
				var v struct {
					Echo struct{ Pan string }
					I    int
					Pad  string
				}
				if err := json.Unmarshal([]byte(body), &v); err != nil || resp.StatusCode != 200 {
					t.Errorf("request %d: status %d, body does not parse: %v", i, resp.StatusCode, err)
					return
				}
				if v.I != i || v.Pad != echoPad(i) || strings.Contains(body, testPAN) || (i%2 == 0) != (v.Echo.Pan != "") {
					t.Errorf("request %d got response %d, damaged or with the card number (echo %q)", i, v.I, v.Echo.Pan)
				}
			})
		}
		wg.Wait()
	})
	t.Run("inbound gzip requests", func(t *testing.T) {
		up := newUpstream(t, nil)
		g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var zb bytes.Buffer
				zw := gzip.NewWriter(&zb)
				_, _ = fmt.Fprintf(zw, `{"card":{"number":%q},"i":%d,"pad":%q}`, testPAN, i, echoPad(i))
				_ = zw.Close()
				resp, body := g.do(t, "POST", "/json", "application/json", &zb, map[string]string{"Content-Encoding": "gzip"})
				if resp.StatusCode != 200 {
					t.Errorf("status %d: %s", resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		gunzip := func(b []byte) []byte {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("a body the upstream got is not gzip: %v", err)
			}
			return must(io.ReadAll(zr))
		}
		for _, v := range cardDocsOnce(t, up.requests(), n, gunzip) {
			if v.Card.Number == "" || v.Card.Number == testPAN || v.Pad != echoPad(v.I) {
				t.Fatalf("body %d arrived damaged or with the card number", v.I)
			}
		}
	})
}

// cardDoc is the request body of the pooling and lifetime tests: a card
// number (or its alias), the request's number and a padding of its own.
type cardDoc struct {
	Card struct{ Number string }
	I    int
	Pad  string
}

// cardDocsOnce parses the bodies the upstream got (each through decode
// first, when it is not nil), in the order of got, failing the test unless
// there are n, each parses and no request number comes twice.
func cardDocsOnce(t *testing.T, got []received, n int, decode func([]byte) []byte) []cardDoc {
	t.Helper()
	if len(got) != n {
		t.Fatalf("the upstream got %d requests, want %d", len(got), n)
	}
	docs := make([]cardDoc, len(got))
	seen := map[int]bool{}
	for i, r := range got {
		b := r.Body
		if decode != nil {
			b = decode(b)
		}
		if err := json.Unmarshal(b, &docs[i]); err != nil {
			t.Fatalf("a body the upstream got does not parse: %v: %.80q", err, b)
		}
		if seen[docs[i].I] {
			t.Fatalf("body %d arrived twice", docs[i].I)
		}
		seen[docs[i].I] = true
	}
	return docs
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestMemBodyOwnedBuffer: a memBody reads its bytes like
// io.NopCloser(bytes.NewReader(b)); one that owns a buffer of bodyBuffers
// gives it back cleared on its first Close only, and reads nothing from
// it after (io.EOF), so a Read after Close never sees another body's
// bytes. One that owns none still reads after Close, as NopCloser does.
func TestMemBodyOwnedBuffer(t *testing.T) {
	p := bodyBuffers.get(40)
	b := append((*p)[:0], `{"pan":"`+testPAN+`"}`...)
	m := newMemBody(b, p)
	if !m.unread() {
		t.Fatal("a new body reports it was read")
	}
	head := make([]byte, 5)
	if n, err := m.Read(head); n != 5 || err != nil || string(head) != `{"pan` {
		t.Fatalf("Read: %d %v %q", n, err, head)
	}
	if m.unread() {
		t.Fatal("a body read from reports it was not")
	}
	buf := (*p)[:cap(*p)]
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m.pooled != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatal("Close did not give back the buffer cleared")
	}
	copy(buf, "another body's bytes") // the pool hands it to another body
	if n, err := m.Read(head); n != 0 || err != io.EOF {
		t.Fatalf("Read after Close: %d %v, want 0 EOF", n, err)
	}
	if err := m.Close(); err != nil || string(buf[:7]) != "another" {
		t.Fatal("a second Close touched the buffer again")
	}

	plain := newMemBody([]byte("hello"), nil)
	_ = plain.Close()
	if got, err := io.ReadAll(plain); err != nil || string(got) != "hello" {
		t.Fatalf("a body owning no buffer after Close: %q %v", got, err)
	}
}

// TestRequestBodyReuse: timeoutTransport sends the request phase's own
// reader only while nothing has read it and its length is the request's;
// otherwise (and without a buffered body) it takes one from GetBody.
func TestRequestBodyReuse(t *testing.T) {
	var none *reqState
	if none.requestBody(5) != nil || (&reqState{}).requestBody(5) != nil {
		t.Fatal("a body without one buffered")
	}
	st := &reqState{body: newMemBody([]byte("hello"), nil)}
	if st.requestBody(5) != st.body {
		t.Fatal("an unread body of the right length was not used")
	}
	if st.requestBody(6) != nil {
		t.Fatal("a body of another length was used")
	}
	_, _ = st.body.Read(make([]byte, 1))
	if st.requestBody(5) != nil {
		t.Fatal("a body something read from was used")
	}
}

// TestPooledResponseBodiesDoNotCross: inbound responses the leak guard
// reads into pooled buffers, concurrently: those it masks (their buffers go
// back at once) mixed with those it leaves as they are (their buffers go
// back when the proxy closes the body it wrote), of 1-3 KiB with their
// length declared, mixed with gzip ones (the transport decodes them: no
// length). Each client gets its own response, whole, with no card number,
// and the upstream gets each request body whole (sent from the request
// phase's own reader).
func TestPooledResponseBodiesDoNotCross(t *testing.T) {
	const n = 64
	doc := `routes:
  - id: guarded
    direction: inbound
    host: "*"
    upstream: {{UP}}
    leak_guard: redact
    filters:
      - id: cards
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
`
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var in struct{ I int }
		_, _ = fmt.Sscan(r.URL.Query().Get("i"), &in.I)
		echo := ""
		if in.I%2 == 0 {
			echo = fmt.Sprintf(`"echo":%q,`, testPAN)
		}
		body := fmt.Sprintf(`{%s"i":%d,"pad":%q}`, echo, in.I, echoPad(in.I))
		w.Header().Set("Content-Type", "application/json")
		if in.I%3 == 0 {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = io.WriteString(zw, body)
			_ = zw.Close()
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body))) // a declared length: read into a pooled buffer
		_, _ = io.WriteString(w, body)
	})
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := fmt.Sprintf(`{"card":{"number":%q},"i":%d,"pad":%q}`, testPAN, i, echoPad(i))
			resp, body := g.do(t, "POST", "/pay?i="+strconv.Itoa(i), "application/json", strings.NewReader(req), nil)
			var v struct {
				Echo string
				I    int
				Pad  string
			}
			if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != 200 {
				t.Errorf("request %d: status %d, body does not parse: %v", i, resp.StatusCode, err)
				return
			}
			if v.I != i || v.Pad != echoPad(i) || bytes.Contains(body, []byte(testPAN)) || (i%2 == 0) != (v.Echo != "") {
				t.Errorf("request %d got response %d, damaged or with the card number (echo %q)", i, v.I, v.Echo)
			}
		})
	}
	wg.Wait()
	for _, v := range cardDocsOnce(t, up.requests(), n, nil) {
		if v.Card.Number == "" || v.Card.Number == testPAN || v.Pad != echoPad(v.I) {
			t.Fatalf("body %d arrived damaged or with the card number", v.I)
		}
	}
}

// TestTimeoutTransportBodies: the first round trip of an exchange sends the
// request phase's own reader (GetBody is not asked) and wraps the response
// in the exchange's own cancelBody; a second one (its reader read already)
// sends GetBody's and wraps the response in a new cancelBody. Each sends
// the whole body and closing a response body ends the proxy's context.
func TestTimeoutTransportBodies(t *testing.T) {
	st := &reqState{body: newMemBody([]byte("hello"), nil)}
	st.upstream, st.cancel = context.WithCancelCause(context.Background())
	ctx := context.WithValue(st.upstream, stateKey{}, st)
	getBodies := 0
	var sent []string
	tt := &timeoutTransport{d: time.Hour, rt: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		sent = append(sent, string(b))
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})}
	trip := func() *http.Response {
		req, err := http.NewRequestWithContext(ctx, "POST", "http://up.test/", st.body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 5
		req.GetBody = func() (io.ReadCloser, error) {
			getBodies++
			return io.NopCloser(bytes.NewReader([]byte("hello"))), nil
		}
		resp, err := tt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := trip()
	if getBodies != 0 || first.Body != io.ReadCloser(&st.respBody) {
		t.Fatalf("first round trip: GetBody asked %d times, own response body %v", getBodies, first.Body == io.ReadCloser(&st.respBody))
	}
	second := trip()
	if getBodies != 1 || second.Body == io.ReadCloser(&st.respBody) {
		t.Fatalf("second round trip: GetBody asked %d times, shares the first's response body %v", getBodies, second.Body == io.ReadCloser(&st.respBody))
	}
	if len(sent) != 2 || sent[0] != "hello" || sent[1] != "hello" {
		t.Fatalf("sent %q", sent)
	}
	_ = second.Body.Close()
	if st.upstream.Err() == nil {
		t.Fatal("closing the body did not end the proxy's context")
	}
	_ = first.Body.Close()
}

// TestCopyBufferPool: the ReverseProxy buffers are 32 KiB, a buffer of
// another capacity is dropped, and giving one back allocates nothing.
func TestCopyBufferPool(t *testing.T) {
	var bp bufferPool
	b := bp.Get()
	if len(b) != 32<<10 || cap(b) != 32<<10 {
		t.Fatalf("Get: %d bytes (cap %d)", len(b), cap(b))
	}
	bp.Put(make([]byte, 100)) // dropped, no panic
	if allocs := testing.AllocsPerRun(100, func() { bp.Put(b[:10]) }); allocs != 0 {
		t.Fatalf("Put allocates %v times", allocs)
	}
	if g := bp.Get(); len(g) != 32<<10 {
		t.Fatalf("Get after Put: %d bytes", len(g))
	}
}

// TestSwapBodyOfTheLoopRequest: the first upstream response of a loop
// request is wrapped in the loopReq's own swapBody, any later one (and one
// without a loopReq) in a new one; each reads its own body.
func TestSwapBodyOfTheLoopRequest(t *testing.T) {
	lr := &loopReq{}
	first := newSwapBody(lr, io.NopCloser(strings.NewReader("one")))
	second := newSwapBody(lr, io.NopCloser(strings.NewReader("two")))
	other := newSwapBody(nil, io.NopCloser(strings.NewReader("three")))
	if first != &lr.body || second == &lr.body || other == &lr.body {
		t.Fatal("the loopReq's swapBody was not used exactly once")
	}
	for want, b := range map[string]*swapBody{"one": first, "two": second, "three": other} {
		if got, err := io.ReadAll(b); err != nil || string(got) != want || b.n != int64(len(want)) {
			t.Fatalf("read %q (%d counted) %v, want %q", got, b.n, err, want)
		}
	}
}

// TestRefusedResponseBufferIsCleared: a response body the phase read into
// a buffer of bodyBuffers and then did not send (the leak guard refused
// it, the body broke off, it was longer than declared and over max_body)
// leaves no byte of it in that buffer once the exchange is over, whether
// the buffer went back to the pool or was dropped. The transport records
// the buffer the gateway read the body into (the slice of the first Read).
func TestRefusedResponseBufferIsCleared(t *testing.T) {
	const (
		pan    = "4000056655665556" // in no other test: the pool may hold their bodies
		marker = "refused-buffer-marker"
	)
	body := `{"pan":"` + pan + `","note":"` + marker + `","pad":"` + strings.Repeat("x", 1400) + `"}`
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	})
	set := parseRoutes(t, `routes:
  - id: guarded
    direction: inbound
    host: "*"
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: cards
        operation: redact
        targets: [{json: card.number}]
`, up.URL)
	for _, tc := range []struct {
		name   string
		length int64 // the declared length the transport reports; 0: the body's
		cut    int   // the body breaks off after this many bytes; 0: never
		max    int64 // max_body
		reason string
	}{
		{name: "leak guard blocks", max: 4096, reason: "card_data_leak"},
		{name: "body breaks off", cut: 1000, max: 4096, reason: "body_unreadable"},
		{name: "longer than declared, over max_body", length: 1100, max: 1200, reason: "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := &recordingBody{cut: tc.cut, closed: make(chan struct{})}
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := http.DefaultTransport.RoundTrip(r)
				if err != nil {
					return nil, err
				}
				rb.ReadCloser = resp.Body
				resp.Body = rb
				if tc.length > 0 {
					resp.ContentLength = tc.length
					resp.Header.Set("Content-Length", strconv.FormatInt(tc.length, 10))
				}
				return resp, nil
			})
			in, err := NewInbound(InboundOptions{Table: routes.NewTable(set), Tokenizer: newTestVault(t).tok,
				Transport: rt, MaxBody: tc.max, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(in)
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(got), tc.reason) || strings.Contains(string(got), pan) {
				t.Fatalf("%d %s, want 502 %s", resp.StatusCode, got, tc.reason)
			}
			<-rb.closed // the gateway is done with the exchange
			buf := rb.buffer()
			if cap(buf) < minPooledBody {
				t.Fatalf("the body was read into %d bytes, not a buffer of bodyBuffers", cap(buf))
			}
			if buf = buf[:cap(buf)]; bytes.Contains(buf, []byte(pan)) || bytes.Contains(buf, []byte(marker)) {
				t.Fatal("the refused response's buffer still holds its body")
			}
		})
	}
}

// recordingBody is an upstream's response body that remembers the buffer
// its first Read filled, breaks off after cut bytes (0: never) and closes
// closed when it is closed.
type recordingBody struct {
	io.ReadCloser
	cut    int
	n      int
	mu     sync.Mutex
	first  []byte
	closed chan struct{}
	once   sync.Once
}

func (b *recordingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.first == nil {
		b.first = p
	}
	b.mu.Unlock()
	if b.cut > 0 {
		if b.n >= b.cut {
			return 0, errors.New("connection reset")
		}
		p = p[:min(len(p), b.cut-b.n)]
	}
	n, err := b.ReadCloser.Read(p)
	b.n += n
	return n, err
}

func (b *recordingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { close(b.closed) })
	return err
}

func (b *recordingBody) buffer() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.first
}

// TestMemBodyOfTheState: the first body of each phase of an exchange is
// the state's own memBody, a later one a new one; each reads its own
// bytes, and the one that owns a buffer gives it back cleared on Close.
func TestMemBodyOfTheState(t *testing.T) {
	st := &reqState{}
	p := bodyBuffers.get(10)
	buf := (*p)[:cap(*p)]
	b := append((*p)[:0], "response"...)
	req := st.memBodyFor(routes.Request, []byte("request"), nil)
	resp := st.memBodyFor(routes.Response, b, p)
	again := st.memBodyFor(routes.Request, []byte("again"), nil)
	if req != &st.mems[0] || resp != &st.mems[1] || again == req || again == resp {
		t.Fatal("the state's memBodies were not used exactly once per phase")
	}
	for want, m := range map[string]*memBody{"request": req, "again": again} {
		if got, err := io.ReadAll(m); err != nil || string(got) != want {
			t.Fatalf("read %q %v, want %q", got, err, want)
		}
	}
	if got, err := io.ReadAll(resp); err != nil || string(got) != "response" {
		t.Fatalf("read %q %v, want response", got, err)
	}
	if err := resp.Close(); err != nil || resp.pooled != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatal("Close did not give the response's buffer back cleared")
	}
}
