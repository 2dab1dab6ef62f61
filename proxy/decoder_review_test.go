package proxy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// Spellings of a card number that an app's decoder reads but that the
// leak guard and the form locator did not (inbound review): each request
// below reached the upstream with the card number in clear before.

// percentU spells s with the non-standard %uXXXX escape of every character.
func percentU(s string) string {
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, "%%u%04x", c)
	}
	return b.String()
}

const decoderReviewRoutes = `
routes:
  - id: block
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: {{UP}}
    leak_guard: block
  - id: form
    direction: inbound
    host: "*"
    path_prefix: /form
    upstream: {{UP}}
    filters:
      - id: card
        operation: redact
        match: {content_type: form}
        targets: [{form: card_number}, {form: cvc, storage: volatile}]
`

// TestLeakGuardReadsPercentUEscapes: ASP.NET's HttpUtility.UrlDecode
// (Request.Form and Request.QueryString of System.Web) and JavaScript's
// unescape() decode the non-standard %uXXXX escape, so "%u0034%u0031…" in
// a form value is a card number to the app. A blocking leak guard let it
// through.
func TestLeakGuardReadsPercentUEscapes(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	const form = "application/x-www-form-urlencoded"
	bodies := map[string]string{
		"every digit":         "note=" + percentU(testPAN),
		"the first four":      "note=" + percentU(testPAN[:4]) + testPAN[4:],
		"grouped with %u0020": "note=" + strings.Join([]string{testPAN[:4], testPAN[4:8], testPAN[8:12], testPAN[12:]}, "%u0020"),
		"digits and %u002d":   "note=" + percentU(testPAN[:8]) + "%u002d" + percentU(testPAN[8:]),
		"%u002D (upper case)": "note=" + percentU(testPAN2[:8]) + "%u002D" + percentU(testPAN2[8:]),
	}
	for name, body := range bodies {
		resp, b := g.do(t, "POST", "/block/pay", form, strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("%s: want 422 card_data_leak, got %d %s", name, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	// A %u escape of anything else is no card number.
	resp, b := g.do(t, "POST", "/block/pay", form, strings.NewReader("note=caf%u00e9+1234+%u0041"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a note without card data: %d %s", resp.StatusCode, b)
	}
}

// TestLeakGuardReadsBase64PartsAsPythonDoes: Python's base64.b64decode,
// with which Django's multipart parser decodes a base64 part, drops every
// byte outside the base64 alphabet before decoding, so "NDEx MTEx …" (or
// with tabs, '*', '-' between the quads) is the card number to a Django
// app. The guard's decoder stopped at the first such byte, and a blocking
// guard forwarded the part.
func TestLeakGuardReadsBase64PartsAsPythonDoes(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	b64 := base64.StdEncoding.EncodeToString([]byte(testPAN)) // NDExMTExMTExMTExMTExMQ==
	quads := func(sep string) string {
		var q []string
		for i := 0; i < len(b64); i += 4 {
			q = append(q, b64[i:i+4])
		}
		return strings.Join(q, sep)
	}
	for name, content := range map[string]string{
		"spaces":          quads(" "),
		"tabs":            quads("\t"),
		"stars":           quads("*"),
		"dashes":          quads("-"),
		"one space":       b64[:5] + " " + b64[5:],
		"spaces, no quad": quads("  "),
	} {
		body := "--B\r\nContent-Disposition: form-data; name=\"note\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + content + "\r\n--B--\r\n"
		resp, b := g.do(t, "POST", "/block/pay", "multipart/form-data; boundary=B", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("base64 with %s: want 422 card_data_leak, got %d %s", name, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestLenientBase64ReadsAsPython: what Python 3.11's base64.b64decode
// gives for each input (checked there), through lenientBase64 and Go's
// decoder.
func TestLenientBase64ReadsAsPython(t *testing.T) {
	for in, want := range map[string]string{
		"MTE=x":                         "11",
		"MT=Ex":                         "111",
		"M=TEx":                         "111",
		"MQ==NDEx":                      "1",
		"MTE=NDEx":                      "11",
		"NDEx MTEx MTEx MTEx MTEx MQ==": testPAN,
		"NDEx_MTEx-MTEx":                "411111111",
		"NDEx\r\nMTEx":                  "411111",
	} {
		got, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(lenientBase64(nil, []byte(in)))))
		if string(got) != want {
			t.Errorf("%q: read %q, want %q", in, got, want)
		}
	}
}

// TestLeakGuardReadsEveryUnicodeSpaceAsASeparator: the separators Find
// reads held U+2007 (figure space) and U+2009 (thin space) but not the
// other space separators of Unicode (Zs): en and em spaces, the
// three- to six-per-em spaces, the punctuation and hair spaces, the medium
// mathematical space, the Ogham space mark. Each shows as a space, and an
// app that strips white space from a card number (Python's and
// JavaScript's \s, str.split, Go's strings.Fields) reads the card number;
// a blocking guard forwarded it.
func TestLeakGuardReadsEveryUnicodeSpaceAsASeparator(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	grouped := func(sep string) string {
		return testPAN[:4] + sep + testPAN[4:8] + sep + testPAN[8:12] + sep + testPAN[12:]
	}
	spaces := []rune{0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2008, 0x200A, 0x205F}
	for _, sp := range spaces {
		for _, body := range []string{
			`{"note":"` + grouped(string(sp)) + `"}`,
			fmt.Sprintf(`{"note":"%s"}`, grouped(fmt.Sprintf(`\u%04x`, sp))),
		} {
			resp, b := g.do(t, "POST", "/block/pay", "application/json", strings.NewReader(body), nil)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
				t.Errorf("grouped by U+%04X: want 422 card_data_leak, got %d %s", sp, resp.StatusCode, b)
			}
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestLeakGuardReadsPercentEncodedFormsInTheirCharset: a form decoder that
// honours the Content-Type's charset (ASP.NET's Request.Form, a servlet's
// getParameter, Django's QueryDict) percent-decodes a value to bytes and
// reads them in that charset: "%34%00%31%00…" is the card number in
// UTF-16LE, "%82%53%82%50…" in Shift_JIS (full-width digits), and
// "4111%A01111…" in windows-1252 (no-break spaces). The guard read the
// escapes as UTF-8 (a NUL, bytes that are no character) and a blocking
// guard forwarded them.
func TestLeakGuardReadsPercentEncodedFormsInTheirCharset(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	pct := func(s string, enc func(c byte) []byte) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			for _, x := range enc(s[i]) {
				fmt.Fprintf(&b, "%%%02X", x)
			}
		}
		return b.String()
	}
	le := func(c byte) []byte { return []byte{c, 0} }
	be := func(c byte) []byte { return []byte{0, c} }
	sjis := func(c byte) []byte { return []byte{0x82, 0x4F + c - '0'} } // full-width digits
	const form = "application/x-www-form-urlencoded; charset="
	for _, tc := range []struct{ charset, body string }{
		{"utf-16le", "note=" + pct(testPAN, le)},
		{"utf-16be", "note=" + pct(testPAN, be)},
		{"utf-16", "note=%FF%FE" + pct(testPAN, le)},
		{"UTF-16LE", "note=" + strings.ReplaceAll(testPAN, "1", "1%00")}, // unreserved digits left as they are
		{"utf-32le", "note=" + pct(testPAN, func(c byte) []byte { return []byte{c, 0, 0, 0} })},
		{"shift_jis", "note=" + pct(testPAN, sjis)},
		{"windows-1252", "note=" + strings.Join([]string{testPAN[:4], testPAN[4:8], testPAN[8:12], testPAN[12:]}, "%A0")},
	} {
		resp, b := g.do(t, "POST", "/block/pay", form+tc.charset, strings.NewReader(tc.body), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("charset %s: want 422 card_data_leak, got %d %s", tc.charset, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	// Text in such a charset without card data passes.
	resp, b := g.do(t, "POST", "/block/pay", form+"windows-1252", strings.NewReader("note=caf%E9+%A0+1234"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a note without card data: %d %s", resp.StatusCode, b)
	}
}

// TestLeakGuardReadsNamedReferencesOfSeparators: HTML's named character
// references of the separators and invisible characters Find reads
// (&ndash;, &thinsp;, &shy;, &ZeroWidthSpace;, …), as rich-text editors
// write them (TinyMCE encodes such characters by name by default), put a
// card number together in any browser and in html.unescape; only &nbsp;
// was read, and a blocking guard forwarded the others.
func TestLeakGuardReadsNamedReferencesOfSeparators(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for _, ref := range []string{"&ndash;", "&dash;", "&hyphen;", "&thinsp;", "&ThinSpace;", "&ensp;", "&emsp;", "&numsp;",
		"&hairsp;", "&MediumSpace;", "&NonBreakingSpace;", "&shy;", "&shy", "&ZeroWidthSpace;", "&zwj;", "&lrm;", "&NoBreak;", "&period;"} {
		note := testPAN[:4] + ref + testPAN[4:8] + ref + testPAN[8:12] + ref + testPAN[12:]
		for _, body := range []string{`{"note":"<p>` + note + `</p>"}`, "<p>" + note + "</p>"} {
			resp, b := g.do(t, "POST", "/block/pay", "application/json", strings.NewReader(body), nil)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
				t.Errorf("grouped by %s: want 422 card_data_leak, got %d %s", ref, resp.StatusCode, b)
			}
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	// Other references are breakers, as before.
	resp, b := g.do(t, "POST", "/block/pay", "application/json", strings.NewReader(`{"note":"4111&amp;1111&amp;1111&amp;1111 4111&mdash;1111&mdash;1111&mdash;1111"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a note without card data: %d %s", resp.StatusCode, b)
	}
}

// TestLeakGuardReadsHeaderValuesAsLatin1: Node, Java servlet containers
// and WSGI/ASGI servers hand an app header values decoded as ISO-8859-1,
// so the byte 0xA0 between digit groups is a no-break space and 0xAD a
// soft hyphen, separators Find reads; the guard read the bytes as UTF-8
// (no character) and a blocking guard forwarded the header.
func TestLeakGuardReadsHeaderValuesAsLatin1(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	grouped := func(sep string) string {
		return testPAN[:4] + sep + testPAN[4:8] + sep + testPAN[8:12] + sep + testPAN[12:]
	}
	for name, hdr := range map[string]map[string]string{
		"no-break spaces": {"X-Note": grouped("\xa0")},
		"soft hyphens":    {"X-Note": "card " + grouped("-\xad")},
		"a cookie":        {"Cookie": "note=" + grouped("\xa0")},
	} {
		resp, b := g.do(t, "GET", "/block/pay", "", nil, hdr)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "card_data_leak") {
			t.Errorf("%s: want 422 card_data_leak, got %d %s", name, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	resp, b := g.do(t, "GET", "/block/pay", "", nil, map[string]string{"X-Note": "caf\xe9 \xa0 1234"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a header without card data: %d %s", resp.StatusCode, b)
	}
}
