package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fwdPAN is the card number the adversarial tests try to smuggle.
const fwdPAN = "4111111111111111"

// fwdAttackCases are requests meant to confuse the gateway's reading of a
// request against the upstream's: header fields the Connection field
// names, framing conflicts, Expect, absolute-form targets and odd paths
// and methods.
func fwdAttackCases() [][2]string {
	var cs [][2]string
	for _, p := range []string{"pass", "guard", "pre"} {
		cs = append(cs,
			[2]string{"GET /" + p + "/x HTTP/1.1\r\nConnection: Content-Length, Host, Aliasgate-Route-Account, X-Forwarded-For, Authorization, Te, Aliasgate-Route\r\nAuthorization: Bearer x\r\nAliasgate-Route-Account: acct_evil\r\nTe: trailers\r\n", ""},
			[2]string{"POST /" + p + "/x HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 3\r\n", "abc"},
			[2]string{"POST /" + p + "/x HTTP/1.1\r\nConnection: Transfer-Encoding, Content-Type\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"},
			[2]string{"POST /" + p + "/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n", "abc"},
			[2]string{"GET http://evil.example:1/" + p + "/x?y=1 HTTP/1.1\r\n", ""},
			[2]string{"GET http://user:pw@gw.test/" + p + "/x HTTP/1.1\r\n", ""},
			[2]string{"GET /" + p + "//a/../b/./c HTTP/1.1\r\n", ""},
			[2]string{"GET /" + p + "/a%2e%2e/b HTTP/1.1\r\n", ""},
			[2]string{"GET /" + p + "/a%2Fb HTTP/1.1\r\n", ""},
			[2]string{"OPTIONS /" + p + "/x HTTP/1.1\r\n", ""},
			[2]string{"PROPFIND /" + p + "/x HTTP/1.1\r\n", ""},
			[2]string{"Connect /" + p + "/x HTTP/1.1\r\n", ""},
			[2]string{"GET /" + p + "/x HTTP/1.1\r\nConnection: ,,, ,\r\nX-A: 1\r\nx-a: 2\r\n", ""},
			[2]string{"GET /" + p + "/x HTTP/1.1\r\nForwarded: for=evil\r\nConnection: Forwarded, X-Forwarded-Host\r\n", ""},
		)
	}
	cs = append(cs,
		[2]string{"OPTIONS * HTTP/1.1\r\n", ""},
		[2]string{"GET http://gw.test HTTP/1.1\r\n", ""},
		[2]string{"GET /pass/x? HTTP/1.1\r\n", ""},
		[2]string{"GET /pass/x?%zz=%zz;a HTTP/1.1\r\n", ""},
		[2]string{"GET /pass\\x HTTP/1.1\r\n", ""},
	)
	return cs
}

// TestForwardAttacksMatchReverseProxy: the confusing requests of
// fwdAttackCases reach the upstream, and their answers the client, as
// through httputil.ReverseProxy.
func TestForwardAttacksMatchReverseProxy(t *testing.T) {
	rig := newFwdRig(t)
	ok := fwdShape{status: 200, header: [][2]string{{"Content-Type", "application/json"}}, body: `{"ok":true}`}
	for _, c := range fwdAttackCases() {
		rig.compare(t, strings.SplitN(c[0], "\r\n", 2)[0], ok, c[0], c[1])
	}
}

// fwdRedactRoute is an inbound route at /in whose request filter redacts
// card.number in JSON bodies and the X-Card header field.
const fwdRedactRoute = `  - id: in
    direction: inbound
    host: "*"
    path_prefix: /in
    upstream: {{UP}}
    filters:
      - id: card-in
        phase: request
        operation: redact
        targets: [{json: card.number}, {header: X-Card}]
`

// TestForwardNeverSendsPAN: a card number a client sends where the route
// redacts it (the X-Card header field, card.number in a JSON body) and
// hides by the framing or the header section (spellings, duplicates, the
// Connection field naming it, Expect, chunked bodies, trailers, a
// Content-Length the Connection field names) reaches the upstream on
// neither path.
func TestForwardNeverSendsPAN(t *testing.T) {
	rig := newFwdRigWith(t, fwdRedactRoute)
	ok := fwdShape{status: 200, header: [][2]string{{"Content-Type", "application/json"}}, body: `{"ok":true}`}
	js := `{"card":{"number":"` + fwdPAN + `"}}`
	jl := fmt.Sprint(len(js))
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(js), js)
	cases := [][2]string{
		{"GET /in/x HTTP/1.1\r\nX-Card: " + fwdPAN + "\r\n", ""},
		{"GET /in/x HTTP/1.1\r\nx-card: " + fwdPAN + "\r\nX-CARD: " + fwdPAN + "\r\n", ""},
		{"GET /in/x HTTP/1.1\r\nConnection: Keep-Alive, Te\r\nTe: trailers\r\nX-Card: 1\r\nX-Card: " + fwdPAN + "\r\n", ""},
		{"GET /in/x HTTP/1.1\r\nConnection: X-Other\r\nX-Card: " + fwdPAN + "\r\n", ""},
		{"POST /in/x HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " + jl + "\r\n", js},
		{"POST /in/x HTTP/1.1\r\nConnection: Content-Length, Content-Type\r\nContent-Type: application/json\r\nContent-Length: " + jl + "\r\n", js},
		{"POST /in/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: " + jl + "\r\n", js},
		{"POST /in/x HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunked + "\r\n"},
		{"POST /in/x HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Card\r\n", chunked + "X-Card: " + fwdPAN + "\r\n\r\n"},
		{"POST /in/x HTTP/1.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Card\r\n", "3\r\nabc\r\n0\r\nX-Card: " + fwdPAN + "\r\n\r\n"},
		{"POST /in/x HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nTrailer: X-Card\r\n", "abc"},
		{"POST http://evil.example/in/x HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " + jl + "\r\nX-Card: " + fwdPAN + "\r\n", js},
		{"PUT /in/x?a=1;b=2 HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " + jl + "\r\n", js},
	}
	for _, viaRP := range []bool{true, false} {
		for _, c := range cases {
			seen, got := rig.exchange(t, viaRP, ok, c[0], c[1])
			if s := fmt.Sprintf("%+v", seen); strings.Contains(s, fwdPAN) {
				t.Errorf("via ReverseProxy %v: %q: the upstream saw the card number: %s (client got %d)", viaRP, c[0], s, got.Status)
			} else if len(seen) == 0 && got.Status != 0 && got.Status < 400 {
				t.Errorf("via ReverseProxy %v: %q: nothing reached the upstream, yet %d", viaRP, c[0], got.Status)
			}
		}
	}
}

// TestForwardAbortsOnUpstreamBodyError: an upstream body that ends before
// its length, or a chunked one cut off, reaches the client as an aborted
// response (a body read error), never as a complete one.
func TestForwardAbortsOnUpstreamBodyError(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhalf",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\nzz\r\n",
	} {
		up := fwdRawUpstream(t, raw)
		gw := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("pass", "pass", "    leak_guard: \"off\"\n"), up.URL), nil, gwOptions{})
		for _, viaRP := range []bool{true, false} {
			gw.in.viaReverseProxy = viaRP
			res, err := gw.Client().Get(gw.URL + "/pass/x")
			if err != nil {
				continue // aborted before the header: fine
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil && res.StatusCode == 200 {
				t.Errorf("via ReverseProxy %v: %q: complete-looking 200 %q", viaRP, raw, b)
			}
		}
		gw.in.viaReverseProxy = false
	}
}

// TestForward1xxFlood: an upstream answering with many 1xx interim
// responses before its answer is treated on both paths alike.
func TestForward1xxFlood(t *testing.T) {
	for _, n := range []int{1, 5, 6, 50} {
		up := fwdRawUpstream(t, strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", n)+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		gw := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("pass", "pass", "    leak_guard: \"off\"\n")+inboundRoute("guard", "guard", ""), up.URL), nil, gwOptions{})
		for _, p := range []string{"pass", "guard"} {
			var res [2]string
			for i, viaRP := range []bool{true, false} {
				gw.in.viaReverseProxy = viaRP
				res[i] = fwdRawExchange(t, gw.Listener.Addr().String(), "/"+p+"/x", true)
			}
			gw.in.viaReverseProxy = false
			if res[0] != res[1] {
				t.Errorf("%d 1xx on %s: ReverseProxy %q, forward %q", n, p, res[0], res[1])
			}
			if p == "guard" && strings.Contains(res[1], "103 ") {
				t.Errorf("%d 1xx on %s: interim response reached the client unread: %q", n, p, res[1])
			}
		}
	}
}

// TestForwardConcurrentRequestsStayApart: concurrent requests on one
// gateway each reach the upstream with their own target, header and body,
// and each client reads its own answer (forward's outgoing request lives
// in the request's stateCtx).
func TestForwardConcurrentRequestsStayApart(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s|%s", r.URL.RequestURI(), r.Header.Get("X-Id"), b)
	}))
	t.Cleanup(up.Close)
	gw := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("pass", "pass", "    leak_guard: \"off\"\n"), up.URL), nil, gwOptions{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				id := fmt.Sprintf("%d-%d", g, i)
				body := strings.Repeat(id, i%5)
				req, _ := http.NewRequest("POST", gw.URL+"/pass/"+id+"?q="+id, strings.NewReader(body))
				if i%2 == 1 {
					req.ContentLength = -1 // chunked
					req.Body = io.NopCloser(strings.NewReader(body))
				}
				req.Header.Set("X-Id", id)
				res, err := gw.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if want := "/pass/" + id + "?q=" + id + "|" + id + "|" + body; string(b) != want {
					t.Errorf("got %q, want %q", b, want)
				}
			}
		}()
	}
	wg.Wait()
}

// TestForwardSmuggledSecondRequestIsFiltered: bytes past a request's
// Content-Length are the next request on the connection, which the
// gateway routes and filters as any other: the upstream sees the first
// request's declared body only and the second's card number redacted, on
// both paths.
func TestForwardSmuggledSecondRequestIsFiltered(t *testing.T) {
	rig := newFwdRigWith(t, fwdRedactRoute)
	for _, viaRP := range []bool{true, false} {
		c := rig.dial(t, viaRP)
		io.WriteString(c, "POST /pass/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\n\r\nabc"+
			"GET /in/y HTTP/1.1\r\nHost: gw.test\r\nX-Card: "+fwdPAN+"\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(c)
		for i := range 2 {
			res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatalf("via ReverseProxy %v: response %d: %v", viaRP, i, err)
			}
			io.ReadAll(res.Body)
		}
		c.Close()
		time.Sleep(2 * time.Millisecond)
		rig.mu.Lock()
		seen := slices.Clone(rig.seen)
		rig.mu.Unlock()
		if len(seen) != 2 || seen[0].Body != "abc" || seen[1].RequestURI != "/in/y" {
			t.Errorf("via ReverseProxy %v: the upstream saw %+v", viaRP, seen)
		}
		if s := fmt.Sprintf("%+v", seen); strings.Contains(s, fwdPAN) {
			t.Errorf("via ReverseProxy %v: the upstream saw the card number: %s", viaRP, s)
		}
	}
	rig.gw.in.viaReverseProxy = false
}

// TestForwardBodyClosedReadsNothing: once forward returned (forwardBody
// closed), a late read by a transport goroutine gets an error and reads
// nothing from the client's body.
func TestForwardBodyClosedReadsNothing(t *testing.T) {
	src := strings.NewReader("next request's bytes")
	b := &forwardBody{rc: io.NopCloser(src)}
	p := make([]byte, 4)
	if n, err := b.Read(p); n != 4 || err != nil {
		t.Fatalf("open: %d %v", n, err)
	}
	b.Close()
	if n, err := b.Read(p); n != 0 || err != errForwardBodyClosed {
		t.Errorf("closed: %d %v", n, err)
	}
	if src.Len() != len("next request's bytes")-4 {
		t.Errorf("a closed forwardBody read from the client's body")
	}
}

// fwdRawAnswers are upstream answers written byte for byte: framing
// conflicts, trailers announcing fields no trailer may carry, bodies
// longer than declared, 1xx responses carrying a card number.
var fwdRawAnswers = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: Content-Length, Host, X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nContent-Length: 99\r\nHost: evil\r\nX-Sum: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Card: " + fwdPAN + "\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
	"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	// Connection: close: a kept connection's extra bytes may be read as
	// the answer to the next request sent on it (the transport's, on
	// both paths), which would make the comparison depend on timing.
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
	"HTTP/1.1 200 OK\r\nConnection: Content-Length, X-Card\r\nX-Card: 1\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 103 Early Hints\r\nX-Card: " + fwdPAN + "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nPRI * HTTP/2.0",
	"HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\n\r\nto the end of the connection",
	"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"card\":{\"number\":\"" + fwdPAN + "\"}}",
}

// TestForwardRawAnswersMatchReverseProxy: each raw answer reaches the
// client through forward as through httputil.ReverseProxy, on a route
// that passes answers unread, on one whose leak guard reads them and on
// one that redacts card.number, whose client never gets it in clear.
func TestForwardRawAnswersMatchReverseProxy(t *testing.T) {
	for _, raw := range fwdRawAnswers {
		up := fwdRawUpstream(t, raw)
		gw := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("pass", "pass", "    leak_guard: \"off\"\n")+inboundRoute("guard", "guard", "")+
			inboundRoute("red", "red", responseRedact("")), up.URL), nil, gwOptions{})
		for _, p := range []string{"pass", "guard", "red"} {
			var got [2]string
			for i, viaRP := range []bool{true, false} {
				gw.in.viaReverseProxy = viaRP
				got[i] = fwdRawExchange(t, gw.Listener.Addr().String(), "/"+p+"/x", strings.Contains(raw, "Content-Type:"))
			}
			gw.in.viaReverseProxy = false
			if got[0] != got[1] {
				t.Errorf("%.60q on %s:\n ReverseProxy %q\n forward      %q", raw, p, got[0], got[1])
			}
			if p == "red" && strings.Contains(raw, `"number"`) && strings.Contains(got[1], fwdPAN) {
				t.Errorf("%.60q on %s: the client got the card number: %q", raw, p, got[1])
			}
		}
	}
}

// fwdRawExchange sends GET path and returns what the client read: each
// response's status, header fields (but Date), body, read error and
// trailers. Unless typed (the upstream sent a Content-Type), the final
// response's Content-Type is left out: a streamed answer's header is
// flushed by a timer of no delay on both paths, which races the first
// write that the server sniffs a type from (see fwdRig.compare).
func fwdRawExchange(t *testing.T, addr, path string, typed bool) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	var out []string
	for {
		res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			return strings.Join(append(out, "no response"), " | ")
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != 101 {
			out = append(out, fmt.Sprint(res.StatusCode, sortedHeader(res.Header)))
			continue
		}
		b, err := io.ReadAll(res.Body)
		drop := []string{"Date"}
		if !typed {
			drop = append(drop, "Content-Type")
		}
		out = append(out, fmt.Sprint(res.StatusCode, sortedHeader(res.Header, drop...), string(b), err != nil, sortedHeader(res.Trailer)))
		return strings.Join(out, " | ")
	}
}

// TestForwardShortClientBody: a client that declares more than it sends
// and stops sending gets the same answer on both paths, and the upstream
// never receives a request body that looks complete.
func TestForwardShortClientBody(t *testing.T) {
	rig := newFwdRigWith(t, fwdRedactRoute)
	for _, p := range []string{"pass", "in"} {
		var got [2]string
		for i, viaRP := range []bool{true, false} {
			c := rig.dial(t, viaRP)
			io.WriteString(c, "POST /"+p+"/x HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"card\":{\"number\":\"4111")
			c.(*net.TCPConn).CloseWrite()
			res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
			status := "no response"
			if err == nil {
				status = res.Status
			}
			c.Close()
			time.Sleep(20 * time.Millisecond)
			rig.mu.Lock()
			for _, s := range rig.seen {
				if len(s.Body) == 40 {
					t.Errorf("%s via ReverseProxy %v: the upstream got a whole body %q", p, viaRP, s.Body)
				}
			}
			rig.mu.Unlock()
			got[i] = status
		}
		rig.gw.in.viaReverseProxy = false
		if got[0] != got[1] {
			t.Errorf("%s: ReverseProxy %q, forward %q", p, got[0], got[1])
		}
	}
}

// fwdRawUpstream is an upstream that answers every request with raw, byte
// for byte, and closes the connection.
func fwdRawUpstream(t *testing.T, raw string) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString(raw)
		brw.Flush()
	})
}

// dial starts an exchange on rig through the path chosen, the upstream
// answering 200 "ok": what it saw is cleared, and the connection to the
// gateway returned (the caller closes it).
func (rig *fwdRig) dial(t *testing.T, viaRP bool) net.Conn {
	rig.mu.Lock()
	rig.shape, rig.seen = fwdShape{status: 200, body: "ok"}, nil
	rig.mu.Unlock()
	rig.gw.in.viaReverseProxy = viaRP
	c, err := net.Dial("tcp", rig.gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
