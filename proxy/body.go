package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// Body errors.
var (
	errTooLarge            = errors.New("proxy: body over max_body")
	errUnsupportedEncoding = errors.New("proxy: unsupported content encoding")
	errBadEncoding         = errors.New("proxy: body does not decode")
)

// readLimited reads all of r when it holds at most max bytes. When it holds
// more it returns what was read (max+1 bytes) and errTooLarge; the rest is
// still in r.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > max {
		return b, errTooLarge
	}
	return b, nil
}

// readBody is readLimited with the body's declared length (Content-Length,
// -1 when unknown) as a size hint: the body is read into buf when it has
// room for length bytes (a buffer of bodyBuffers), else into one
// allocation of the right size, rather than io.ReadAll's growing copies. A
// body longer than declared is still read to its end, up to max.
func readBody(r io.Reader, length, max int64, buf []byte) ([]byte, error) {
	if length <= 0 || length > max {
		return readLimited(r, max)
	}
	var b []byte
	if int64(cap(buf)) >= length {
		b = buf[:length]
	} else {
		b = make([]byte, length, length+1)
	}
	if n, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return b[:n], err
	}
	// The byte that tells a body longer than declared is read into b's
	// room past length (a pooled buffer's class is a power of two, a new
	// one has a byte spare), where append would put it: a [1]byte handed
	// to the reader (an interface) escaped, an allocation for every body.
	one := b[len(b):min(len(b)+1, cap(b))]
	if len(one) == 0 {
		one = make([]byte, 1) // a body that fills its pooled buffer exactly
	}
	for {
		n, err := r.Read(one)
		if n > 0 {
			rest, err := readLimited(r, max-length-1)
			b = append(append(b, one[0]), rest...)
			return b, err
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// bodyBuffers holds the buffers the phase runner reads bodies of a
// declared length into.
var bodyBuffers = &bodyPool{}

// bodyPool recycles body buffers of 1 KiB to 64 KiB, in power-of-two
// classes. The phase runner gives a buffer back only once it replaced the
// body the buffer holds (a rewritten body is a new slice, and the values
// the filters and the leak guard take from a body are copies, so nothing
// refers to the buffer any more), or, for a response body sent as it was
// read, the body's memBody gives it back when the proxy closes it after
// writing it; put clears it first: no card data waits in the pool. A
// buffer the phase read a body into and did not hand on (the message was
// refused, the body broke off, or was longer than declared and goes on as
// a copy of what was read) goes back cleared when the phase returns; put
// clears a buffer it does not keep too. A request body sent as it was read
// is never given back (GetBody reads it for as long as the request lives).
type bodyPool struct{ classes [bodyClasses]sync.Pool } // *[]byte

const (
	minPooledBody = 1 << 10
	bodyClasses   = 7 // up to minPooledBody<<6 = 64 KiB
)

// class returns the index of the smallest class holding n bytes, or -1.
func (*bodyPool) class(n int64) int {
	for i := range bodyClasses {
		if n <= minPooledBody<<i {
			return i
		}
	}
	return -1
}

// get returns a buffer of at least n bytes (n > 0), or nil when n is
// larger than the largest class.
func (bp *bodyPool) get(n int64) *[]byte {
	i := bp.class(n)
	if i < 0 {
		return nil
	}
	if p, ok := bp.classes[i].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, minPooledBody<<i)
	return &b
}

// put clears the buffer p (from get), all of its capacity, and keeps it
// for another body. A buffer of no class is cleared too, and dropped: a
// buffer that held a body may hold card data, whether it is pooled or left
// to the collector.
func (bp *bodyPool) put(p *[]byte) {
	b := (*p)[:cap(*p)]
	clear(b)
	*p = b
	i := bp.class(int64(len(b)))
	if i < 0 || len(b) != minPooledBody<<i {
		return
	}
	bp.classes[i].Put(p)
}

// memBody is the body of a message the phase runner buffered: one
// allocation where io.NopCloser(bytes.NewReader(b)) is two. When it owns
// a buffer of bodyBuffers (a response body kept as it was read: nothing
// else refers to that buffer, see bodyPool), its first Close empties the
// reader and then gives the buffer back to the pool, so nothing can read
// the buffer through it once it may serve another body: a Read after
// Close reports io.EOF. Like the reader it wraps it is not safe for
// concurrent use; each of the proxies' response writers reads it and
// then closes it, from one goroutine.
type memBody struct {
	bytes.Reader
	pooled *[]byte // owned, returned by Close; nil: none
}

// newMemBody returns a body reading b; pooled, when not nil, is the
// buffer of bodyBuffers b is in, which the body then owns.
func newMemBody(b []byte, pooled *[]byte) *memBody {
	m := &memBody{pooled: pooled}
	m.Reset(b)
	return m
}

// Close gives an owned buffer back to the pool, once.
func (m *memBody) Close() error {
	if p := m.pooled; p != nil {
		m.pooled = nil
		m.Reset(nil)
		bodyBuffers.put(p)
	}
	return nil
}

// unread reports whether nothing was read from m yet.
func (m *memBody) unread() bool { return int64(m.Len()) == m.Size() }

// copyBuffers is the ReverseProxy BufferPool of both proxies: without one,
// ReverseProxy allocates a 32 KiB buffer for every response it copies,
// which made most of the proxies' garbage.
var copyBuffers = &bufferPool{}

// bufferPool is an httputil.BufferPool of 32 KiB buffers. It keeps them
// as array pointers, which a slice converts to without an allocation (a
// *[]byte would be one for every Put).
type bufferPool struct{ p sync.Pool } // *[copyBufferSize]byte

const copyBufferSize = 32 << 10

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[copyBufferSize]byte); ok {
		return b[:]
	}
	return make([]byte, copyBufferSize)
}

func (bp *bufferPool) Put(b []byte) {
	if cap(b) != copyBufferSize {
		return
	}
	bp.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
}

// contentEncoding returns the Content-Encoding chain as one lower-case
// token: "" for none (or only identity), "gzip" (x-gzip too) or "deflate".
// identity tokens are dropped ("gzip, identity" is gzip). Anything else (br,
// zstd, an unknown token, or two encodings stacked) gives the value and
// errUnsupportedEncoding: the proxy cannot decode it, so a body that must
// be read in it is refused (fail closed).
func contentEncoding(values []string) (string, error) {
	enc, n := "", 0
	for _, v := range values {
		for _, tok := range strings.Split(v, ",") {
			switch tok = strings.ToLower(strings.TrimSpace(tok)); tok {
			case "", "identity":
				continue
			case "x-gzip":
				tok = "gzip"
			}
			enc, n = tok, n+1
		}
	}
	switch {
	case n == 0:
		return "", nil
	case n > 1:
		return strings.Join(values, ","), errUnsupportedEncoding
	case enc == "gzip", enc == "deflate":
		return enc, nil
	}
	return enc, errUnsupportedEncoding
}

// decodeBody decodes a gzip or deflate body, bounding the decoded size by
// max (errTooLarge above it: a compression bomb stops there). enc "" returns
// b as is. Other encodings give errUnsupportedEncoding.
func decodeBody(enc string, b []byte, max int64) ([]byte, error) {
	return decodeHeld(enc, b, max, nil)
}

// decodeHeld is decodeBody reading the decoded bytes through held when it
// is not nil (its r set here), which reserves them of the body budget as
// they are decoded (heldReader); a refused reservation fails the decoding
// (held.refused says so).
func decodeHeld(enc string, b []byte, max int64, held *heldReader) ([]byte, error) {
	var r io.ReadCloser
	var err error
	switch enc {
	case "":
		return b, nil
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "deflate":
		// HTTP "deflate" is zlib (RFC 1950); some senders use raw deflate.
		r, err = zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			r, err = flate.NewReader(bytes.NewReader(b)), nil
		}
	default:
		return nil, errUnsupportedEncoding
	}
	if err != nil {
		return nil, errBadEncoding
	}
	defer r.Close()
	var src io.Reader = r
	if held != nil {
		held.r, src = r, held
	}
	out, err := readLimited(src, max)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, errBadEncoding
	}
	return out, nil
}

// DecodeContent decodes body by its message's Content-Encoding values as
// the proxies do before their filters and leak guard read it (gzip or
// deflate, within max decoded bytes; none: body as it is), and returns
// the encoding the proxies encode the rewritten body with again
// (EncodeContent). An encoding they cannot decode is an error.
// `aliasgate routes test` reads a message so.
func DecodeContent(values []string, body []byte, max int64) (enc string, decoded []byte, err error) {
	if enc, err = contentEncoding(values); err != nil {
		return "", nil, err
	}
	if decoded, err = decodeBody(enc, body, max); err != nil {
		return "", nil, err
	}
	return enc, decoded, nil
}

// ContentEncoding is the proxies' reading of a message's Content-Encoding
// values (contentEncoding): "" for none or only identity, "gzip" (x-gzip
// too) or "deflate", identity tokens dropped wherever they are, in one
// field or several; anything else, two encodings stacked included, is an
// error. The inspector reads a captured body by it, so what it shows and
// previews is the body the gateway's filters read.
func ContentEncoding(values []string) (string, error) { return contentEncoding(values) }

// EncodeContent encodes b with enc (from DecodeContent) as the proxies
// encode a body they read decoded.
func EncodeContent(enc string, b []byte) ([]byte, error) { return encodeBody(enc, b) }

// encodeBody encodes b with enc ("", "gzip" or "deflate").
func encodeBody(enc string, b []byte) ([]byte, error) {
	if enc == "" {
		return b, nil // before buf, which escapes (one allocation a body)
	}
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	default:
		return nil, errUnsupportedEncoding
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// errCharset: the body is UTF-16 or UTF-32 text (on a route that redacts
// request bodies) or declares a charset that is not a superset of ASCII
// (asciiCharset), which neither the filters nor the leak guard read.
var errCharset = errors.New("proxy: body in a character encoding other than UTF-8")

// sniff is routes.SniffMediaType (routes/dryrun reads bodies the same way):
// the media type whose syntax the body has when it differs from the
// declared one (mt), "" otherwise.
func sniff(body []byte, mt string) string { return routes.SniffMediaType(body, mt) }

// wide reports whether a body is UTF-16 or UTF-32 text: a BOM of either, a
// charset parameter naming either, or NUL bytes in a body that is not
// multipart.
func wide(body []byte, mt string, params map[string]string) bool {
	if wideCharset(strings.ToLower(params["charset"])) {
		return true
	}
	// The BOMs compared byte by byte (bytes.HasPrefix's calls cost more
	// than the compares, on every body a redacting route reads).
	if len(body) >= 2 && (body[0] == 0xfe && body[1] == 0xff || body[0] == 0xff && body[1] == 0xfe) ||
		len(body) >= 4 && body[0] == 0 && body[1] == 0 && body[2] == 0xfe && body[3] == 0xff {
		return true
	}
	return !strings.HasPrefix(mt, "multipart/") && bytes.IndexByte(body, 0) >= 0
}

// wideCharset reports whether a charset parameter (lower case) names
// UTF-16 or UTF-32, which the guard reads with its NUL bytes dropped. The
// WHATWG labels of UTF-8 that start like one ("unicode-1-1-utf-8") are
// UTF-8.
func wideCharset(cs string) bool {
	if asciiCharset(cs) {
		return false
	}
	return strings.HasPrefix(cs, "utf-16") || strings.HasPrefix(cs, "utf-32") ||
		strings.HasPrefix(cs, "ucs-") || strings.HasPrefix(cs, "unicode")
}

// asciiCharset reports whether a charset parameter (lower case; "" for
// none) names an encoding that writes ASCII digits, separators and letters
// as ASCII bytes, so that the filters and the card-number finder read the
// body as the app does: UTF-8 (under jsonapi.UTF8Charset's labels), US-ASCII, "binary" (bytes as they are,
// libmagic's label for files), the ISO 8859 and Windows code pages, KOI8,
// the DOS code pages of dosCodePages, and the CJK encodings whose ASCII
// range is ASCII (Shift_JIS, EUC, GB, Big5), under the names clients send:
// IANA's and the WHATWG Encoding Standard's labels, Java's (ISO8859_1,
// Cp1252, MS949, EUC_JP), Python's (latin-1, utf_8) and .NET's WebName
// (ks_c_5601-1987, IBM437, windows-874). Not: EBCDIC (IBM037, cp1047…:
// digits are 0xF0–0xF9), UTF-7 (digits may be base64), ISO-2022 (escapes
// switch to two-byte sets that spell full-width digits), HZ, IBM864 (its
// '%' is not ASCII's), and any name not listed.
func asciiCharset(cs string) bool {
	if jsonapi.UTF8Charset(cs) {
		return true
	}
	switch cs {
	case "", "binary", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "latin1", "l1",
		"koi8-r", "koi8-u", "koi8_r", "koi8-ru", "koi", "koi8", "cskoi8r",
		"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932", "ms932", "csshiftjis",
		"euc-jp", "euc_jp", "eucjp", "x-euc-jp", "cseucpkdfmtjapanese",
		"euc-kr", "euc_kr", "euckr", "cseuckr", "korean", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601",
		"csksc56011987", "iso-ir-149", "windows-949", "ms949", "cp949",
		"euc-cn", "gb2312", "gb_2312", "gb_2312-80", "csgb2312", "csiso58gb231280", "iso-ir-58", "chinese",
		"gbk", "x-gbk", "gb18030", "cp936", "ms936", "windows-936",
		"big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5", "cp950", "ms950", "windows-950",
		"tis-620", "tis620", "macintosh", "macroman", "mac", "csmacintosh", "x-mac-roman", "x-mac-cyrillic",
		"x-mac-ukrainian", "x-user-defined", "cp819", "ibm819", "iso-ir-100", "csisolatin1", "csibm866":
		return true
	}
	for _, p := range []string{"iso-8859-", "iso8859-", "iso_8859-", "iso8859_", "iso8859", "windows-125", "cp125",
		"x-cp125", "latin", "latin-", "latin_"} {
		rest, ok := strings.CutPrefix(cs, p)
		if !ok {
			continue
		}
		num, year, hasYear := strings.Cut(rest, ":") // "iso_8859-1:1987", the IANA name
		// iso-8859-8-i, iso-8859-6-e: Hebrew and Arabic in logical or
		// visual order, the same bytes.
		num = strings.TrimSuffix(strings.TrimSuffix(num, "-i"), "-e")
		if allDigits(num) && (!hasYear || allDigits(year)) {
			return true
		}
	}
	for _, p := range []string{"cp", "ibm", "ibm-", "ms", "windows-", "dos-", "x-ibm", ""} {
		if rest, ok := strings.CutPrefix(cs, p); ok && dosCodePages[strings.TrimLeft(rest, "0")] {
			return true
		}
	}
	return false
}

// dosCodePages are the DOS and OEM code pages whose lower half is ASCII
// (IBM437, ibm850, cp866, windows-874…); not IBM864, whose '%' is not.
var dosCodePages = map[string]bool{
	"437": true, "737": true, "775": true, "850": true, "852": true, "855": true, "857": true, "858": true,
	"860": true, "861": true, "862": true, "863": true, "865": true, "866": true, "869": true, "874": true,
}

// errXMLEntities: an XML body declares entities, which the app's parser may
// expand into text written elsewhere in the body.
var errXMLEntities = fmt.Errorf("%w: XML entity declarations", rewrite.ErrMalformed)

// xmlUnreadable returns why an XML parser would read body otherwise than
// as the bytes the leak guard scans, or nil: the first bytes spell "<?xm"
// in EBCDIC (parsers detect the encoding from them), its XML declaration
// names an encoding that is not a superset of ASCII (asciiCharset) nor
// UTF-16/32 (errCharset), or it declares entities (errXMLEntities: an
// internal entity expands to text written elsewhere, "&a;&b;" putting
// together a card number the body holds in halves). UTF-16 and UTF-32
// bodies are read without their NUL bytes. Only a body that starts with
// '<' (after a BOM and white space) counts as XML.
func xmlUnreadable(body []byte) error {
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
	b = xmlStart(b)
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

// xmlStart returns b without a UTF-8 byte order mark and the white space
// (space, tab, CR, LF) after it, where an XML body's first '<' is: what
// bytes.TrimLeft(bytes.TrimPrefix(b, bom), " \t\r\n") returns (nil when
// nothing is left), without building the set of the bytes cut at each
// call: every body the phases read goes through it three times
// (xmlUnreadable, legacyCharsets, XMLText; TestXMLStartAgainstTrim).
func xmlStart(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		b = b[3:]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	if len(b) == 0 {
		return nil
	}
	return b
}

// xmlEncoding returns the encoding (lower case) the XML declaration that
// starts b names ("<?xml version='1.0' encoding='Shift_JIS'?>"), and
// whether it names one.
func xmlEncoding(b []byte) (string, bool) {
	decl, ok := bytes.CutPrefix(b, []byte("<?xml"))
	if !ok {
		return "", false
	}
	end := bytes.Index(decl, []byte("?>"))
	if end < 0 {
		return "", false
	}
	decl = decl[:end]
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return "", false
	}
	v := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if v, ok = bytes.CutPrefix(v, []byte("=")); !ok {
		return "", false
	}
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 || v[0] != '"' && v[0] != '\'' {
		return "", false
	}
	j := bytes.IndexByte(v[1:], v[0])
	if j < 0 {
		return "", false
	}
	return strings.ToLower(string(v[1 : 1+j])), true
}

// metaCharsets returns every "charset=" value (lower case) in the first
// 1,024 bytes of a body, where a browser looks for an HTML meta charset or
// http-equiv Content-Type ("<meta charset=shift_jis>",
// "content='text/html; charset=iso-8859-1'") and reads the page in it when
// its Content-Type names none. Read anywhere in that prefix, not only in a
// meta element: more is read, never less.
func metaCharsets(body []byte) []string {
	// Each '=' is looked at (bytes.IndexByte: a JSON body has none), and
	// the name before it (spaces trimmed) compared with "charset": no copy
	// of the prefix, no pass over it byte by byte.
	rest := body[:min(len(body), 1024)]
	var out []string
	for {
		i := bytes.IndexByte(rest, '=')
		if i < 0 {
			return out
		}
		name := bytes.TrimRight(rest[:i], " \t\r\n\f")
		rest = rest[i+1:]
		if len(name) < len("charset") || !bytes.EqualFold(name[len(name)-len("charset"):], []byte("charset")) {
			continue
		}
		v := bytes.TrimLeft(rest, " \t\r\n\f\"'")
		if end := bytes.IndexAny(v, "\"' \t\r\n\f;>/"); end >= 0 {
			v = v[:end]
		}
		if len(v) > 0 {
			lower := []byte(string(v))
			for j, c := range lower {
				if 'A' <= c && c <= 'Z' {
					lower[j] = c + 'a' - 'A'
				}
			}
			out = append(out, string(lower))
		}
	}
}

// legacyTexts yields body decoded to UTF-8 in every charset that is an
// ASCII superset but not UTF-8 (asciiCharset: ISO 8859, Windows, Mac and
// DOS code pages, KOI8, Shift_JIS, EUC, GB, Big5…; US-ASCII too, which
// browsers read as windows-1252) that the Content-Type values
// (contentTypes) name or the body declares (legacyCharsets), one reading
// at a time, when body holds a byte past ASCII; nothing otherwise. Every
// charset named counts, in every parameter and value, not the first only:
// an app may take the last ("charset=shift_jis; charset=iso-8859-1").
// Such a body spells the characters pan reads past ASCII in UTF-8 (a
// no-break space, dashes, full-width digits) as other bytes: "4111\xa01111…"
// in ISO 8859-1 and full-width digits in Shift_JIS are a card number to a
// client or an app that reads the body in its charset. A body whose
// charset has no decoder, or that names more than maxCharsets of them, is
// unreadable (UnreadableBody) before it is read here. Each reading is
// written over the one before (one buffer, at most four bytes a byte):
// the caller keeps none of it.
func legacyTexts(contentTypes []string, body []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		encs, _ := legacyCharsets(contentTypes, body)
		var buf []byte
		for _, enc := range encs {
			out, _, err := transform.Append(enc.NewDecoder(), buf[:0], body)
			if err != nil {
				continue
			}
			if buf = out; !yield(out) {
				return
			}
		}
	}
}

// percentTexts returns a body holding percent escapes as a form decoder
// that honours the charset of its Content-Type reads it (ASP.NET's
// Request.Form, a servlet's getParameter, Django's QueryDict):
// percent-decoded (rewrite.LenientUnescape, the form locator's reading) and
// then read in each charset of contentTypes that is not UTF-8: a UTF-16 or
// UTF-32 one with its NUL bytes dropped, as such a body is read; an
// ASCII-superset one decoded to UTF-8 (legacyTexts). "%34%00%31%00…" is a
// card number in UTF-16LE, "%82%53%82%50…" (full-width digits) in
// Shift_JIS, "4111%A01111…" (no-break spaces) in windows-1252.
func percentTexts(contentTypes []string, body []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if bytes.IndexByte(body, '%') < 0 {
			return
		}
		wideCS, otherCS := false, false
		for _, ct := range contentTypes {
			for _, cs := range lenientParams(ct, "charset") {
				cs = strings.ToLower(cs)
				wideCS = wideCS || wideCharset(cs)
				otherCS = otherCS || !jsonapi.UTF8Charset(cs)
			}
		}
		if !otherCS {
			return
		}
		dec := []byte(rewrite.LenientUnescape(body))
		if wideCS && !yield(dropNUL(dec)) {
			return
		}
		for u := range legacyTexts(contentTypes, dec) {
			if !yield(u) {
				return
			}
		}
	}
}

// CharsetTexts yields the readings of a body in the charsets its
// Content-Type values (contentTypes) name or it declares, other than
// UTF-8, that the leak guard reads besides its bytes: decoded in each
// legacy one (legacyTexts), then its percent escapes read in each
// (percentTexts). Each reading is overwritten by the next: the caller
// keeps none of it. The leak guard reads a card number found only there as
// one it cannot mask; the inspector withholds a capture that shows one.
func CharsetTexts(contentTypes []string, body []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for u := range legacyTexts(contentTypes, body) {
			if !yield(u) {
				return
			}
		}
		for u := range percentTexts(contentTypes, body) {
			if !yield(u) {
				return
			}
		}
	}
}

// Latin1Text returns a header value read as ISO-8859-1, each byte the
// character of its value, in UTF-8, when it holds a byte past ASCII; nil
// otherwise. Node, Java servlet containers and WSGI/ASGI servers
// (PEP 3333's native strings) hand an app header values decoded so:
// "4111\xa01111…" is a card number grouped by no-break spaces to them.
// The leak guard reads header values so too, and the inspector masks a
// header value whose reading holds one.
func Latin1Text(v string) []byte {
	if !hasNonASCII([]byte(v)) {
		return nil
	}
	out, err := charmap.ISO8859_1.NewDecoder().Bytes([]byte(v))
	if err != nil {
		return nil
	}
	return out
}

// hasNonASCII reports whether b holds a byte past ASCII, eight bytes at a
// time.
func hasNonASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// maxCharsets bounds the distinct legacy charsets a body is read in
// (legacyTexts: a pass and a decoding each); a message naming more is
// unreadable.
const maxCharsets = 4

// legacyCharsets returns the distinct decoders of the ASCII-superset
// charsets other than UTF-8 that the Content-Type values name (every
// charset parameter of each, lenientParams) or the body declares (its
// XML declaration's encoding, xmlEncoding; an HTML meta charset under a
// browser's labels, metaCharsets), and unreadable when one of them has
// none (a code page x/text does not implement, cp857, or a name
// asciiCharset takes by its form that names nothing, windows-1259), when
// there are more than maxCharsets, or when a meta names ISO-2022-JP (all
// ASCII bytes, its escapes switching to two-byte sets that spell
// full-width digits: unreadable whatever the body holds); no decoder when
// body holds no byte past ASCII, which reads alike in all of them.
func legacyCharsets(contentTypes []string, body []byte) (encs []encoding.Encoding, unreadable bool) {
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
	if cs, ok := xmlEncoding(xmlStart(body)); ok {
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

// legacyEncoding returns the encoding a charset label (lower case, one
// asciiCharset takes) names under the WHATWG Encoding Standard's labels
// (what browsers use; they read ISO-8859-1 and US-ASCII as windows-1252)
// or IANA's, with '_' read as '-' (Java's and Python's names), the names
// of legacyAliases, and a DOS code page under any of the prefixes
// asciiCharset reads (cp858, ibm-850, dos-866); nil when none knows it.
func legacyEncoding(cs string) encoding.Encoding {
	names := []string{cs, strings.ReplaceAll(cs, "_", "-")}
	if a, ok := legacyAliases[strings.NewReplacer("-", "", "_", "").Replace(cs)]; ok {
		names = append(names, a)
	}
	for _, p := range []string{"cp", "ibm", "ibm-", "ms", "windows-", "dos-", "x-ibm", ""} {
		if rest, ok := strings.CutPrefix(cs, p); ok && dosCodePages[strings.TrimLeft(rest, "0")] {
			n := strings.TrimLeft(rest, "0")
			names = append(names, "ibm"+n, "ibm00"+n, "windows-"+n)
		}
	}
	for _, name := range names {
		if enc, err := htmlindex.Get(name); err == nil {
			return enc
		}
		if enc, err := ianaindex.IANA.Encoding(name); err == nil && enc != nil {
			return enc
		}
	}
	return nil
}

// legacyAliases name, in a label x/text knows, the labels asciiCharset
// takes that x/text knows under neither index (keys without '-' and '_'):
// Java's and Python's names of the Windows code pages of the CJK
// encodings, and the shorter names of a few others.
var legacyAliases = map[string]string{
	"cp932": "shift_jis", "eucjp": "euc-jp", "euckr": "euc-kr", "cp949": "euc-kr", "ms949": "euc-kr",
	"windows949": "euc-kr", "euccn": "gb2312", "cp950": "big5", "ms950": "big5", "windows950": "big5",
	"tis620": "tis-620", "macroman": "macintosh", "latin1": "windows-1252", "latin2": "iso-8859-2",
	"latin3": "iso-8859-3", "latin4": "iso-8859-4", "latin5": "windows-1254", "latin6": "iso-8859-10",
	"latin7": "iso-8859-13", "latin8": "iso-8859-14", "latin9": "iso-8859-15", "latin10": "iso-8859-16",
}

// UnreadableBody returns why a body (decoded from its Content-Encoding),
// with its message's Content-Type values, is not read by the filters and
// the leak guard as the app reads it, or nil: errCharset for a charset
// that does not spell digits in ASCII (EBCDIC, UTF-7, ISO-2022, or one not
// known: unreadableCharset; a body holding a byte past ASCII in an
// ASCII-superset charset the gateway has no decoder for, or in more than
// maxCharsets of them: legacyCharsets), or an XML body's (xmlUnreadable: entities
// declared, an encoding declared that is not an ASCII superset, EBCDIC
// first bytes). The phases refuse or log such a body; the inspector does
// not keep it, its card numbers being one decoding away.
func UnreadableBody(contentTypes []string, body []byte) error {
	if slices.ContainsFunc(contentTypes, unreadableCharset) {
		return errCharset
	}
	if _, unreadable := legacyCharsets(contentTypes, body); unreadable {
		return errCharset
	}
	return xmlUnreadable(body)
}

// unreadableCharset reports whether a Content-Type value has a charset
// parameter that is neither a superset of ASCII (asciiCharset) nor UTF-16/32.
// The parameters are read leniently (lenientParams), not with
// mime.ParseMediaType, which refuses a value with a parameter it cannot
// parse (then the app's more lenient parser may still find the charset).
func unreadableCharset(ct string) bool {
	for _, cs := range lenientParams(ct, "charset") {
		if cs = strings.ToLower(cs); !asciiCharset(cs) && !wideCharset(cs) {
			return true
		}
	}
	return false
}

// lenientParams returns the values of every parameter name (ASCII case
// ignored) of a Content-Type value, trimmed and unquoted, reading each
// ';'-separated "name=value" as it comes: what a lenient parser finds where
// mime.ParseMediaType refuses the value. An RFC 2231 parameter (name*,
// name*0, name*0*: charset*=utf-8'en'IBM037) counts too, its value taken
// after its charset and language and percent-decoded, as
// mime.ParseMediaType, Python's email package and Werkzeug read it.
func lenientParams(ct, name string) []string {
	var out []string
	_, params, _ := strings.Cut(ct, ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		switch {
		case strings.EqualFold(k, name):
			out = append(out, v)
		case len(k) > len(name) && strings.EqualFold(k[:len(name)], name) && k[len(name)] == '*':
			if i := strings.LastIndex(v, "''"); i >= 0 {
				v = v[i+2:]
			}
			if u, err := url.PathUnescape(v); err == nil {
				v = u
			}
			out = append(out, v)
		}
	}
	return out
}

// multipartBoundaries returns the boundaries an app may read a multipart
// body with, without repeats. When the declared media type mt (the first
// Content-Type value, parsed) is multipart: the boundary mime.ParseMediaType
// found (parsed, "" when it refused the value), and the first and the last
// of the boundary parameters of the first value read leniently (parsers
// differ on which of two counts: Python's email package and
// python-multipart, which decodes quoted-printable and base64 parts, take
// the last). And the same of every later Content-Type value naming a
// multipart type, which an app may read instead of the first (gunicorn
// hands the last one to Django, which decodes base64 parts).
func multipartBoundaries(mt, parsed string, cts []string) []string {
	var out []string
	add := func(b string) {
		if b != "" && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	for i, ct := range cts {
		if i == 0 {
			if !strings.HasPrefix(mt, "multipart/") {
				continue
			}
			add(parsed)
		} else if t, _, _ := strings.Cut(ct, ";"); !strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), "multipart/") {
			continue
		}
		if bs := lenientParams(ct, "boundary"); len(bs) > 0 {
			add(bs[0])
			add(bs[len(bs)-1])
		}
	}
	return out
}

// XMLText returns an XML body (one that starts with '<' after a BOM and
// white space) as the text an XML parser reports: comments and processing
// instructions dropped, CDATA sections' markers dropped and their content
// kept, so that "4111<!---->111111111111" and "4111<![CDATA[1111]]>…" read
// as the card numbers Go's encoding/xml, a DOM's getTextContent or JAXB
// join them into; and the tabs and line ends of attribute values made
// spaces, as Java's parsers normalize them (n="4111<TAB>1111<TAB>…" is
// "4111 1111 …" to the app). nil when b is not XML or has none of them
// (no copy). It is the leak guard's reading of such a body, and the
// inspector's test of what it keeps (an HTML page reads the same way in a
// browser).
func XMLText(b []byte) []byte {
	t := xmlStart(b)
	if len(t) == 0 || t[0] != '<' ||
		!bytes.Contains(t, []byte("<!--")) && !bytes.Contains(t, []byte("<?")) && !bytes.Contains(t, []byte("<![CDATA[")) &&
			!xmlAttrSpace(t) {
		return nil
	}
	out := make([]byte, 0, len(t))
	for i := 0; i < len(t); {
		c := t[i]
		if c != '<' || i+1 >= len(t) {
			out = append(out, c)
			i++
			continue
		}
		rest := t[i:]
		var open, end string
		keep := false
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			open, end = "<!--", "-->"
		case bytes.HasPrefix(rest, []byte("<?")):
			open, end = "<?", "?>"
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			open, end, keep = "<![CDATA[", "]]>", true
		case xmlNameStart(rest[1]):
			// A start tag: the white space of its attribute values is
			// normalized to spaces, as the XML spec says and Java's
			// parsers do ("4111<TAB>1111…" is "4111 1111…" to the app).
			n := xmlTagEnd(rest)
			for k, quote := 0, byte(0); k < n; k++ {
				c := rest[k]
				switch {
				case quote == 0 && (c == '"' || c == '\''):
					quote = c
				case c == quote:
					quote = 0
				case quote != 0 && c == '\r' && k+1 < n && rest[k+1] == '\n':
					continue // one line end: "\r\n" is read as "\n" first
				case quote != 0 && (c == '\t' || c == '\n' || c == '\r'):
					c = ' '
				}
				out = append(out, c)
			}
			i += n
			continue
		default:
			out = append(out, c)
			i++
			continue
		}
		j := bytes.Index(rest[len(open):], []byte(end))
		if j < 0 {
			if keep {
				out = append(out, rest[len(open):]...)
			}
			break
		}
		if keep {
			out = append(out, rest[len(open):len(open)+j]...)
		}
		i += len(open) + j + len(end)
	}
	return out
}

// xmlNameStart reports whether c may start an element name (ASCII; any
// byte of a UTF-8 sequence counts).
func xmlNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':' || c >= 0x80
}

// xmlTagEnd returns the length of the start tag at t[0] ('<' and a name):
// up to and with its '>' outside quotes, or all of t.
func xmlTagEnd(t []byte) int {
	quote := byte(0)
	for k := 1; k < len(t); k++ {
		switch c := t[k]; {
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case c == quote:
			quote = 0
		case quote == 0 && c == '>':
			return k + 1
		}
	}
	return len(t)
}

// xmlAttrSpace reports whether a start tag of t has a tab, a line feed or
// a carriage return inside an attribute value (which a parser reads as a
// space).
func xmlAttrSpace(t []byte) bool {
	for i := bytes.IndexByte(t, '<'); i >= 0 && i+1 < len(t); {
		if xmlNameStart(t[i+1]) {
			n := xmlTagEnd(t[i:])
			quote := byte(0)
			for _, c := range t[i : i+n] {
				switch {
				case quote == 0 && (c == '"' || c == '\''):
					quote = c
				case c == quote:
					quote = 0
				case quote != 0 && (c == '\t' || c == '\n' || c == '\r'):
					return true
				}
			}
			i += n
		} else {
			i++
		}
		j := bytes.IndexByte(t[i:], '<')
		if j < 0 {
			return false
		}
		i += j
	}
	return false
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// blank reports whether b is only white space.
func blank(b []byte) bool {
	return len(bytes.TrimLeft(b, " \t\r\n")) == 0
}

// multiReadCloser streams a buffered prefix followed by the rest of a body.
type multiReadCloser struct {
	io.Reader
	c io.Closer
}

func (m multiReadCloser) Close() error { return m.c.Close() }

func rejoin(prefix []byte, rest io.ReadCloser) io.ReadCloser {
	return multiReadCloser{Reader: io.MultiReader(bytes.NewReader(prefix), rest), c: rest}
}
