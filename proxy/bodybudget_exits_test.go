package proxy

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
)

// chunked returns body in HTTP/1.1 chunked encoding, chunks of size bytes,
// with its last chunk when whole.
func chunked(body []byte, size int, whole bool) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		n := min(size, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	if whole {
		b.WriteString("0\r\n\r\n")
	}
	return b.Bytes()
}

// budgetExchange sends req to g on a connection of its own
// (rawExchange) and returns the answer's status (0: none). cut closes
// the connection once req is written, without reading the answer.
func budgetExchange(t *testing.T, g *gateway, req []byte, cut bool) int {
	t.Helper()
	if !cut {
		var status int
		_, _ = fmt.Sscanf(rawExchange(t, g.Listener.Addr().String(), string(req)), "HTTP/1.1 %d", &status)
		return status
	}
	c, err := net.Dial("tcp", g.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestBodyBudgetEarlyExitsGiveEverythingBack (regression cover, passed
// before): every early exit of the readers that reserve a body as it is
// read (heldReader: a chunked body, a decoded copy) gives back what they
// reserved once the exchange is over: a decoder failing mid-stream, a
// gzip bomb cut by max_body, a chunked body past max_body, a chunked
// body whose client leaves halfway, a chunked body whose encoding breaks,
// and the same for responses (a bomb, a truncated gzip, an upstream that
// leaves halfway through a chunked answer; leak_guard log passes a
// response it cannot read, by design, so only the budget is checked).
func TestBodyBudgetEarlyExitsGiveEverythingBack(t *testing.T) {
	const maxBody = 64 << 10
	bomb := gz(t, []byte(`{"pad":"`+strings.Repeat("0", 4<<20)+`"}`)) // 4 MiB in a few KiB
	good := gz(t, []byte(`{"card":{"number":"`+testPAN+`"},"pad":"`+strings.Repeat("x", 20<<10)+`"}`))
	truncated := good[:len(good)/2]
	var rawDeflate bytes.Buffer
	fw, _ := flate.NewWriter(&rawDeflate, flate.BestSpeed)
	_, _ = fw.Write([]byte(`{"pad":"` + strings.Repeat("y", 30<<10) + `"}`))
	_ = fw.Close()
	badDeflate := append(bytes.Clone(rawDeflate.Bytes()[:rawDeflate.Len()/2]), 0xff, 0xff, 0xff, 0xff)

	answer := make(chan func(http.ResponseWriter), 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case f := <-answer:
			f(w)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	})
	b := bodybudget.New(64<<20, 0)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b, maxBody: maxBody})

	head := func(extra string) string {
		return "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n" + extra + "Connection: close\r\n\r\n"
	}
	for _, c := range []struct {
		name  string
		req   []byte
		cut   bool
		reply func(http.ResponseWriter)
		want  int // 0: any
	}{
		{name: "gzip bomb cut by max_body", req: append([]byte(head("Content-Encoding: gzip\r\n")), chunked(bomb, 700, true)...), want: http.StatusRequestEntityTooLarge},
		{name: "gzip cut mid-stream", req: append([]byte(head("Content-Encoding: gzip\r\n")), chunked(truncated, 500, true)...), want: http.StatusBadRequest},
		{name: "deflate broken mid-stream", req: append([]byte(head("Content-Encoding: deflate\r\n")), chunked(badDeflate, 500, true)...), want: http.StatusBadRequest},
		{name: "chunked past max_body", req: append([]byte(head("")), chunked([]byte(`{"pad":"`+strings.Repeat("z", 2*maxBody)+`"}`), 3000, true)...), want: http.StatusRequestEntityTooLarge},
		{name: "chunked, client leaves halfway", req: append([]byte(head("")), chunked([]byte(`{"pad":"`+strings.Repeat("z", 40<<10)), 3000, false)...), cut: true},
		{name: "chunked encoding breaks", req: append([]byte(head("")), append(chunked([]byte(`{"pad":"`+strings.Repeat("z", 20<<10)), 3000, false), "zz\r\nnot a chunk\r\n"...)...), want: http.StatusBadRequest},
		{name: "response gzip bomb", req: []byte("GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), reply: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(bomb)
		}},
		{name: "response gzip truncated", req: []byte("GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), reply: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(truncated)
		}},
		{name: "response chunked, upstream leaves halfway", req: []byte("GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), reply: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"pad":"`+strings.Repeat("q", 30<<10))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
	} {
		if c.reply != nil {
			answer <- c.reply
		}
		status := budgetExchange(t, g, c.req, c.cut)
		if c.want != 0 && status != c.want {
			t.Errorf("%s: status %d, want %d", c.name, status, c.want)
		}
		waitGivenBack(t, b, c.name)
		select {
		case <-answer: // not used: the request never reached the upstream
		default:
		}
	}
	if b.Peak() == 0 {
		t.Fatal("nothing was ever reserved: the cases read no body")
	}
}

// TestBodyBudgetSmallDeclaredLengthButChunked (regression cover, passed
// before): a body that declares a small Content-Length but is sent
// chunked is read as chunked (net/http drops the length: RFC 9112 6.3),
// so it is reserved as it is read, not as the few bytes it declared: a
// 32 KiB document declaring 10 bytes under an 8 KiB budget is refused,
// never read whole past the budget. A gzip body whose decoded copy is
// max_body (1 KiB sent) under a sender's share smaller than max_body is
// refused for the share (429 source_busy), its decoded copy reserved as
// decoded. Both give everything back.
func TestBodyBudgetSmallDeclaredLengthButChunked(t *testing.T) {
	up := newUpstream(t, nil)
	b := bodybudget.New(8<<10, 0)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: b, maxBody: 1 << 20})
	doc := []byte(`{"card":{"number":"` + testPAN + `"},"pad":"` + strings.Repeat("x", 32<<10) + `"}`)
	req := append([]byte("POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"+
		"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"), chunked(doc, 4000, true)...)
	if status := budgetExchange(t, g, req, false); status == http.StatusOK || status == 0 {
		t.Errorf("a 32 KiB chunked body declaring 10 bytes under an 8 KiB budget: status %d, want a refusal", status)
	}
	if got := len(up.requests()); got != 0 {
		t.Errorf("the upstream received %d requests, want none", got)
	}
	if p := b.Peak(); p > 8<<10 {
		t.Errorf("peak %d past the budget", p)
	}
	waitGivenBack(t, b, "chunked body declaring a small length")

	const maxBody = 256 << 10
	shared := bodybudget.New(1<<20, 64<<10)
	g = newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{budget: shared, maxBody: maxBody})
	bomb := gz(t, []byte(`{"pad":"`+strings.Repeat("0", maxBody-20)+`"}`))
	if len(bomb) > 2<<10 {
		t.Fatalf("the gzip body is %d bytes, want about 1 KiB", len(bomb))
	}
	resp, body := g.do(t, "POST", "/json", "application/json", bytes.NewReader(bomb), map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "source_busy") {
		t.Errorf("1 KiB of gzip decoding to max_body past a 64 KiB share: %d %s, want 429 source_busy", resp.StatusCode, obstestMask(string(body)))
	}
	if p := shared.Peak(); p > 64<<10 {
		t.Errorf("peak %d past the share", p)
	}
	waitGivenBack(t, shared, "gzip body past the share")
}

// dataErrReader returns its data and err with the same Read, then err.
type dataErrReader struct {
	data []byte
	err  error
}

func (r *dataErrReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, r.err
}

// TestHoldBodiesGivesBackOnEveryExit (regression cover, passed before): an
// API's document of unknown length (apiBody) gives back all it reserved
// once the handler returns, whatever way: a Read returning bytes with an
// error, the API closing the body before its end (twice), reading part
// of it, or panicking mid-read; and while it is read it holds at most a
// step past what was read.
func TestHoldBodiesGivesBackOnEveryExit(t *testing.T) {
	b := bodybudget.New(1<<20, 0)
	doc := []byte(strings.Repeat("d", 10<<10))
	for _, c := range []struct {
		name string
		body io.Reader
		api  func(r *http.Request)
	}{
		{"bytes with an error", &dataErrReader{data: doc, err: io.ErrUnexpectedEOF}, func(r *http.Request) { _, _ = io.ReadAll(r.Body) }},
		{"bytes with EOF", &dataErrReader{data: doc, err: io.EOF}, func(r *http.Request) { _, _ = io.ReadAll(r.Body) }},
		{"closed before its end, twice", bytes.NewReader(doc), func(r *http.Request) {
			var p [1000]byte
			_, _ = r.Body.Read(p[:])
			_ = r.Body.Close()
			_ = r.Body.Close()
		}},
		{"partly read", bytes.NewReader(doc), func(r *http.Request) { _, _ = io.ReadFull(r.Body, make([]byte, 3000)) }},
		{"panic mid-read", bytes.NewReader(doc), func(r *http.Request) {
			_, _ = io.ReadFull(r.Body, make([]byte, 3000))
			panic("the API failed")
		}},
	} {
		var during int64
		h := HoldBodies(b, 64<<10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.api(r)
			during = b.Used()
			w.WriteHeader(http.StatusNoContent)
		}))
		req := httptest.NewRequest("POST", "/v1/x", nil)
		req.Body, req.ContentLength = io.NopCloser(c.body), -1
		func() {
			defer func() { _ = recover() }()
			h.ServeHTTP(httptest.NewRecorder(), req)
		}()
		if during > int64(len(doc))+heldStep && during != 0 {
			t.Errorf("%s: %d bytes held for a %d-byte document", c.name, during, len(doc))
		}
		if u := b.Used(); u != 0 {
			t.Errorf("%s: %d bytes still held once the handler returned", c.name, u)
		}
	}
	if b.Peak() == 0 {
		t.Fatal("nothing was ever reserved")
	}
}
