package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// crossPAN returns a Luhn-valid 16-digit card number of its own for each i
// (i < 10^4), its last four digits i's: each is the only one of its FPE
// group (first six and last four digits), so no FPE alias of one is
// another.
func crossPAN(t testing.TB, i int) string {
	t.Helper()
	for d := '0'; d <= '9'; d++ {
		if p := fmt.Sprintf("40000012345%c%04d", d, i); pan.Valid(p) {
			return p
		}
	}
	t.Fatalf("no card number for %d", i)
	return ""
}

// crossPad is the padding of message i: letters only (no digits a card
// number could be read in), of a length of its own between 200 bytes and
// 9 KiB, so that the bodies fall in every class of bodyBuffers up to 16
// KiB.
func crossPad(i int) string {
	return strings.Repeat(string(rune('a'+i%26)), 200+(i*397)%9000)
}

// answerPad is the padding of answer i: letters only, 44 to 53 KiB, so
// that every answer, with what it echoes, falls in the largest class of
// bodyBuffers, and all of them use the same few buffers.
func answerPad(i int) string {
	return strings.Repeat(string(rune('A'+i%26)), 44<<10+(i*397)%9000)
}

// crossDoc is the JSON body of the crossing tests, both ways.
type crossDoc struct {
	Card struct {
		Number string `json:"number"`
	} `json:"card"`
	Echo struct {
		Pan string `json:"pan"`
	} `json:"echo"`
	I    int    `json:"i"`
	Pad  string `json:"pad"`
	Note string `json:"note,omitempty"`
	Got  string `json:"got,omitempty"`
}

// revealOne reveals alias through the test vault's tokenizer ("" when it
// is no alias).
func revealOne(t testing.TB, tv *testVault, alias string) string {
	t.Helper()
	got, err := tv.tok.Reveal(context.Background(), []string{alias})
	if err != nil {
		t.Errorf("reveal %q: %v", pan.MaskAll(alias), err)
		return ""
	}
	return got[0]
}

// TestExchangeStateDoesNotCrossUnderConcurrency drives many concurrent
// exchanges with distinct card numbers through the inbound proxy, the
// ordinary ones (bodies of every pooled class, plain and gzip) mixed with
// every way an exchange ends early: the upstream failing after reading
// the request, a client leaving mid-body, bodies over max_body, the leak
// guard refusing a request, a response the guard refuses, a response
// shorter than its Content-Length. The pooled body buffers, the made
// lists and the per-exchange cells are used again at once by the next
// exchanges. Each request the upstream gets carries only its own alias
// (body and header, revealing to its own card number), with its own
// padding and a Content-Length that is its body's; each client gets only
// its own answer; nothing refused reaches the upstream.
//
// The exchanges whose bodies go on as they were read, in their pooled
// buffers (a request with no card number, answered with none), are held
// open by their clients while all the others run: a buffer given back to
// the pool before its body is written out would be read into by the
// others, and its client would get their bytes (this fails in every run
// when memBody's buffer goes back before its Close, or a request body's
// before it is sent).
//
// One of the neighbours redacts a card number whose FPE alias X is also
// stored in the vault as a value (card data to the guard): X is in that
// exchange's made list, and every other request sending X in clear is
// refused, however the exchanges interleave.
func TestExchangeStateDoesNotCrossUnderConcurrency(t *testing.T) {
	const doc = `routes:
  - id: mix
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: card-in
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
          - {header: X-Card, format: FPE_SIX_T_FOUR}
      - id: card-out
        phase: response
        operation: redact
        targets: [{json: echo.pan, format: FPE_SIX_T_FOUR}]
`
	const (
		kOK       = iota // 200: redacted, forwarded, answered with an echo
		kGzip            // the same with a gzip body
		kNeighbor        // 200: redacts the card number whose alias is X
		kFail            // 502: the upstream reads it and drops the connection
		kLeakReq         // 422: X in clear beside its own card number
		kGone            // the client leaves mid-body: never forwarded
		kOversize        // 413: over max_body, never forwarded
		kLeakResp        // 502: the upstream answers its card number in clear
		kShort           // 502: the answer is shorter than its Content-Length
		kPlain           // 200: no card number either way, both bodies sent as read
		kinds
	)
	const n = 18 * kinds
	const maxBody = 64 << 10
	tv := newTestVault(t)
	ctx := context.Background()
	neighborPAN := crossPAN(t, 9999)
	made, err := tv.tok.Redact(ctx, []rewrite.RedactItem{{Value: neighborPAN, Format: "FPE_SIX_T_FOUR"}})
	if err != nil {
		t.Fatal(err)
	}
	x := made[0]
	if !pan.Valid(x) || x == neighborPAN {
		t.Fatalf("the FPE alias is no card-like number")
	}
	if _, err := tv.tok.Redact(ctx, []rewrite.RedactItem{{Value: x}}); err != nil {
		t.Fatal(err) // X is now a stored value too
	}
	pans := make([]string, n)
	for i := range pans {
		pans[i] = crossPAN(t, i)
	}
	kindOf := func(i int) int { return i % kinds }

	var lengthMismatch atomic.Int32
	var up *upstream
	up = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.Header.Get("X-I"))
		var got received // the handler recorded it (and read its body) just now
		for _, rq := range up.requests() {
			if rq.Header.Get("X-I") == r.Header.Get("X-I") {
				got = rq
			}
		}
		if r.ContentLength != int64(len(got.Body)) {
			lengthMismatch.Add(1)
		}
		switch kindOf(i) {
		case kFail:
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close()
			}
			return
		case kShort:
			w.Header().Set("Content-Length", "5000")
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"i":`+strconv.Itoa(i)+`,"pad":"`+crossPad(i)[:100])
			return
		}
		var out crossDoc
		out.I, out.Pad, out.Got = i, answerPad(i), string(plainBody(t, got))
		out.Echo.Pan = pans[i]
		if kindOf(i) == kPlain {
			out.Echo.Pan = ""
		}
		if kindOf(i) == kNeighbor {
			out.Echo.Pan = neighborPAN
		}
		if kindOf(i) == kLeakResp {
			out.Note = pans[i]
		}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
	g := newGateway(t, parseRoutes(t, doc, up.URL), tv, gwOptions{maxBody: maxBody, logger: obstest.Logger(t)})

	body := func(i int) []byte {
		var d crossDoc
		d.Card.Number, d.I, d.Pad = pans[i], i, crossPad(i)
		switch kindOf(i) {
		case kNeighbor:
			d.Card.Number = neighborPAN
		case kLeakReq:
			d.Note = x
		case kOversize:
			d.Pad = strings.Repeat("z", maxBody)
		case kPlain:
			d.Card.Number = ""
		}
		b, _ := json.Marshal(d)
		return b
	}
	// Sanity, one at a time: X in clear is card data; the neighbour's
	// request passes with X as its alias.
	if resp, b := g.do(t, "POST", "/pay", "application/json", bytes.NewReader(body(kLeakReq)), map[string]string{"X-I": strconv.Itoa(kLeakReq)}); resp.StatusCode != 422 {
		t.Fatalf("X in clear alone: %d %s, want 422", resp.StatusCode, b)
	}

	type result struct {
		code      int
		delivered string
		body      []byte
	}
	// The answers sent as read (kPlain) are asked for first, through a
	// listener of the same proxy with small send buffers (newHeldServer),
	// by a client with a small receive window that reads their bodies only
	// once every other exchange is over: the proxy is still writing them
	// out of their pooled buffers while the other exchanges read bodies
	// into the pool's buffers (of the same class: every answer is 44 to
	// 63 KiB).
	held := &http.Client{Transport: &http.Transport{DialContext: smallWindowDial}}
	defer held.CloseIdleConnections()
	heldURL := newHeldServer(t, g.in).URL
	results := make([]result, n)
	var headersIn, plainDone, others sync.WaitGroup
	othersDone := make(chan struct{})
	send := func(i int) {
		b := body(i)
		if kindOf(i) == kGone {
			c, err := net.Dial("tcp", g.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /pay HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nX-I: %d\r\nX-Card: %s\r\nContent-Length: %d\r\n\r\n", i, pans[i], len(b)+500)
			_, _ = c.Write(b[:len(b)/2])
			return
		}
		var rd io.Reader = bytes.NewReader(b)
		hdr := map[string]string{"X-I": strconv.Itoa(i), "X-Card": pans[i]}
		switch kindOf(i) {
		case kNeighbor:
			hdr["X-Card"] = neighborPAN
		case kPlain:
			delete(hdr, "X-Card")
		case kGzip:
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			_, _ = zw.Write(b)
			_ = zw.Close()
			rd, hdr["Content-Encoding"] = &zb, "gzip"
		}
		u := g.URL
		if kindOf(i) == kPlain {
			u = heldURL
		}
		req, err := http.NewRequest("POST", u+"/pay", rd)
		if err != nil {
			t.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		cl := g.Client()
		if kindOf(i) == kPlain {
			cl = held
		}
		resp, err := cl.Do(req)
		if kindOf(i) == kPlain {
			headersIn.Done()
			<-othersDone
		}
		if err != nil {
			t.Errorf("request %d: %v", i, err)
			return
		}
		defer resp.Body.Close()
		rb, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Errorf("request %d: reading the answer: %v", i, err)
		}
		results[i] = result{resp.StatusCode, resp.Header.Get(DeliveredHeader), rb}
	}
	for i := range n {
		if kindOf(i) == kPlain {
			headersIn.Add(1)
			plainDone.Go(func() { send(i) })
		}
	}
	headersIn.Wait()
	for i := range n {
		if kindOf(i) != kPlain {
			others.Go(func() { send(i) })
		}
	}
	others.Wait()
	close(othersDone)
	plainDone.Wait()

	clear := func(b []byte) string { // the first card number of ours b holds in clear
		for _, p := range append(append([]string(nil), pans...), neighborPAN) {
			if bytes.Contains(b, []byte(p)) {
				return p
			}
		}
		return ""
	}
	want := map[int]int{kOK: 200, kGzip: 200, kNeighbor: 200, kFail: 502, kLeakReq: 422, kOversize: 413, kLeakResp: 502, kShort: 502, kPlain: 200}
	for i, r := range results {
		k := kindOf(i)
		if k == kGone {
			continue
		}
		if r.code != want[k] {
			t.Errorf("request %d (kind %d): status %d, want %d: %.200s", i, k, r.code, want[k], r.body)
			continue
		}
		if p := clear(r.body); p != "" {
			t.Errorf("request %d (kind %d): the answer holds a card number in clear (its own: %v)", i, k, p == pans[i])
		}
		if (k == kLeakResp || k == kShort) && r.delivered != "true" {
			t.Errorf("request %d: a refused response without %s", i, DeliveredHeader)
		}
		if r.code != 200 {
			continue
		}
		var a crossDoc
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Errorf("request %d: the answer does not parse: %v", i, err)
			continue
		}
		wantPAN := pans[i]
		if k == kNeighbor {
			wantPAN = neighborPAN
		}
		var fwd crossDoc
		if err := json.Unmarshal([]byte(a.Got), &fwd); err != nil {
			t.Errorf("request %d: the echo of what the upstream got does not parse: %v", i, err)
		}
		if a.I != i || a.Pad != answerPad(i) || fwd.I != i || fwd.Pad != crossPad(i) {
			t.Errorf("request %d got answer %d (echoing request %d), or damaged", i, a.I, fwd.I)
		}
		if k == kPlain {
			if a.Echo.Pan != "" || a.Got != string(body(i)) {
				t.Errorf("request %d: the answer sent as read is not its own", i)
			}
			continue
		}
		if got := revealOne(t, tv, a.Echo.Pan); got != wantPAN {
			t.Errorf("request %d: the answer's alias is not its own card number's (another's: %v)", i, got != "")
		}
	}

	seen := map[int]bool{}
	for _, r := range up.requests() {
		i, err := strconv.Atoi(r.Header.Get("X-I"))
		if err != nil || i < 0 || i >= n {
			t.Errorf("the upstream got a request without its number")
			continue
		}
		k := kindOf(i)
		if seen[i] {
			t.Errorf("request %d reached the upstream twice", i)
		}
		seen[i] = true
		if k == kLeakReq || k == kGone || k == kOversize {
			t.Errorf("request %d (kind %d) reached the upstream", i, k)
			continue
		}
		plain := plainBody(t, r)
		if (k == kGzip) != (r.Header.Get("Content-Encoding") == "gzip") {
			t.Errorf("request %d (kind %d) reached the upstream with Content-Encoding %q", i, k, r.Header.Get("Content-Encoding"))
		}
		if p := clear(plain); p != "" || clear([]byte(r.Header.Get("X-Card"))) != "" {
			t.Errorf("request %d reached the upstream with a card number in clear (its own: %v)", i, p == pans[i])
		}
		var d crossDoc
		if err := json.Unmarshal(plain, &d); err != nil {
			t.Errorf("request %d reached the upstream damaged: %v", i, err)
			continue
		}
		if k == kPlain {
			if !bytes.Equal(r.Body, body(i)) || r.Header.Get("X-Card") != "" {
				t.Errorf("request %d, sent as read, reached the upstream other than sent", i)
			}
			continue
		}
		wantPAN := pans[i]
		if k == kNeighbor {
			wantPAN = neighborPAN
			if d.Card.Number != x || r.Header.Get("X-Card") != x {
				t.Errorf("request %d: the neighbour's alias is not X", i)
			}
		}
		if d.I != i || d.Pad != crossPad(i) {
			t.Errorf("request %d reached the upstream as request %d, or damaged", i, d.I)
		}
		if got := revealOne(t, tv, d.Card.Number); got != wantPAN {
			t.Errorf("request %d: the body's alias is not its own card number's (another's: %v)", i, got != "")
		}
		if got := revealOne(t, tv, r.Header.Get("X-Card")); got != wantPAN {
			t.Errorf("request %d: the header's alias is not its own card number's (another's: %v)", i, got != "")
		}
	}
	for i := range n {
		switch k := kindOf(i); k {
		case kOK, kGzip, kNeighbor, kFail, kLeakResp, kShort, kPlain:
			if !seen[i] {
				t.Errorf("request %d (kind %d) never reached the upstream", i, k)
			}
		}
	}
	if m := lengthMismatch.Load(); m > 0 {
		t.Errorf("%d requests reached the upstream with a Content-Length other than their body's", m)
	}
}

// newHeldServer serves h (a gateway's proxy) on a listener whose
// connections have a small send buffer: what the proxy writes to a client
// that does not read waits in its writes (on loopback a send buffer
// otherwise takes a whole body of these tests at once).
func newHeldServer(t testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Listener = smallSendListener{s.Listener}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

type smallSendListener struct{ net.Listener }

func (l smallSendListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// smallWindowDial dials a connection whose receive buffer is small from
// its first packet (set before it connects: a window already announced
// does not shrink): what the peer writes to it past a few KiB waits in the
// peer's writes until it is read.
func smallWindowDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = setReceiveBuffer(fd, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	return d.DialContext(ctx, network, addr)
}

// plainBody is the body r carries, decoded when it is gzip.
func plainBody(t testing.TB, r received) []byte {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return r.Body
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Errorf("a gzip body that does not decode: %v", err)
		return nil
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Errorf("a gzip body that does not decode: %v", err)
	}
	return b
}

// TestOutboundExchangeStateDoesNotCrossUnderConcurrency is the outbound
// side: many concurrent requests through intercepted tunnels, each with
// the alias of a card number of its own, which the request phase reveals,
// mixed with a destination that fails after reading the request, requests
// whose alias the vault does not know (422), and answers the response
// guard masks (the route's leak_guard: redact, outbound's default): the
// card number of the request in clear, or X (the FPE alias a neighbour's
// response filter makes, which the vault also holds as a value) in clear.
// Each destination request carries only its own card number; each client
// gets its own answer with its own card number's alias; X is masked in
// every answer holding it in clear, while the neighbour's, whose filter
// made X, keeps it.
func TestOutboundExchangeStateDoesNotCrossUnderConcurrency(t *testing.T) {
	const routesDoc = `routes:
  - id: psp
    direction: outbound
    host: "*.example.com"
    filters:
      - id: reveal-json
        phase: request
        operation: reveal
        targets: [{json: card.number}]
      - id: redact-echo
        phase: response
        operation: redact
        targets: [{json: echo.pan, format: FPE_SIX_T_FOUR}]
`
	const (
		kOK       = iota // 200
		kNeighbor        // 200: the answer echoes the card number whose alias is X
		kFail            // 502: the destination drops the connection
		kUnknown         // 422: an alias the vault does not know
		kLeakResp        // 200: the answer's card number in clear is masked
		kLeakX           // 200: X in clear in the answer is masked
		kPlain           // 200: no card number either way, both bodies sent as read
		kinds
	)
	const n = 16 * kinds
	tv := newTestVault(t)
	ctx := context.Background()
	neighborPAN := crossPAN(t, 9998)
	made, err := tv.tok.Redact(ctx, []rewrite.RedactItem{{Value: neighborPAN, Format: "FPE_SIX_T_FOUR"}})
	if err != nil {
		t.Fatal(err)
	}
	x := made[0]
	if _, err := tv.tok.Redact(ctx, []rewrite.RedactItem{{Value: x}}); err != nil {
		t.Fatal(err)
	}
	pans := make([]string, n)
	items := make([]rewrite.RedactItem, n)
	for i := range pans {
		pans[i] = crossPAN(t, 1000+i)
		items[i] = rewrite.RedactItem{Value: pans[i]}
	}
	toks, err := tv.tok.Redact(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	kindOf := func(i int) int { return i % kinds }

	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		if kindOf(i) == kFail {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close()
			}
			return
		}
		var out crossDoc
		out.I, out.Pad = i, answerPad(i)
		out.Echo.Pan = pans[i]
		switch kindOf(i) {
		case kPlain:
			out.Echo.Pan = ""
		case kNeighbor:
			out.Echo.Pan = neighborPAN
		case kLeakResp:
			out.Note = pans[i]
		case kLeakX:
			out.Note = x
		}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: routesDoc})
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	// Some clients share tunnels (keep-alive), so that exchanges follow
	// each other in one tunnel too.
	clients := make([]*http.Client, 4)
	for c := range clients {
		clients[c] = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyURL(g.proxied), TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 4,
		}}
		defer clients[c].CloseIdleConnections()
	}

	type result struct {
		code     int
		redacted string
		body     []byte
	}
	results := make([]result, n)
	body := func(i int) []byte {
		var d crossDoc
		d.Card.Number, d.I, d.Pad = toks[i], i, crossPad(i)
		switch kindOf(i) {
		case kUnknown:
			d.Card.Number = "tok_" + strings.Repeat("q", 24)
		case kPlain:
			d.Card.Number = ""
		}
		b, _ := json.Marshal(d)
		return b
	}
	// As inbound, the answers sent as read (kPlain) are asked for first,
	// through a listener of the same proxy with small send buffers, in
	// tunnels with a small receive window, and read once every other
	// exchange is over.
	heldProxy, err := url.Parse(newHeldServer(t, g.ob).URL)
	if err != nil {
		t.Fatal(err)
	}
	heldProxy.User = g.proxied.User
	held := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyURL(heldProxy), TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: smallWindowDial,
	}}
	defer held.CloseIdleConnections()
	var headersIn, plainDone, others sync.WaitGroup
	othersDone := make(chan struct{})
	send := func(i int) {
		cl := clients[i%len(clients)]
		if kindOf(i) == kPlain {
			cl = held
		}
		resp, err := cl.Post("https://psp.example.com:"+psp.port()+"/v1/charges?i="+strconv.Itoa(i), "application/json", bytes.NewReader(body(i)))
		if kindOf(i) == kPlain {
			headersIn.Done()
			<-othersDone
		}
		if err != nil {
			t.Errorf("request %d: %v", i, err)
			return
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		results[i] = result{resp.StatusCode, resp.Header.Get(RedactedHeader), rb}
	}
	for i := range n {
		if kindOf(i) == kPlain {
			headersIn.Add(1)
			plainDone.Go(func() { send(i) })
		}
	}
	headersIn.Wait()
	for i := range n {
		if kindOf(i) != kPlain {
			others.Go(func() { send(i) })
		}
	}
	others.Wait()
	close(othersDone)
	plainDone.Wait()

	clear := func(b []byte) bool {
		for _, p := range append(append([]string{x}, pans...), neighborPAN) {
			if bytes.Contains(b, []byte(p)) {
				return true
			}
		}
		return false
	}
	want := map[int]int{kOK: 200, kNeighbor: 200, kFail: 502, kUnknown: 422, kLeakResp: 200, kLeakX: 200, kPlain: 200}
	for i, r := range results {
		k := kindOf(i)
		if r.code != want[k] {
			t.Errorf("request %d (kind %d): status %d, want %d: %.200s", i, k, r.code, want[k], r.body)
			continue
		}
		if r.code != 200 {
			if clear(r.body) {
				t.Errorf("request %d: a refusal holds a card number in clear", i)
			}
			continue
		}
		var a crossDoc
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Errorf("request %d: the answer does not parse: %v", i, err)
			continue
		}
		if k == kPlain {
			if a.Echo.Pan != "" || a.Pad != answerPad(i) || a.I != i || r.redacted != "" {
				t.Errorf("request %d: the answer sent as read is not its own", i)
			}
			continue
		}
		wantPAN, wantAlias := pans[i], ""
		if k == kNeighbor {
			wantPAN, wantAlias = neighborPAN, x
		}
		if a.I != i || a.Pad != answerPad(i) {
			t.Errorf("request %d got answer %d, or damaged", i, a.I)
		}
		masked := k == kLeakResp || k == kLeakX
		if masked != (r.redacted == "1") || masked && (a.Note == "" || strings.ContainsAny(a.Note, "0123456789") && pan.Valid(a.Note)) {
			t.Errorf("request %d (kind %d): %s %q, note %q: want the note's card number masked", i, k, RedactedHeader, r.redacted, pan.MaskAll(a.Note))
		}
		if wantAlias != "" && a.Echo.Pan != wantAlias {
			t.Errorf("request %d: the neighbour's answer does not carry X", i)
		}
		if bytes.Contains(r.body, []byte(wantPAN)) || wantAlias == "" && clear(r.body) {
			t.Errorf("request %d: the answer holds a card number in clear", i)
		}
		if got := revealOne(t, tv, a.Echo.Pan); got != wantPAN {
			t.Errorf("request %d: the answer's alias is not its own card number's (another's: %v)", i, got != "")
		}
	}
	seen := map[int]bool{}
	for _, r := range psp.requests() {
		var d crossDoc
		if err := json.Unmarshal(r.Body, &d); err != nil {
			t.Errorf("the destination got a damaged body: %v", err)
			continue
		}
		i := d.I
		if q, _ := strconv.Atoi(strings.TrimPrefix(r.Query, "i=")); q != i || i < 0 || i >= n {
			t.Errorf("the destination got request %d's body for request %s", i, r.Query)
			continue
		}
		if seen[i] {
			t.Errorf("request %d reached the destination twice", i)
		}
		seen[i] = true
		if kindOf(i) == kUnknown {
			t.Errorf("request %d, with an unknown alias, reached the destination", i)
			continue
		}
		if kindOf(i) == kPlain {
			if !bytes.Equal(r.Body, body(i)) {
				t.Errorf("request %d, sent as read, reached the destination other than sent", i)
			}
			continue
		}
		if d.Card.Number != pans[i] || d.Pad != crossPad(i) {
			t.Errorf("request %d reached the destination with another card number (one of ours: %v), or damaged", i, clear([]byte(d.Card.Number)))
		}
	}
	for i := range n {
		if kindOf(i) != kUnknown && !seen[i] {
			t.Errorf("request %d never reached the destination", i)
		}
	}
}
