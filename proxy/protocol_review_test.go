package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// rawExchange writes req on a new connection to addr and returns every
// byte the gateway answered until it closed the connection.
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

// TestInterimResponsesDoNotPassTheGuard: ReverseProxy forwards an
// upstream's 1xx interim responses (103 Early Hints) to the client as they
// come, headers and all, before the response phase runs. On a route whose
// responses the filters or the leak guard read, their headers would reach
// the client unread (a card number in a Link header past leak_guard:
// block): the gateway drops them there, and the final response is guarded
// as before. On a route that reads no response (leak_guard: off, no
// response filters) they still pass, as the rest of its responses do.
func TestInterimResponsesDoNotPassTheGuard(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</receipt?pan="+testPAN+">; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	addr := g.Listener.Addr().String()
	for _, path := range []string{"/leakblock", "/leaklog", "/respredact", "/reveal"} {
		got := rawExchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if strings.Contains(got, testPAN) {
			t.Errorf("%s: the card number of a 103 reached the client", path)
		}
		if strings.Contains(got, " 103 ") {
			t.Errorf("%s: a 103 reached the client: %q", path, obstestMask(got))
		}
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, `{"ok":true}`) {
			t.Errorf("%s: want the final 200 answer, got %q", path, obstestMask(got))
		}
	}
	// leak_guard: off and no response filter: responses stream unread,
	// 103 included.
	got := rawExchange(t, addr, "GET /pass HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 103 ") || !strings.Contains(got, "\r\n\r\nHTTP/1.1 200 ") {
		t.Errorf("/pass: want the 103 and then the 200, got %q", obstestMask(got))
	}
}

// TestUpgradeRefusedOnRedactGuard: leak_guard: redact refuses what it
// cannot mask, as block does; WebSocket frames are never read, so an
// upgrade on such a route is refused (403 upgrade_refused) like one on a
// block route, and the upstream never sees it.
func TestUpgradeRefusedOnRedactGuard(t *testing.T) {
	up := newUpstream(t, nil)
	const doc = `
routes:
  - id: redactguard
    direction: inbound
    host: "*"
    path_prefix: /ws
    upstream: {{UP}}
    leak_guard: redact
`
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	c, err := net.Dial("tcp", g.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "upgrade_refused") {
		t.Errorf("want 403 upgrade_refused, got %d %s", resp.StatusCode, body)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestLeakGuardReadsTheMethod: the request method is a token of any
// characters a token allows, digits included, and goes to the upstream as
// sent. A card number there is refused on a block route (and on a redact
// route: a request line cannot be masked) and counted on a log route.
func TestLeakGuardReadsTheMethod(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact", "log")
	addr := g.Listener.Addr().String()
	for _, method := range []string{testPAN, "4111-1111-1111-1111"} {
		for _, path := range []string{"/block", "/redact"} {
			got := rawExchange(t, addr, method+" "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(got, "HTTP/1.1 422 ") || !strings.Contains(got, "card_data_leak") {
				t.Errorf("%s with a card number as method: want 422 card_data_leak, got %q", path, obstestMask(got))
			}
		}
	}
	for _, r := range up.requests() {
		t.Errorf("the upstream received a request with method %q", obstestMask(r.Method))
	}
	got := rawExchange(t, addr, testPAN+" /log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("/log: want 200, got %q", obstestMask(got))
	}
	if c := g.leakCount("log", "log"); c != 1 {
		t.Errorf("/log: leak count %v, want 1", c)
	}
}

// obstestMask keeps a test failure line free of the test card number.
func obstestMask(s string) string { return strings.ReplaceAll(s, testPAN, "<PAN>") }

// TestRangeDoesNotSplitGuardedResponses: a client asking for a body in
// byte ranges got each range guarded alone, and put together the card
// number that no single range held whole. On a route whose responses are
// read the Range header is not forwarded: the upstream answers with the
// whole body, which the guard reads whole (here: block refuses it).
func TestRangeDoesNotSplitGuardedResponses(t *testing.T) {
	doc := []byte(`{"card":{"number":"` + testPAN + `"}}`)
	var ranges []string
	var mu sync.Mutex
	serve := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range")+r.Header.Get("If-Range"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		http.ServeContent(w, r, "card.json", time.Time{}, bytes.NewReader(doc))
	}
	up := newUpstream(t, serve)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	var all []byte
	for _, rg := range []string{"bytes=0-25", "bytes=26-"} {
		resp, b := g.do(t, "GET", "/leakblock", "", nil, map[string]string{"Range": rg})
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("Range %s: want 502 card_data_leak, got %d %s", rg, resp.StatusCode, obstestMask(string(b)))
		}
		all = append(all, b...)
	}
	if bytes.Contains(all, []byte(testPAN)) {
		t.Error("the ranges put the card number together")
	}
	// A route that reads no response still forwards Range.
	resp, _ := g.do(t, "GET", "/pass", "", nil, map[string]string{"Range": "bytes=0-3"})
	if resp.StatusCode != http.StatusPartialContent {
		t.Errorf("/pass: want 206, got %d", resp.StatusCode)
	}
	mu.Lock()
	if len(ranges) != 3 || ranges[0] != "" || ranges[1] != "" || ranges[2] != "bytes=0-3" {
		t.Errorf("the upstream got the ranges %q, want none on /leakblock", ranges)
	}
	mu.Unlock()

	// Outbound: the processor's answer is guarded whole too (redact masks
	// it), not a range at a time.
	psp := newTLSUpstream(t, serve)
	og := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: echoRoutes})
	c := og.client()
	req, _ := http.NewRequest(http.MethodGet, "https://psp.example.com:"+psp.port()+"/v1/charges", nil)
	req.Header.Set("Range", "bytes=26-")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	if res.StatusCode != http.StatusOK || string(b) != `{"card":{"number":"`+masked+`"}}` {
		t.Errorf("outbound Range: want 200 and the whole body masked, got %d %s", res.StatusCode, obstestMask(string(b)))
	}
}

// TestOutboundReasonPhraseIsNotForwarded: goproxy writes an intercepted
// response's status line with the reason phrase the processor sent, which
// neither the filters nor the leak guard read: a card number there reached
// the merchant past the guard. On a route whose responses are read the
// proxy sends the standard reason phrase of the status code instead.
func TestOutboundReasonPhraseIsNotForwarded(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 402 Card " + testPAN + " declined\r\nContent-Type: application/json\r\n" +
			"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
		_ = brw.Flush()
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: echoRoutes})
	for _, host := range []string{"psp.example.com", "a1.example.com"} { // leak_guard redact (default), log
		res, err := g.client().Get("https://" + host + ":" + psp.port() + "/v1/charges")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusPaymentRequired || res.Status != "402 Payment Required" || string(b) != "{}" {
			t.Errorf("%s: got %q %s, want 402 Payment Required {}", host, obstestMask(res.Status), b)
		}
	}
}

// TestLeakGuardReadsEncodedMultipartParts: a multipart part in
// Content-Transfer-Encoding quoted-printable is read decoded by Go's
// mime/multipart (ParseMultipartForm, FormValue), base64 by others; the
// finder reads neither encoding, so "=34=31…" in an untargeted part went to
// the app past leak_guard: block. The guard reads such parts decoded: block
// and redact (which cannot mask an encoded part) refuse, log counts, and a
// part without card data still passes.
func TestLeakGuardReadsEncodedMultipartParts(t *testing.T) {
	const doc = `
routes:
  - id: block
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: {{UP}}
    leak_guard: block
    filters:
      - {id: card, operation: redact, targets: [{form: card_number}]}
  - id: redact
    direction: inbound
    host: "*"
    path_prefix: /redact
    upstream: {{UP}}
    leak_guard: redact
  - id: log
    direction: inbound
    host: "*"
    path_prefix: /log
    upstream: {{UP}}
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	var qp strings.Builder
	for i, c := range testPAN {
		if i == 8 {
			qp.WriteString("=\r\n") // a soft line break
		}
		qp.WriteString("=3" + string(c))
	}
	part := func(cte, content string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n" + testPAN2 +
			"\r\n--B\r\nContent-Disposition: form-data; name=\"note\"\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" +
			content + "\r\n--B--\r\n"
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("card " + testPAN + " thanks"))
	bodies := map[string]string{
		"quoted-printable":            part("quoted-printable", qp.String()),
		"Quoted-Printable, spaced":    part(" Quoted-Printable ", qp.String()),
		"base64 with a line break":    part("base64", b64[:10]+"\r\n"+b64[10:]),
		"quoted-printable and base64": part("quoted-printable\r\nContent-Transfer-Encoding: base64", b64),
	}
	const ct = "multipart/form-data; boundary=B"
	for name, body := range bodies {
		for _, path := range []string{"/block", "/redact"} {
			resp, b := g.do(t, "POST", path, ct, strings.NewReader(body), nil)
			if path == "/block" && name == "quoted-printable and base64" &&
				resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "malformed_body") {
				continue // the route's multipart filter refuses a part header given twice
			}
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
				t.Errorf("%s %s: want 422 card_data_leak, got %d %s", path, name, resp.StatusCode, b)
			}
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	resp, _ := g.do(t, "POST", "/log", ct, strings.NewReader(bodies["quoted-printable"]), nil)
	if resp.StatusCode != http.StatusOK || g.leakCount("log", "log") != 2 { // the note and card_number
		t.Errorf("/log: want 200 and 2 counted, got %d and %v", resp.StatusCode, g.leakCount("log", "log"))
	}
	// An encoded part without card data passes, its card_number redacted.
	clean := part("quoted-printable", "caf=C3=A9 =3D 1234")
	resp, b := g.do(t, "POST", "/block", ct, strings.NewReader(clean), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/block clean: %d %s", resp.StatusCode, b)
	}
	got := up.last(t).Body
	mr := multipart.NewReader(bytes.NewReader(got), "B")
	values := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		v, _ := io.ReadAll(p)
		values[p.FormName()] = string(v)
	}
	if values["note"] != "café = 1234" || values["card_number"] == "" || values["card_number"] == testPAN2 {
		t.Errorf("/block clean: the app read %q", values)
	}
}

// ebcdic spells s (digits and a few ASCII letters) in EBCDIC (IBM037).
func ebcdic(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			out = append(out, 0xF0+c-'0')
		case c >= 'a' && c <= 'i':
			out = append(out, 0x81+c-'a')
		case c == ' ':
			out = append(out, 0x40)
		default:
			out = append(out, 0x6F) // '?'
		}
	}
	return out
}

// TestCharsetsTheGuardCannotRead: a body declared in a charset that is not
// a superset of ASCII (EBCDIC here; UTF-16 and UTF-32 were handled already)
// spells its digits in bytes the card-number finder does not read, and an
// app that honours the charset (Java's and .NET's readers do) reads them as
// digits: "charset=IBM037" carried a card number past leak_guard: block.
// Such a body is now unreadable: refused (415) on a route that redacts
// request bodies and by a block or redact guard, logged by a log guard; a
// response in it is withheld (502). ASCII supersets (ISO-8859-1, Shift_JIS,
// windows-1252) are read as before.
func TestCharsetsTheGuardCannotRead(t *testing.T) {
	body := ebcdic("card " + testPAN)
	var respCharset atomic.Value
	respCharset.Store("")
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if cs := respCharset.Load().(string); cs != "" {
			w.Header().Set("Content-Type", "text/plain; charset="+cs)
			_, _ = w.Write(body)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	const doc = `
routes:
  - id: block
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: {{UP}}
    leak_guard: block
  - id: redact
    direction: inbound
    host: "*"
    path_prefix: /redact
    upstream: {{UP}}
    leak_guard: redact
  - id: redacting
    direction: inbound
    host: "*"
    path_prefix: /redacting
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - {id: card, operation: redact, targets: [{json: card.number}]}
  - id: log
    direction: inbound
    host: "*"
    path_prefix: /log
    upstream: {{UP}}
`
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for _, cs := range []string{"IBM037", "ebcdic-cp-us", `"cp1047"`, "x-unknown", "iso-8859-1:x", "cp1140", "IBM037; foo", "utf-8; charset=IBM037"} {
		for _, path := range []string{"/block", "/redact", "/redacting"} {
			resp, b := g.do(t, "POST", path, "text/plain; charset="+cs, bytes.NewReader(body), nil)
			if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "unsupported_charset") {
				t.Errorf("%s charset=%s: want 415 unsupported_charset, got %d %s", path, cs, resp.StatusCode, b)
			}
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	if resp, _ := g.do(t, "POST", "/log", "text/plain; charset=IBM037", bytes.NewReader(body), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/log: want 200, got %d", resp.StatusCode)
	}
	// ASCII supersets are read: a card number in them is found.
	for _, cs := range []string{"ISO-8859-1", "ISO_8859-1:1987", "windows-1252", "Shift_JIS", "utf-8", "US-ASCII", "binary"} {
		resp, b := g.do(t, "POST", "/block", "text/plain; charset="+cs, strings.NewReader("card "+testPAN), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("/block charset=%s: want 422 card_data_leak, got %d %s", cs, resp.StatusCode, b)
		}
		resp, _ = g.do(t, "POST", "/block", "text/plain; charset="+cs, strings.NewReader("hello"), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/block charset=%s without card data: want 200, got %d", cs, resp.StatusCode)
		}
	}
	// A multipart part in such a charset (Apache Commons FileUpload reads a
	// field in its part's charset) makes the body unreadable too.
	mp := append(append([]byte("--B\r\nContent-Disposition: form-data; name=\"note\"\r\nContent-Type: text/plain; charset=IBM037\r\n\r\n"),
		body...), "\r\n--B--\r\n"...)
	before := len(up.requests())
	for _, path := range []string{"/block", "/redact", "/block?malformed"} {
		ct := "multipart/form-data; boundary=B"
		if strings.HasSuffix(path, "?malformed") {
			ct += "; x" // mime.ParseMediaType refuses it; Commons FileUpload finds the boundary
		}
		resp, b := g.do(t, "POST", path, ct, bytes.NewReader(mp), nil)
		if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "unsupported_charset") {
			t.Errorf("%s multipart part in IBM037: want 415 unsupported_charset, got %d %s", path, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()) - before; n != 0 {
		t.Fatalf("the upstream received %d multipart requests", n)
	}
	// A response in EBCDIC is withheld by a block guard.
	respCharset.Store("IBM037")
	resp, b := g.do(t, "GET", "/block", "", nil, nil)
	if resp.StatusCode != http.StatusBadGateway || bytes.Contains(b, body) {
		t.Errorf("EBCDIC response: want 502, got %d", resp.StatusCode)
	}
}

// TestXMLTheGuardCannotRead: an XML parser reads more than the bytes the
// guard scans. An internal entity expands to text written elsewhere, so a
// card number split between two entities (&a;&b;) is whole only to the
// app (Java's parsers expand internal entities by default); and a parser
// decodes the document in the encoding its first bytes or its declaration
// name (EBCDIC: "<?xm" as 4C 6F A7 94, or encoding="IBM037"), whatever the
// Content-Type says. Such a body is now unreadable: a block or redact
// guard refuses it, a log guard logs it, and XML without them still passes.
func TestXMLTheGuardCannotRead(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact", "log")
	entities := `<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "` + testPAN[:10] + `"><!ENTITY b "` + testPAN[10:] + `">]><p>&a;&b;</p>`
	utf16 := func(s string) []byte {
		out := []byte{0xff, 0xfe}
		for _, c := range []byte(s) {
			out = append(out, c, 0)
		}
		return out
	}
	bodies := map[string]struct {
		body []byte
		code string
	}{
		"split entities":                   {[]byte(entities), "malformed_body"},
		"split entities, leading space":    {[]byte("\ufeff \n" + entities), "malformed_body"},
		"split entities in UTF-16":         {utf16(entities), "malformed_body"},
		"EBCDIC signature":                 {append([]byte{0x4c, 0x6f, 0xa7, 0x94}, ebcdic(" "+testPAN)...), "unsupported_charset"},
		"declared encoding IBM037":         {append([]byte(`<?xml version="1.0" encoding="IBM037"?>`), ebcdic(testPAN)...), "unsupported_charset"},
		"declared encoding 'ebcdic-cp-us'": {append([]byte(`<?xml version='1.0' encoding = 'ebcdic-cp-us' ?>`), ebcdic(testPAN)...), "unsupported_charset"},
	}
	for name, b := range bodies {
		for _, path := range []string{"/block", "/redact"} {
			resp, got := g.do(t, "POST", path, "application/xml", bytes.NewReader(b.body), nil)
			if resp.StatusCode/100 != 4 || !strings.Contains(string(got), b.code) {
				t.Errorf("%s %s: want a 4xx %s, got %d %s", path, name, b.code, resp.StatusCode, got)
			}
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	if resp, _ := g.do(t, "POST", "/log", "application/xml", strings.NewReader(entities), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/log: want 200, got %d", resp.StatusCode)
	}
	for _, ok := range []string{
		`<?xml version="1.0" encoding="UTF-8"?><p>hello</p>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><!DOCTYPE p SYSTEM "p.dtd"><p>&amp;</p>`,
		`<p>no declaration</p>`,
	} {
		if resp, b := g.do(t, "POST", "/block", "application/xml", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
		}
	}
}

// TestTunnelRequestsStayOnTheConnectHost (regression cover, passes as
// found): inside one intercepted tunnel, raw HTTP/1 that tries to reach
// another host with a revealed card number: a pipelined second request
// naming another Host, an absolute-form target naming another host, an
// HTTP/1.0 request without Host, two Host fields, and an HTTP/2 preface
// (the tunnel offers HTTP/1.1 only). Only the request for the CONNECT host
// reaches the processor, revealed; the others are refused or end the
// tunnel.
func TestTunnelRequestsStayOnTheConnectHost(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	addr := g.srv.Listener.Addr().String()
	panA, _ := aliases(t, g.vault)
	p := psp.port()
	body := `{"card":{"number":"` + panA + `"}}`
	req := func(line, host, extra string) string {
		h := ""
		if host != "" {
			h = "Host: " + host + "\r\n"
		}
		return line + "\r\n" + h + "Content-Type: application/json\r\n" + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	cases := []struct {
		name, raw string
		reached   int // requests the processor gets (revealed)
		refusals  int // host_mismatch answers
	}{
		{"pipelined, second to another host", req("POST /v1 HTTP/1.1", "psp.example.com:"+p, "") +
			req("POST /v1 HTTP/1.1", "other.example.com:"+p, "Connection: close\r\n"), 1, 1},
		{"absolute-form naming another host", req("POST https://other.example.com:"+p+"/v1 HTTP/1.1", "psp.example.com:"+p, "Connection: close\r\n"), 0, 1},
		{"HTTP/1.0 without Host", req("POST /v1 HTTP/1.0", "", ""), 0, 1},
		{"two Host fields", req("POST /v1 HTTP/1.1", "psp.example.com:"+p, "Host: other.example.com\r\nConnection: close\r\n"), 0, 0},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 0},
	}
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	for _, c := range cases {
		before := len(psp.requests())
		resp, conn, _ := rawConnect(t, addr, "psp.example.com:"+p, "cli", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: CONNECT %d", c.name, resp.StatusCode)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "psp.example.com", RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if proto := tc.ConnectionState().NegotiatedProtocol; proto == "h2" {
			t.Fatalf("%s: the tunnel negotiated h2", c.name)
		}
		_, _ = io.WriteString(tc, c.raw)
		answer, _ := io.ReadAll(tc)
		if n := strings.Count(string(answer), "Aliasgate-Error: host_mismatch\r\n"); n != c.refusals {
			t.Errorf("%s: %d host_mismatch answers, want %d: %q", c.name, n, c.refusals, obstestMask(string(answer)))
		}
		got := psp.requests()[before:]
		if len(got) != c.reached {
			t.Errorf("%s: the processor got %d requests, want %d", c.name, len(got), c.reached)
		}
		for _, r := range got {
			if string(r.Body) != `{"card":{"number":"`+testPAN+`"}}` {
				t.Errorf("%s: the processor got %q", c.name, obstestMask(string(r.Body)))
			}
		}
	}
}

// TestLeakGuardReadsNumbersInExponentForm: the finder reads a group of
// digits only whole, and "4111111111111111000e-3" is one 19-digit group
// that fails the Luhn check; JSON.parse, parseFloat and Jackson (into a
// long) read it as 4111111111111111. The guard now reads numbers in
// exponent notation as the integers they spell: block and redact (which
// cannot mask a number so spelled) refuse them in a body, a query or a
// header; ordinary exponents pass.
func TestLeakGuardReadsNumbersInExponentForm(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	type msg struct{ query, ctype, body, header string }
	bad := map[string]msg{
		"JSON e-3":                {"", "application/json", `{"note":4111111111111111000e-3}`, ""},
		"JSON E-7 with fraction":  {"", "application/json", `{"note":4111111111111111.0000000E-0}`, ""},
		"JSON e-7":                {"", "application/json", `{"note":41111111111111110000000E-7}`, ""},
		"JSON e+2 of a fraction":  {"", "application/json", `{"note":41111111111111.11e+2}`, ""},
		"JSON e1 of a short one":  {"", "application/json", `{"note":411111111111111.1e1}`, ""},
		"form value":              {"", "application/x-www-form-urlencoded", `amount=4111111111111111000e-3`, ""},
		"query":                   {"?n=4111111111111111000e-3", "", "", ""},
		"header":                  {"", "", "", "4111111111111111000e-3"},
		"JSON e-3, leading zeros": {"", "application/json", `{"note":00004111111111111111000e-3}`, ""},
	}
	for name, m := range bad {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path+m.query, m.ctype, strings.NewReader(m.body), amountHeader(m.header))
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	for _, ok := range []string{`{"amount":1.5e3,"big":1e300,"id":"x4e5","z":0e-5,"frac":4111111111111111000e-4}`, `{"n":4111111111111112000e-3}`} {
		if resp, b := g.do(t, "POST", "/block", "application/json", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
		}
	}
}

// TestLeakGuardReadsTheWholePartOfFractionsInExponentForm: a fraction in
// exponent notation whose whole part is a card number passed block and
// redact: the finder read only whole values and values a double rounds to
// one, but Java's (long) cast and Jackson reading into a long (its default
// ACCEPT_FLOAT_AS_INT) truncate 4.1111111111111115E15 (Double.toString's
// spelling of 4111111111111111.5) to 4111111111111111. A fraction without
// an exponent was already refused, by its whole part's digits.
func TestLeakGuardReadsTheWholePartOfFractionsInExponentForm(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	type msg struct{ ctype, body string }
	bad := map[string]msg{
		"JSON e-1":             {"application/json", `{"note":41111111111111115e-1}`},
		"JSON Double.toString": {"application/json", `{"note":4.1111111111111115E15}`},
		"JSON e0 fraction":     {"application/json", `{"note":4111111111111111.5e0}`},
		"JSON e-3 .4":          {"application/json", `{"note":4111111111111111400e-3}`},
		"form value":           {"application/x-www-form-urlencoded", `amount=4.1111111111111115E15`},
	}
	for name, m := range bad {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path, m.ctype, strings.NewReader(m.body), nil)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	// Whole parts that are no card number: 4111111111111112 and
	// 17334850000001 fail the Luhn check, and 0.41… has none.
	ok := `{"n":41111111111111125e-1,"t":173348500000015e-1,"amount":12.5e0,"ratio":41111e-16}`
	if resp, b := g.do(t, "POST", "/block", "application/json", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
	}
}

// guardedGateway starts a gateway in front of a recording upstream with
// one inbound route per leak guard mode, its path /<mode> ("log", the
// default, is left unsaid).
func guardedGateway(t *testing.T, modes ...string) (*gateway, *upstream) {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("routes:\n")
	for _, m := range modes {
		fmt.Fprintf(&doc, "  - {id: %s, direction: inbound, host: \"*\", path_prefix: /%s, upstream: \"{{UP}}\"", m, m)
		if m != "log" {
			fmt.Fprintf(&doc, ", leak_guard: %s", m)
		}
		doc.WriteString("}\n")
	}
	up := newUpstream(t, nil)
	return newGateway(t, parseRoutes(t, doc.String(), up.URL), nil, gwOptions{logger: obstest.Logger(t)}), up
}

// TestLeakGuardLetsHexIdsThrough: a hex id whose digits and 'e' look like a
// number in exponent notation in the middle of the id ("…c6a535997e8e":
// 535997e8 is 53599700000000, Luhn-valid) is no number to any parser, and a
// leak_guard: block route refused about one request in 400 carrying a W3C
// traceparent header for it. Numbers are read at the start of a token
// (pan.FindExponent); a card number written in the id's digits is still
// refused.
func TestLeakGuardLetsHexIdsThrough(t *testing.T) {
	g, up := guardedGateway(t, "block")
	const id = "ffeb618aaa81c9c94da3c6a535997e8e"
	for name, hdr := range map[string]map[string]string{
		"traceparent": {"Traceparent": "00-" + id + "-c6a535997e8e1234-01"},
		"request id":  {"X-Request-Id": id},
		"body only":   nil,
	} {
		body := `{"etag":"` + id + `"}`
		if resp, b := g.do(t, "POST", "/block", "application/json", strings.NewReader(body), hdr); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: want 200, got %d %s", name, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 3 {
		t.Fatalf("the upstream received %d requests, want 3", n)
	}
	resp, b := g.do(t, "POST", "/block", "application/json", strings.NewReader(`{"id":"4111111111111111000e-3"}`), nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
		t.Errorf("a number spelling a card number: want 422 card_data_leak, got %d %s", resp.StatusCode, b)
	}
}

// TestLeakGuardReadsNumbersAfterEscapedSpaces: a number in exponent
// notation is read at the start of a token, and what an app decodes to white
// space or punctuation before it starts one, however it is spelled: a form's
// "%20" (whose own spelling ends in a digit), "%0A", "%C2%A0", a JSON
// string's "\t" or "\u00A0", or U+00A0 itself, which JavaScript's Number
// skips. Each reached the upstream past leak_guard: block once numbers were
// read only where a token starts (parseFloat and Double.parseDouble read
// 4111111111111111 in the decoded " 4111111111111111000e-3").
func TestLeakGuardReadsNumbersAfterEscapedSpaces(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	const form = "application/x-www-form-urlencoded"
	for name, m := range map[string]struct{ query, ctype, body, header string }{
		"form %20":     {ctype: form, body: "amount=1&n=%204111111111111111000e-3"},
		"form %0A":     {ctype: form, body: "n=%0A-4111111111111111000e-3"},
		"form %C2%A0":  {ctype: form, body: "n=%C2%A04111111111111110.9"},
		"query %09":    {query: "?n=%094111111111111111000e-3", ctype: form, body: "a=1"},
		"json \\t":     {ctype: "application/json", body: `{"n":"\t4111111111111111000e-3"}`},
		"json \\u00A0": {ctype: "application/json", body: `{"n":"\u00A04111111111111111000e-3"}`},
		"json U+00A0":  {ctype: "application/json", body: "{\"n\":\"\u00a04111111111111111000e-3\"}"},
		"header %20":   {ctype: form, body: "a=1", header: "x%204111111111111111000e-3"},
		"html &nbsp":   {ctype: "text/html", body: "<p>n=&nbsp4111111111111111000e-3</p>"},
	} {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path+m.query, m.ctype, strings.NewReader(m.body), amountHeader(m.header))
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	// Still no number in the middle of a word or a hex id.
	const id = "ffeb618aaa81c9c94da3c6a535997e8e"
	for _, ok := range []string{"n=x%204e5&id=" + id, "n=%41" + "4111111111111111000e-3", "id=%20" + id} {
		if resp, b := g.do(t, "POST", "/block", form, strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
		}
	}
}

// TestLeakGuardReadsNumbersInDecodedText: what the guard reads only once
// decoded, an XML body's text as a parser joins it and a multipart part in
// base64 or quoted-printable, is read for numbers in exponent notation as
// the body is. "41111111<!---->11111111000e-3" is 4111111111111111000e-3 to
// the XML parser (4111111111111111 to Jackson or parseFloat) and so is that
// number in a base64 or quoted-printable part to the app; neither piece is
// a card number, and only the digits of the joined text were read: each
// reached the upstream past leak_guard: block (the inspector, which reads
// those texts with pan.ContainsAll, withheld the same bodies).
func TestLeakGuardReadsNumbersInDecodedText(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	part := func(enc, data string) string {
		return "--b\r\nContent-Disposition: form-data; name=\"n\"\r\nContent-Transfer-Encoding: " + enc + "\r\n\r\n" + data + "\r\n--b--\r\n"
	}
	const mp = "multipart/form-data; boundary=b"
	for name, m := range map[string][2]string{
		"xml comment":      {"application/xml", "<n>41111111<!---->11111111000e-3</n>"},
		"xml cdata":        {"application/xml", "<n>41111111<![CDATA[11111111000]]>e-3</n>"},
		"xml fraction":     {"text/xml", "<n>41111111<!---->11111110.9</n>"},
		"base64 part":      {mp, part("base64", base64.StdEncoding.EncodeToString([]byte("4111111111111111000e-3")))},
		"quoted-printable": {mp, part("quoted-printable", "41111111=\r\n11111111000e-3")},
	} {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path, m[0], strings.NewReader(m[1]), nil)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	for _, ok := range [][2]string{
		{"application/xml", "<n>12<!---->5e3</n><id>ffeb618aaa81c9c94da3c6a535997e8e</id>"},
		{mp, part("base64", base64.StdEncoding.EncodeToString([]byte("1.5e3 4111111111111112000e-3")))},
	} {
		if resp, b := g.do(t, "POST", "/block", ok[0], strings.NewReader(ok[1]), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %q: want 200, got %d %s", ok[1], resp.StatusCode, b)
		}
	}
}

// TestLeakGuardReadsFractionsInHeaders: a header value holding a decimal
// fraction that a parser into a double rounds to a card number
// ("4111111111111110.9" is 4111111111111111 to parseFloat) is refused as
// the same number in the body or the query is; header values were read for
// numbers only when they held an 'e' or an escape, so it reached the
// upstream past leak_guard: block.
func TestLeakGuardReadsFractionsInHeaders(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	for name, h := range map[string]map[string]string{
		"header": {"X-Amount": "4111111111111110.9"},
		"cookie": {"Cookie": "n=4111111111111110.9"},
	} {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path, "text/plain", strings.NewReader("x"), h)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	if resp, b := g.do(t, "POST", "/block", "text/plain", strings.NewReader("x"), map[string]string{"X-Amount": "12.50", "X-Version": "4.1.2", "X-Rate": "1.5e3", "X-Id": "9.99999999999"}); resp.StatusCode != http.StatusOK {
		t.Errorf("ordinary header values: want 200, got %d %s", resp.StatusCode, b)
	}
}

// refusedOnBothPaths sends a request with send to the block and redact
// routes of guardedGateway and wants each refused with 422 card_data_leak.
func refusedOnBothPaths(t *testing.T, name string, send func(path string) (*http.Response, []byte)) {
	t.Helper()
	for _, path := range []string{"/block", "/redact"} {
		resp, b := send(path)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("%s %s: want 422 card_data_leak, got %d %s", path, name, resp.StatusCode, b)
		}
	}
}

// amountHeader is an X-Amount header of value v; none when v is empty.
func amountHeader(v string) map[string]string {
	if v == "" {
		return nil
	}
	return map[string]string{"X-Amount": v}
}

// TestUpgradeRefusedOnRoutesWithResponseFilters: WebSocket frames are
// never read, so an upgrade on a route whose response filters read bodies
// (redact or reveal) would let the upstream's messages reach the client
// past them: a card number the route's response filter redacts came back
// in clear in a frame. Such an upgrade is refused (403 upgrade_refused)
// and the upstream never sees it, as on a route that redacts request
// bodies; a route whose filters read no body still upgrades.
func TestUpgradeRefusedOnRoutesWithResponseFilters(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
			`{"card":{"number":"` + testPAN + `"}}`)
		_ = brw.Flush()
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	addr := g.Listener.Addr().String()
	upgrade := func(path string) (*http.Response, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var rest []byte
		if resp.StatusCode == http.StatusSwitchingProtocols {
			rest, _ = io.ReadAll(br)
		} else {
			rest, _ = io.ReadAll(resp.Body)
		}
		return resp, string(rest)
	}
	for _, path := range []string{"/respredact/ws", "/reveal/ws"} {
		resp, rest := upgrade(path)
		if strings.Contains(rest, testPAN) {
			t.Errorf("%s: the upstream's card number reached the client through the upgraded connection", path)
		}
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(rest, "upgrade_refused") {
			t.Errorf("%s: want 403 upgrade_refused, got %d %q", path, resp.StatusCode, obstestMask(rest))
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d upgrade requests", n)
	}
	// A route that only redacts a header still upgrades (its filter read
	// the upgrade request's headers).
	if resp, _ := upgrade("/header/ws"); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("/header/ws: want 101, got %d", resp.StatusCode)
	}
}
