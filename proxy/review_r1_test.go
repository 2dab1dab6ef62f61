package proxy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestLeakGuardReadsExponentsAsParsersDo: a number in exponent notation
// whose exponent has leading zeros ("e-0003", valid JSON) or four digits
// and more, or whose 'e' or sign is escaped where the app decodes escapes
// (a form's or a query's percent-encoding, a JSON string's \u0065, a
// header), is the card number it spells to the app: refused by block and
// redact, as "4111111111111111000e-3" is. So is a number a parser into a
// double (JSON.parse) rounds to a card number: 4111111111111110.9.
func TestLeakGuardReadsExponentsAsParsersDo(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	type msg struct{ query, ctype, body, header string }
	bad := map[string]msg{
		"JSON exponent with leading zeros": {"", "application/json", `{"n":4111111111111111000e-0003}`, ""},
		"JSON four-digit exponent":         {"", "application/json", `{"n":4111111111111111` + strings.Repeat("0", 1000) + `e-1000}`, ""},
		"form, e percent-encoded":          {"", "application/x-www-form-urlencoded", `n=4111111111111111000%65-3`, ""},
		"form, sign percent-encoded":       {"", "application/x-www-form-urlencoded", `n=4111111111111111000e%2D3`, ""},
		"query, e percent-encoded":         {"?n=4111111111111111000%65-3", "", "", ""},
		"JSON string, e escaped":           {"", "application/json", `{"n":"4111111111111111000\u0065-3"}`, ""},
		"header, e percent-encoded":        {"", "", "", "4111111111111111000%65-3"},
		"JSON fraction a double rounds up": {"", "application/json", `{"n":4111111111111110.9}`, ""},
		"JSON exponent a double rounds":    {"", "application/json", `{"n":4111111111111110999e-3}`, ""},
	}
	for name, m := range bad {
		refusedOnBothPaths(t, name, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path+m.query, m.ctype, strings.NewReader(m.body), amountHeader(m.header))
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	for _, ok := range []string{`{"amount":1e0003,"r":12.5E-02,"id":"%41","big":1e99999999999}`, `n=1%2E5%65%2B3&m=4111111111111112000%65-3`} {
		if resp, b := g.do(t, "POST", "/block", "application/json", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/block %s: want 200, got %d %s", ok, resp.StatusCode, b)
		}
	}
}

// TestCharsetNamesClientsSend: a JSON body declared in an ASCII superset
// under a name real clients send — .NET's WebName (ks_c_5601-1987,
// IBM437, windows-874), Java's legacy names (ISO8859_1, MS949), Python's
// (latin-1), the WHATWG labels (unicode-1-1-utf-8, iso88591,
// x-user-defined) — is read and redacted like UTF-8; it was refused 415
// unsupported_charset. Encodings that are not ASCII supersets are still
// refused.
func TestCharsetNamesClientsSend(t *testing.T) {
	const doc = `
routes:
  - id: json
    direction: inbound
    host: "*"
    path_prefix: /json
    upstream: {{UP}}
    leak_guard: block
    filters:
      - id: card-json
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number, classifiers: [pan]}
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	body := `{"card":{"number":"` + testPAN + `"},"amount":1e3,"rate":12.5E-2}`
	for _, cs := range []string{"UTF-8", `"utf-8"`, "utf8", "ks_c_5601-1987", "IBM437", "ibm850", "cp866", "windows-874",
		"ISO8859_1", "ISO8859_15", "MS949", "EUC_JP", "latin-1", "unicode-1-1-utf-8", "iso88591", "iso-8859-8-i",
		"x-user-defined", "IBM00858", "Windows-1252"} {
		n := len(up.requests())
		resp, b := g.do(t, "POST", "/json", "application/json; charset="+cs, strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("charset=%s: want 200, got %d %s", cs, resp.StatusCode, b)
			continue
		}
		got := up.requests()
		if len(got) != n+1 || strings.Contains(string(got[n].Body), testPAN) || !strings.Contains(string(got[n].Body), `"amount":1e3`) {
			t.Errorf("charset=%s: the upstream got %d requests, last %q", cs, len(got)-n, obstestMask(string(got[len(got)-1].Body)))
		}
	}
	n := len(up.requests())
	for _, cs := range []string{"ibm037", "cp1047", "ibm864", "utf-7", "iso-2022-jp", "x-unknown"} {
		resp, b := g.do(t, "POST", "/json", "application/json; charset="+cs, strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("charset=%s: want 415, got %d %s", cs, resp.StatusCode, b)
		}
	}
	if got := len(up.requests()); got != n {
		t.Errorf("the upstream got %d requests in charsets it cannot read", got-n)
	}
}

// TestEncodedPartsAllocateLittleAPart: the guard's decoding of
// quoted-printable parts allocated a 4 KiB bufio.Reader and a fresh
// buffer for every part, 40 bytes for every byte of a body of small
// parts (42 MB for 1 MiB); it now reuses them (about 6 bytes a byte, the
// multipart reader's own headers).
func TestEncodedPartsAllocateLittleAPart(t *testing.T) {
	var b strings.Builder
	for b.Len() < 256<<10 {
		b.WriteString("--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo 1.5e3\r\n")
	}
	b.WriteString("--b--\r\n")
	body := []byte(b.String())
	encodedParts(body, "b") // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, unreadable := encodedParts(body, "b")
	runtime.ReadMemStats(&after)
	if unreadable || !strings.HasPrefix(string(out), "h\u00e9llo 1.5e3\n") {
		t.Fatalf("decoded %.40q, unreadable %v", out, unreadable)
	}
	got := after.TotalAlloc - before.TotalAlloc
	// What reading the parts costs the multipart reader alone.
	runtime.ReadMemStats(&before)
	mr := multipart.NewReader(bytes.NewReader(body), "b")
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, part)
	}
	runtime.ReadMemStats(&after)
	base := after.TotalAlloc - before.TotalAlloc
	if got > 2*base+4*uint64(len(body)) {
		t.Errorf("decoding %d bytes of parts allocated %d bytes (%.1f a byte; the multipart reader alone %.1f)",
			len(body), got, float64(got)/float64(len(body)), float64(base)/float64(len(body)))
	}
}

// TestLeakGuardReadsXMLTextAsParsersJoinIt: an XML parser reports the text
// of an element joined across comments, processing instructions and CDATA
// markers (Go's encoding/xml, a DOM's getTextContent, JAXB), so
// "4111<!---->111111111111" is a card number to the app; the guard read
// the bytes only, and passed it. Block and redact (which cannot mask a
// number the body does not spell whole) refuse it; a card number a CDATA
// section holds whole is still masked by redact. So is an attribute value
// whose groups are joined by tabs or line ends, which Java's parsers
// normalize to spaces ("4111 1111 1111 1111" to the app).
func TestLeakGuardReadsXMLTextAsParsersJoinIt(t *testing.T) {
	g, up := guardedGateway(t, "block", "redact")
	for _, body := range []string{
		`<a>4111<![CDATA[1111]]>11111111</a>`,
		`<a>4111<!-- note -->111111111111</a>`,
		`<?xml version="1.0"?><a>4111<?pi x?>111111111111</a>`,
		`<a><![CDATA[41111111]]><![CDATA[11111111]]></a>`,
		"<card number=\"4111\t1111\t1111\t1111\"/>",
		"<?xml version=\"1.0\"?>\n<card holder='A' number='4111\r\n1111\n1111\n1111'></card>",
	} {
		refusedOnBothPaths(t, body, func(path string) (*http.Response, []byte) {
			return g.do(t, "POST", path, "application/xml", strings.NewReader(body), nil)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	resp, b := g.do(t, "POST", "/redact", "application/xml", strings.NewReader(`<a><![CDATA[`+testPAN+`]]><!-- c --></a>`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a whole card number in CDATA: want it masked, got %d %s", resp.StatusCode, b)
	}
	if got := string(up.last(t).Body); got != `<a><![CDATA[411111******1111]]><!-- c --></a>` {
		t.Errorf("the upstream got %q", obstestMask(got))
	}
	ok := "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- order -->\n<order id=\"17\"\n  note=\"a\tb\">\n\t<id>17</id><![CDATA[note 1234]]><amount>12.50</amount></order>"
	if resp, b := g.do(t, "POST", "/block", "application/xml", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("ordinary XML: want 200, got %d %s", resp.StatusCode, b)
	}
}

// TestLeakGuardReadsEveryBoundaryAndRFC2231Charset: a Content-Type naming
// two boundaries is read by mime.ParseMediaType as nothing, by the guard
// leniently as the first, and by Python's email package and
// python-multipart (which decodes quoted-printable parts) as the last:
// the guard decoded no part, and "=34=31…" went to the app. An RFC 2231
// charset (charset*=utf-8”IBM037), which mime.ParseMediaType, Python
// and Werkzeug decode, was not read as a charset at all.
func TestLeakGuardReadsEveryBoundaryAndRFC2231Charset(t *testing.T) {
	g, up := guardedGateway(t, "block")
	qp := ""
	for _, c := range testPAN {
		qp += "=3" + string(c)
	}
	part := "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n--b--\r\n"
	for _, ct := range []string{"multipart/form-data; boundary=a; boundary=b", `multipart/form-data; boundary="a"; boundary=b`} {
		resp, b := g.do(t, "POST", "/block", ct, strings.NewReader(part), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("%s: want 422 card_data_leak, got %d %s", ct, resp.StatusCode, b)
		}
	}
	ebcdic := "\xc0\x7f\x95\x7f\x7a\xf4" + strings.Repeat("\xf1", 15) + "\xd0" // {"n":4111…1111} in IBM037
	for _, ct := range []string{"application/json; charset*=utf-8''IBM037", "application/json; charset*=''ibm%30%33%37", "application/json; charset*0=IBM037"} {
		resp, b := g.do(t, "POST", "/block", ct, strings.NewReader(ebcdic), nil)
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s: want 415, got %d %s", ct, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	if resp, b := g.do(t, "POST", "/block", "application/json; charset*=utf-8''utf-8", strings.NewReader(`{"a":1}`), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("charset*=utf-8''utf-8: want 200, got %d %s", resp.StatusCode, b)
	}
}

// TestRequestRangeDoesNotSplitGuardedResponses: Apache httpd reads
// Request-Range (the draft spelling Netscape sent) when a request has no
// Range, and answers a byte range of the body; the proxies dropped Range
// and If-Range only, so a client asked for the card number a few bytes at
// a time and each piece passed the response guard alone.
func TestRequestRangeDoesNotSplitGuardedResponses(t *testing.T) {
	doc := []byte(`{"card":{"number":"` + testPAN + `"}}`)
	var got []string
	var mu sync.Mutex
	apache := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Request-Range"))
		mu.Unlock()
		if rr := r.Header.Get("Request-Range"); rr != "" && r.Header.Get("Range") == "" {
			r.Header.Set("Range", rr) // as httpd's byterange filter does
		}
		w.Header().Set("Content-Type", "application/json")
		http.ServeContent(w, r, "card.json", time.Time{}, bytes.NewReader(doc))
	}
	up := newUpstream(t, apache)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	var all []byte
	for _, rg := range []string{"bytes=0-25", "bytes=26-"} {
		resp, b := g.do(t, "GET", "/leakblock", "", nil, map[string]string{"Request-Range": rg})
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("Request-Range %s: want 502 card_data_leak, got %d %s", rg, resp.StatusCode, obstestMask(string(b)))
		}
		all = append(all, b...)
	}
	if bytes.Contains(all, []byte(testPAN)) {
		t.Error("the ranges put the card number together")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "" || got[1] != "" {
		t.Errorf("the upstream got Request-Range %q, want none", got)
	}
}

// TestLeakGuardReadsTheBoundariesOfEveryContentType: a request with two
// Content-Type headers is read by the guard by its first, and by an app
// perhaps by its last (gunicorn hands the last to Django, whose multipart
// parser decodes base64 parts): a base64 part delimited by the second
// one's boundary went to the app past leak_guard: block.
func TestLeakGuardReadsTheBoundariesOfEveryContentType(t *testing.T) {
	g, up := guardedGateway(t, "block")
	body := "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(testPAN)) + "\r\n--b--\r\n"
	for _, cts := range [][]string{{"text/plain", "multipart/form-data; boundary=b"}, {"multipart/form-data; boundary=a", "multipart/form-data; boundary=b"}} {
		req, err := http.NewRequest("POST", g.URL+"/block", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header["Content-Type"] = cts
		resp, err := g.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("Content-Type %q: want 422 card_data_leak, got %d %s", cts, resp.StatusCode, b)
		}
	}
	// Every boundary costs a pass over the body: past a few, the body is
	// unreadable (refused by block), not read a thousand times.
	req, err := http.NewRequest("POST", g.URL+"/block", strings.NewReader("--b\r\n\r\nhello\r\n--b--\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		req.Header.Add("Content-Type", fmt.Sprintf("multipart/form-data; boundary=b%d", i))
	}
	resp, err := g.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "body_unreadable") {
		t.Errorf("a thousand boundaries: want 400 body_unreadable, got %d %s", resp.StatusCode, b)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestXMLQuotingAnEntityDeclarationIsRead: entities are declared in a
// document type declaration only; without one "<!ENTITY" is text in a
// comment or a CDATA section (a SOAP message may carry a DTD as a
// document), and such a body was refused as declaring entities. A body
// with a DOCTYPE and "<!ENTITY" anywhere is still unreadable (a comment
// opener may hide in its system literal).
func TestXMLQuotingAnEntityDeclarationIsRead(t *testing.T) {
	g, _ := guardedGateway(t, "block")
	for _, body := range []string{
		`<?xml version="1.0"?><doc><!-- <!ENTITY x "y"> --><dtd><![CDATA[<!ENTITY a "b">]]></dtd></doc>`,
	} {
		if resp, b := g.do(t, "POST", "/block", "text/xml", strings.NewReader(body), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: want 200, got %d %s", body, resp.StatusCode, b)
		}
	}
	for _, body := range []string{
		`<!DOCTYPE a [<!ENTITY x "4111111111">]><a>&x;</a>`,
		`<!DOCTYPE a [<!-- c --><!ENTITY x "4111111111">]><a>&x;</a>`,
		`<!DOCTYPE a SYSTEM "<!--" [<!ENTITY x "4111111111"><!-- -->]><a>&x;</a>`,
	} {
		if resp, b := g.do(t, "POST", "/block", "text/xml", strings.NewReader(body), nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: want 400, got %d %s", body, resp.StatusCode, b)
		}
	}
}
