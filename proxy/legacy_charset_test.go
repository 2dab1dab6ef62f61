package proxy

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// legacyCards spell testPAN in charsets that are ASCII supersets, with
// the digits or separators outside ASCII that pan reads in UTF-8 (a
// no-break space, an en dash, full-width digits): a client or app that
// reads the body in its charset sees the card number.
var legacyCards = []struct{ charset, body string }{
	{"iso-8859-1", "4111\xa01111\xa01111\xa01111"},           // no-break spaces
	{"windows-1252", "4111\x961111\x961111\x961111"},         // en dashes
	{"latin1", "card: 4111\xa01111\xa01111\xa01111."},        // WHATWG's label of windows-1252
	{"shift_jis", fullWidth(testPAN, "\x82\x4f")},            // full-width digits, 0x82 0x4F is ０
	{"euc-jp", fullWidth(testPAN, "\xa3\xb0")},               // full-width digits, 0xA3 0xB0 is ０
	{"gbk", fullWidth(testPAN, "\xa3\xb0")},                  // full-width digits
	{"big5", "4111\xa1\x401111\xa1\x401111\xa1\x401111"},     // ideographic spaces
	{"euc-kr", "4111\xa1\xa11111\xa1\xa11111\xa1\xa11111"},   // ideographic spaces
	{"koi8-r", "4111\x9a1111\x9a1111\x9a1111"},               // no-break spaces
	{"windows-1251", "4111\xa01111\xa01111\xa01111"},         // no-break spaces
	{"iso-8859-15", "<td>4111\xa01111\xa01111\xa01111</td>"}, // no-break spaces
	{"windows-874", "4111\xa01111\xa01111\xa01111"},          // no-break spaces (Thai)
	{"macintosh", "4111\xca1111\xca1111\xca1111"},            // no-break spaces (Mac Roman)
	{"iso-8859-5", "4111\xa01111\xa01111\xa01111"},           // no-break spaces (Cyrillic)
	{"gb18030", fullWidth(testPAN, "\xa3\xb0")},              // full-width digits
	{"windows-1250", "4111\x971111\x971111\x971111"},         // em dashes are breakers: not a card
}

// fullWidth spells the digits of s as two-byte full-width digits whose
// first is zero's two bytes (the second byte counts up).
func fullWidth(s, zero string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte(zero[0])
		b.WriteByte(zero[1] + (c - '0'))
	}
	return b.String()
}

// TestLegacyCharsetSpellingsAreRead: a body declared in an ASCII-superset
// charset other than UTF-8 (ISO 8859, Windows and Mac code pages, KOI8,
// Shift_JIS, EUC, GBK, Big5) is read as its bytes, so a card number whose
// separators or digits are outside ASCII there (a no-break space 0xA0, an
// en dash 0x96, full-width digits 0x82 0x4F…), which pan reads in UTF-8,
// was not found: it got through leak_guard block to the upstream, and
// through the masks of a route that redacts response bodies to the client.
// The guard now also reads such a body decoded to UTF-8; a number found
// there only cannot be masked in place, so redact refuses it as block
// does.
func TestLegacyCharsetSpellingsAreRead(t *testing.T) {
	var ct, body string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write([]byte(body))
	})
	doc := unmatchedRoutes + inboundRoute("block", "block", "    leak_guard: block\n")
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for _, c := range legacyCards {
		isCard := c.charset != "windows-1250"
		for _, typ := range []string{"text/plain", "text/html"} {
			ct, body = typ+"; charset="+c.charset, c.body
			// A response on a route that redacts response bodies.
			for _, route := range []string{"/log", "/off"} {
				resp, got := g.do(t, "GET", route+"/x", "", nil, nil)
				if ok := resp.StatusCode == http.StatusBadGateway && bytes.Contains(got, []byte("card_data_leak")); ok != isCard {
					t.Errorf("response in %s through %s: status %d %q", ct, route, resp.StatusCode, got)
				}
			}
			// A request through leak_guard: block.
			n := len(up.requests())
			resp, got := g.do(t, "POST", "/block/x", ct, strings.NewReader(c.body), nil)
			if reached := len(up.requests()) > n && resp.StatusCode != http.StatusUnprocessableEntity; reached == isCard {
				t.Errorf("request in %s through leak_guard block: status %d %q", ct, resp.StatusCode, got)
			}
		}
	}
}

// FuzzLegacyText checks that legacyTexts, which decodes bodies the leak
// guard reads, never fails on any body and charset, returns UTF-8, and
// finds the card number a body spells with no-break spaces in ISO 8859-1
// whatever comes around it.
func FuzzLegacyText(f *testing.F) {
	for _, c := range legacyCards {
		f.Add(c.charset, []byte(c.body))
	}
	f.Add("utf-8", []byte("\xff"))
	f.Fuzz(func(t *testing.T, charset string, body []byte) {
		for u := range legacyTexts([]string{"text/plain; charset=" + charset}, body) {
			if !utf8.Valid(u) {
				t.Fatalf("%q in %q: not UTF-8: %q", body, charset, u)
			}
		}
		s := append(append(slices.Clip(body), "\n4111\xa01111\xa01111\xa01111\n"...), body...)
		found := false
		for u := range legacyTexts([]string{"text/plain; charset=iso-8859-1"}, s) {
			found = found || bytes.Contains(u, []byte("4111\u00a01111"))
		}
		if !found {
			t.Fatalf("%q: the no-break spaces not decoded", s)
		}
	})
}
