package proxy

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestLegacyCharsetLabelsAndRepeatsAreRead: the guard read a body in the
// first charset of its Content-Type that x/text knows under that label, and
// read it as its bytes when x/text knew none. So a card number spelled with
// no-break spaces, dashes or full-width digits got through leak_guard:
// block and the masks of a route that redacts responses when its charset
// was a label the gateway takes as an ASCII superset but x/text does not
// know (Java's and Python's cp932, euckr, ms949, cp950, macroman, latin9,
// the DOS code pages cp858, ibm-850, cp857…), or when a second charset
// parameter or Content-Type value named the charset that spells it (an app
// may take the last). Each row is a body and its Content-Type values; card
// tells whether the app reads a card number there.
func TestLegacyCharsetLabelsAndRepeatsAreRead(t *testing.T) {
	nbsp := "4111\xa01111\xa01111\xa01111"
	dosNBSP := "4111\xff1111\xff1111\xff1111" // 0xFF is a no-break space in the DOS code pages
	runCharsetRows(t, []charsetRow{
		{[]string{"text/plain; charset=shift_jis; charset=iso-8859-1"}, nbsp, true},
		{[]string{"text/plain; charset=\"shift_jis\"; charset='windows-1252'"}, "4111\x961111\x961111\x961111", true},
		{[]string{"text/plain; charset=shift_jis", "text/plain; charset=iso-8859-1"}, nbsp, true},
		{[]string{"text/plain; charset=cp932"}, fullWidth(testPAN, "\x82\x4f"), true},
		{[]string{"text/plain; charset=eucjp"}, fullWidth(testPAN, "\xa3\xb0"), true},
		{[]string{"text/plain; charset=euckr"}, "4111\xa1\xa11111\xa1\xa11111\xa1\xa11111", true},
		{[]string{"text/plain; charset=ms949"}, "4111\xa1\xa11111\xa1\xa11111\xa1\xa11111", true},
		{[]string{"text/plain; charset=euc-cn"}, fullWidth(testPAN, "\xa3\xb0"), true},
		{[]string{"text/plain; charset=cp950"}, "4111\xa1\x401111\xa1\x401111\xa1\x401111", true},
		{[]string{"text/plain; charset=macroman"}, "4111\xca1111\xca1111\xca1111", true},
		{[]string{"text/plain; charset=latin9"}, nbsp, true},
		{[]string{"text/plain; charset=latin_1"}, nbsp, true},
		{[]string{"text/plain; charset=tis620"}, nbsp, true},
		{[]string{"text/html; charset=cp858"}, dosNBSP, true},
		{[]string{"text/html; charset=ibm-850"}, dosNBSP, true},
		{[]string{"text/html; charset=dos-866"}, dosNBSP, true},
		{[]string{"text/html; charset=cp857"}, dosNBSP, true},                // no decoder: refused
		{[]string{"text/html; charset=windows-1259"}, nbsp, true},            // no such code page: refused
		{[]string{"text/html; charset=iso-8859-12"}, nbsp, true},             // no such part: refused
		{[]string{"text/plain; charset=cp857"}, "order 42, total 10", false}, // ASCII reads alike in all
		{[]string{"text/plain; charset=cp932"}, "\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd", false},
		{[]string{"text/plain; charset=iso-8859-1; charset=cp932"}, "caf\xe9 cr\xe8me", false},
	})
}

// charsetRow is a body, its Content-Type values, and whether the app reads
// a card number there.
type charsetRow struct {
	cts  []string
	body string
	card bool
}

// runCharsetRows sends each row's body as a response through a route that
// redacts response bodies (the guard logging, and off) and as a request
// through leak_guard: block (rows of one Content-Type value): a body
// holding a card number must not pass as sent, another must.
func runCharsetRows(t *testing.T, rows []charsetRow) {
	var row int
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = rows[row].cts
		_, _ = w.Write([]byte(rows[row].body))
	})
	doc := unmatchedRoutes + inboundRoute("block", "block", "    leak_guard: block\n")
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for i, c := range rows {
		row = i
		// A response on a route that redacts response bodies (the guard
		// logs, and is off).
		for _, route := range []string{"/log", "/off"} {
			resp, got := g.do(t, "GET", route+"/x", "", nil, nil)
			if passed := resp.StatusCode == http.StatusOK && bytes.Equal(got, []byte(c.body)); passed == c.card {
				t.Errorf("response %q in %q through %s: status %d %q", c.body, c.cts, route, resp.StatusCode, got)
			}
		}
		// A request through leak_guard: block (one Content-Type value).
		if len(c.cts) > 1 {
			continue
		}
		n := len(up.requests())
		resp, got := g.do(t, "POST", "/block/x", c.cts[0], strings.NewReader(c.body), nil)
		if reached := len(up.requests()) > n && resp.StatusCode == http.StatusOK; reached == c.card {
			t.Errorf("request %q in %q through leak_guard block: status %d %q", c.body, c.cts[0], resp.StatusCode, got)
		}
	}
}

// TestCharsetDeclaredInTheBodyIsRead: a body whose Content-Type names no
// charset but that declares one itself (an XML declaration's encoding, an
// HTML meta charset or http-equiv Content-Type, which browsers and XML
// parsers read it in) was read as its bytes, so a card number spelled with
// that charset's no-break spaces or full-width digits got through
// leak_guard: block and the masks of a route that redacts responses.
func TestCharsetDeclaredInTheBodyIsRead(t *testing.T) {
	nbsp := "4111\xa01111\xa01111\xa01111"
	sjis := fullWidth(testPAN, "\x82\x4f")
	runCharsetRows(t, []charsetRow{
		{[]string{"application/xml"}, `<?xml version="1.0" encoding="ISO-8859-1"?><n>` + nbsp + `</n>`, true},
		{[]string{"text/xml"}, "<?xml version='1.0' encoding='Shift_JIS'?>\n<n>" + sjis + `</n>`, true},
		{[]string{"application/xml; charset=utf-8"}, `<?xml version="1.0" encoding="cp932"?><n>` + sjis + `</n>`, true},
		{[]string{"text/html"}, `<html><head><meta charset="shift_jis"></head><p>` + sjis, true},
		{[]string{"text/html"}, `<META CHARSET=windows-1252><p>4111` + "\x96" + `1111` + "\x96" + `1111` + "\x96" + `1111`, true},
		{[]string{"text/html"}, `<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"><td>` + nbsp, true},
		// A label browsers do not know is ignored: windows-1252's 0xFF is ÿ.
		{[]string{"text/html"}, `<meta charset="cp857"><td>4111` + "\xff" + `1111` + "\xff" + `1111` + "\xff" + `1111`, false},
		{[]string{"text/html"}, `<meta charset="utf-8"><p>caf` + "\xc3\xa9" + ` 12 345</p>`, false},
		{[]string{"text/html"}, `<meta charset="iso-8859-1"><p>caf` + "\xe9" + `, order 4111 2222</p>`, false},
		{[]string{"application/xml"}, `<?xml version="1.0" encoding="ISO-8859-1"?><n>caf` + "\xe9" + `</n>`, false},
	})
}

// TestISO2022JPDeclaredInTheBodyIsRefused: a page whose meta names
// ISO-2022-JP is read by a browser with its escapes, "ESC $ B" switching to
// JIS X 0208 where "#4#1#1#1…" is full-width digits, all of it ASCII
// bytes: the guard, which reads them as '#' and digits, passed the card
// number. Such a body is now unreadable (a Content-Type naming it was
// already).
func TestISO2022JPDeclaredInTheBodyIsRefused(t *testing.T) {
	var jis strings.Builder
	for _, c := range []byte(testPAN) {
		jis.WriteString("#" + string(c))
	}
	runCharsetRows(t, []charsetRow{
		{[]string{"text/html"}, `<meta charset="iso-2022-jp"><p>` + "\x1b$B" + jis.String() + "\x1b(B", true},
		{[]string{"text/html"}, `<meta http-equiv=content-type content="text/html;charset=csISO2022JP"><p>` + "\x1b$B" + jis.String(), true},
		{[]string{"text/html"}, `<meta charset="iso-2022-kr"><p>plain text</p>`, false}, // the replacement encoding
	})
}

// TestMultipartPartCharsetIsRead: a multipart part whose own Content-Type
// names a legacy charset is decoded in it by the app (a form field, an
// attached text), but the guard read it as its bytes, so a card number
// spelled with that charset's no-break spaces or full-width digits, sent
// as it is or quoted-printable, reached the upstream through leak_guard:
// block.
func TestMultipartPartCharsetIsRead(t *testing.T) {
	part := func(ct, cte, content string) string {
		h := "--b\r\nContent-Disposition: form-data; name=\"note\"\r\nContent-Type: " + ct + "\r\n"
		if cte != "" {
			h += "Content-Transfer-Encoding: " + cte + "\r\n"
		}
		return h + "\r\n" + content + "\r\n--b--\r\n"
	}
	const form = "multipart/form-data; boundary=b"
	runCharsetRows(t, []charsetRow{
		{[]string{form}, part("text/plain; charset=iso-8859-1", "", "4111\xa01111\xa01111\xa01111"), true},
		{[]string{form}, part("text/plain; charset=Shift_JIS", "", fullWidth(testPAN, "\x82\x4f")), true},
		{[]string{form}, strings.Replace(part("text/plain; charset=iso-8859-1", "", "4111\xa01111\xa01111\xa01111"), "--b\r\n",
			"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"+strings.Repeat("x", 1100)+"\r\n--b\r\n", 1), true}, // past the first 1,024 bytes
		{[]string{form}, part("text/plain; charset=iso-8859-1", "quoted-printable", "4111=A01111=A01111=A01111"), true},
		{[]string{form}, part("text/plain; charset=cp932", "base64", "glOCUIJQglCCUIJQglCCUIJQglCCUIJQglCCUIJQglA="), true},
		{[]string{form}, part("text/plain; charset=cp857", "", "4111\xff1111\xff1111\xff1111"), true}, // no decoder: refused
		{[]string{form}, part("text/plain; charset=iso-8859-1", "", "caf\xe9, order 4111 2222"), false},
	})
}

// FuzzMetaCharsets checks that metaCharsets, which reads the charset a
// page declares, never fails on any body, gives labels without the bytes
// that end one, and finds the label of a meta element that starts the
// body whatever follows it.
func FuzzMetaCharsets(f *testing.F) {
	f.Add("shift_jis", []byte(`<p>caf\xe9 charset = "koi8-r"`))
	f.Add("iso-8859-1", []byte("CHARSET=\t'x'"))
	f.Fuzz(func(t *testing.T, label string, body []byte) {
		for _, cs := range metaCharsets(body) {
			if cs == "" || strings.ContainsAny(cs, "\"' \t\r\n\f;>/") {
				t.Fatalf("%q: label %q", body, cs)
			}
		}
		if label == "" || len(label) > 40 || strings.ContainsFunc(label, func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_')
		}) {
			return
		}
		got := metaCharsets(append([]byte(`<meta charset="`+label+`">`), body...))
		if len(got) == 0 || got[0] != label {
			t.Fatalf("%q after the meta of %q: %q", body, label, got)
		}
	})
}
