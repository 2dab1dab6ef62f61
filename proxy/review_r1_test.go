package proxy

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"testing"

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
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
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
		for _, path := range []string{"/block", "/redact"} {
			hdr := map[string]string{}
			if m.header != "" {
				hdr["X-Amount"] = m.header
			}
			resp, b := g.do(t, "POST", path+m.query, m.ctype, strings.NewReader(m.body), hdr)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
				t.Errorf("%s %s: want 422 card_data_leak, got %d %s", path, name, resp.StatusCode, b)
			}
		}
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
