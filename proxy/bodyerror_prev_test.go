package proxy

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/japanese"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
)

// The body checks of the phases (bodyError) as they were before their BOM
// and white-space reads were written byte by byte (xmlStart, wide): the
// copies the differential tests below compare them with.

// prevBodyError is bodyError before xmlStart and wide's byte compares.
func prevBodyError(cts []string, body []byte, mt string, params map[string]string, redacting bool) error {
	if err := prevUnreadableBody(cts, body); err != nil {
		return err
	}
	if !redacting {
		return nil
	}
	if prevWide(body, mt, params) {
		return errCharset
	}
	if contentTypesDiffer(cts) {
		return errContentTypes
	}
	return nil
}

func prevWide(body []byte, mt string, params map[string]string) bool {
	if wideCharset(strings.ToLower(params["charset"])) {
		return true
	}
	if bytes.HasPrefix(body, []byte{0xfe, 0xff}) || bytes.HasPrefix(body, []byte{0xff, 0xfe}) ||
		bytes.HasPrefix(body, []byte{0, 0, 0xfe, 0xff}) {
		return true
	}
	return !strings.HasPrefix(mt, "multipart/") && bytes.IndexByte(body, 0) >= 0
}

func prevXMLUnreadable(body []byte) error {
	if bytes.HasPrefix(body, []byte{0x4c, 0x6f, 0xa7, 0x94}) {
		return errCharset
	}
	b := body
	if len(b) >= 2 && (b[0] == 0 || b[1] == 0 || b[0] == 0xfe && b[1] == 0xff || b[0] == 0xff && b[1] == 0xfe) {
		// UTF-16 or UTF-32, perhaps: copied without NULs only when its
		// first character is '<' (a binary body starts with NULs too).
		i := 0
		for i < len(b) && (b[i] == 0 || b[i] == 0xfe || b[i] == 0xff || b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i == len(b) || b[i] != '<' {
			return nil
		}
		b = dropNUL(bytes.TrimPrefix(bytes.TrimPrefix(b, []byte{0xfe, 0xff}), []byte{0xff, 0xfe}))
	}
	b = bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) == 0 || b[0] != '<' {
		return nil
	}
	if bytes.Contains(b, []byte("<!ENTITY")) && bytes.Contains(b, []byte("<!DOCTYPE")) {
		// Entities are declared in a document type declaration only:
		// without one, "<!ENTITY" is text (in a comment or a CDATA
		// section) and declares nothing.
		return errXMLEntities
	}
	if cs, ok := xmlEncoding(b); ok && !asciiCharset(cs) && !wideCharset(cs) {
		return errCharset
	}
	return nil
}

func prevLegacyCharsets(contentTypes []string, body []byte) (encs []encoding.Encoding, unreadable bool) {
	add := func(enc encoding.Encoding) bool {
		if !slices.Contains(encs, enc) {
			if len(encs) == maxCharsets {
				return false
			}
			encs = append(encs, enc)
		}
		return true
	}
	for _, cs := range metaCharsets(body) {
		// A browser's labels only (htmlindex): the page is read in the
		// charset its meta names.
		enc, err := htmlindex.Get(cs)
		switch {
		case err != nil || enc == encoding.Replacement || jsonapi.UTF8Charset(cs) || wideCharset(cs):
			// Unknown (ignored), the replacement encoding (one U+FFFD),
			// UTF-16 (read as UTF-8 by browsers).
		case enc == japanese.ISO2022JP:
			// Escapes switch to two-byte sets: "ESC $ B #4#1…" is
			// full-width digits, all of it ASCII bytes.
			return nil, true
		case !add(enc):
			return nil, true
		}
	}
	var labels []string
	for _, ct := range contentTypes {
		labels = append(labels, lenientParams(ct, "charset")...)
	}
	if cs, ok := xmlEncoding(bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")); ok {
		labels = append(labels, cs) // one that is no ASCII superset: xmlUnreadable
	}
	labels = slices.DeleteFunc(labels, func(cs string) bool {
		cs = strings.ToLower(cs)
		return cs == "" || cs == "binary" || jsonapi.UTF8Charset(cs) || !asciiCharset(cs)
	})
	// The body is looked at only when a legacy charset is named (most
	// name none, or UTF-8): ASCII reads alike in all of them.
	if len(encs) == 0 && len(labels) == 0 || !hasNonASCII(body) {
		return nil, false
	}
	for _, cs := range labels {
		enc := legacyEncoding(strings.ToLower(cs))
		if enc == nil || !add(enc) {
			return nil, true
		}
	}
	return encs, false
}

func prevUnreadableBody(contentTypes []string, body []byte) error {
	if slices.ContainsFunc(contentTypes, unreadableCharset) {
		return errCharset
	}
	if _, unreadable := prevLegacyCharsets(contentTypes, body); unreadable {
		return errCharset
	}
	return prevXMLUnreadable(body)
}

// prevXMLStart is what xmlStart replaced.
func prevXMLStart(b []byte) []byte {
	return bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
}

// bodyCheckSeeds are bodies and Content-Types around what the checks read:
// BOMs, NULs, white space, XML declarations and entities, EBCDIC's first
// bytes, HTML meta charsets, bytes past ASCII.
var bodyCheckSeeds = []string{
	"", "{}", `{"card":{"number":"4111111111111111"}}`, "\xef\xbb\xbf", "\xef\xbb\xbf \t\r\n", " \n<a/>", "\xef\xbb\xbf<a>1</a>",
	"\xfe\xff\x00<", "\xff\xfe<\x00", "\x00\x00\xfe\xff", "\x00\x00\xfe", "\xfe", "\xff\xfe", "\x4c\x6f\xa7\x94",
	"<?xml version='1.0' encoding='ebcdic-cp-us'?><a/>", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xa0</a>",
	"<!DOCTYPE a [<!ENTITY x \"1\">]><a>&x;</a>", "<meta charset=shift_jis>\x82\x53", "<meta charset=iso-2022-jp>",
	"charset=windows-1252 \xa0", "a\x00b", "\t\t<?xml encoding='utf-16'?>", "\xef\xbb\xbf\xef\xbb\xbf<a/>",
}

var bodyCheckTypes = [][]string{
	nil, {"application/json"}, {"application/json; charset=utf-8"}, {"text/xml; charset=iso-8859-1"}, {"text/plain; charset=utf-16"},
	{"text/plain; charset=IBM037"}, {"multipart/form-data; boundary=x"}, {"application/json", "text/plain"}, {"text/html; charset=shift_jis"},
	{"application/x-www-form-urlencoded; charset*=utf-8''windows-1252"},
}

// checkBodyError fails when bodyError and the checks it is made of answer
// body with Content-Type values cts otherwise than the copies of before.
func checkBodyError(t *testing.T, cts []string, body []byte) {
	t.Helper()
	mt, params := parseMediaType(firstValue(cts))
	for _, redacting := range []bool{false, true} {
		if got, want := bodyError(cts, body, mt, params, redacting), prevBodyError(cts, body, mt, params, redacting); got != want {
			t.Fatalf("bodyError(%q, %q, %v) = %v, before %v", cts, body, redacting, got, want)
		}
	}
	if got, want := xmlStart(body), prevXMLStart(body); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Fatalf("xmlStart(%q) = %q, before %q", body, got, want)
	}
	if got, want := xmlUnreadable(body), prevXMLUnreadable(body); got != want {
		t.Fatalf("xmlUnreadable(%q) = %v, before %v", body, got, want)
	}
	encs, un := legacyCharsets(cts, body)
	pencs, pun := prevLegacyCharsets(cts, body)
	if un != pun || !slices.Equal(encs, pencs) {
		t.Fatalf("legacyCharsets(%q, %q) = %v %v, before %v %v", cts, body, encs, un, pencs, pun)
	}
	if got, want := XMLText(body), prevXMLText(body); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Fatalf("XMLText(%q) = %q, before %q", body, got, want)
	}
}

// prevXMLText is XMLText's test of what it reads before xmlStart: nil
// where it was nil, else the text XMLText reads from the same start.
func prevXMLText(b []byte) []byte {
	t := prevXMLStart(b)
	if len(t) == 0 || t[0] != '<' ||
		!bytes.Contains(t, []byte("<!--")) && !bytes.Contains(t, []byte("<?")) && !bytes.Contains(t, []byte("<![CDATA[")) &&
			!xmlAttrSpace(t) {
		return nil
	}
	return XMLText(t) // t starts with '<': no BOM nor white space to take off
}

// TestBodyErrorAgainstPrevious: bodyError, xmlStart, xmlUnreadable,
// legacyCharsets and XMLText answer as before their byte-by-byte reads,
// on the seeds with every Content-Type, and on random bodies made of the
// bytes the checks look at.
func TestBodyErrorAgainstPrevious(t *testing.T) {
	for _, s := range bodyCheckSeeds {
		for _, cts := range bodyCheckTypes {
			checkBodyError(t, cts, []byte(s))
		}
	}
	const alphabet = "\xef\xbb\xbf\xfe\xff\x00 \t\r\n<?!a=x'\"\x4c\x6f\xa7\x94\xa01"
	rnd := rand.New(rand.NewPCG(3, 11))
	for range 100000 {
		b := make([]byte, rnd.IntN(12))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		if rnd.IntN(4) == 0 {
			b = append(b, bodyCheckSeeds[rnd.IntN(len(bodyCheckSeeds))]...)
		}
		checkBodyError(t, bodyCheckTypes[rnd.IntN(len(bodyCheckTypes))], b)
	}
}

// FuzzBodyErrorAgainstPrevious: bodyError and the checks it is made of
// against the copies of before xmlStart and wide's byte compares.
func FuzzBodyErrorAgainstPrevious(f *testing.F) {
	for i, s := range bodyCheckSeeds {
		f.Add(strings.Join(bodyCheckTypes[i%len(bodyCheckTypes)], "\n"), []byte(s))
	}
	f.Fuzz(func(t *testing.T, cts string, body []byte) {
		var list []string
		if cts != "" {
			list = strings.Split(cts, "\n")
		}
		checkBodyError(t, list, body)
	})
}
