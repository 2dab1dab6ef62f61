package inspector

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// View is one side of a captured message, masked: what the page shows.
type View struct {
	// Headers in name order, masked.
	Headers []HeaderLine `json:"headers"`
	// Body is the masked body (decoded from gzip or deflate; JSON
	// pretty-printed when it is whole and valid), "" when there is none or
	// it is withheld.
	Body string `json:"body"`
	// BodyKind is json, form, multipart, xml, text or "" (no body).
	BodyKind string `json:"body_kind"`
	// Truncated reports that Body is the start of a longer body.
	Truncated bool `json:"truncated"`
	// Note says why the body is withheld or what was done to it.
	Note string `json:"note,omitempty"`
	// Fields are the values of the body and headers that a route can
	// target (request views only).
	Fields []Field `json:"fields,omitempty"`
}

// maskSecrets replaces every spelling in v (nil: nothing) with as many
// '*': a value the exchange put on the wire that no other mask finds (a
// cryptogram, proxy.Exchange.Secrets), wherever the view shows it. The
// length is kept, so the fields' offsets in Body hold.
func (v *View) maskSecrets(spellings []string) {
	if v == nil {
		return
	}
	mask := func(s string) string {
		for _, sp := range spellings {
			if sp != "" {
				s = strings.ReplaceAll(s, sp, strings.Repeat("*", len(sp)))
			}
		}
		return s
	}
	v.Body = mask(v.Body)
	for i := range v.Headers {
		v.Headers[i].Value = mask(v.Headers[i].Value)
	}
	for i := range v.Fields {
		v.Fields[i].Value = mask(v.Fields[i].Value)
	}
}

// HeaderLine is one header value.
type HeaderLine struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Field is the index in View.Fields of this header, -1 when it cannot
	// be targeted.
	Field int `json:"field"`
}

// Field is a value of a captured message that a route can target.
type Field struct {
	// Kind is json, form or header.
	Kind string `json:"kind"`
	// Path is the gjson path, form field or header name, as captured
	// (items.0.pan).
	Path string `json:"path"`
	// Pattern is the target the builder proposes (items.#.pan).
	Pattern string `json:"pattern"`
	// Value is the masked value.
	Value string `json:"value"`
	// Hint says what the value looked like in clear (see HintPAN…).
	Hint string `json:"hint"`
	// start and end are the value's byte range in View.Body (body fields).
	start, end int
}

// viewOptions tunes makeView.
type viewOptions struct {
	limit  int  // body bytes kept
	fields bool // collect the targetable fields
}

// makeView masks one message for the buffer. The clear header and body are
// read here and nothing of them is kept but the masked result.
func makeView(h http.Header, body []byte, partial bool, r *rules, o viewOptions) *View {
	v := &View{}
	// A note may quote the message (an error naming its Content-Encoding,
	// a parser's complaint): masked as text shown to people, every note
	// whichever return sets it.
	defer func() { v.Note = pan.MaskShown(v.Note) }()
	v.Headers, v.Fields = maskHeaders(h, r, o.fields)
	if len(body) == 0 && !partial {
		return v
	}
	if r.withhold != "" {
		v.Note = fmt.Sprintf("body (%s) not kept: %s", sizeText(len(body), partial), r.withhold)
		v.BodyKind = "withheld"
		return v
	}
	b, truncated, err := decodeBody(h.Values("Content-Encoding"), body, partial, o.limit)
	if err != nil {
		v.Note = fmt.Sprintf("body (%s) not kept: %v", sizeText(len(body), partial), err)
		v.BodyKind = "withheld"
		return v
	}
	full := len(b) >= o.limit
	if truncated {
		b = trimTail(b)
		v.Truncated = true
	}
	if proxy.UnreadableBody(h.Values("Content-Type"), b) != nil {
		// The guard cannot read it either; the app reads its card
		// numbers, one decoding away from what the masks see.
		v.Note = fmt.Sprintf("body (%s) not kept: %s", sizeText(len(b), truncated), unreadableNote)
		v.BodyKind = "withheld"
		return v
	}
	if dec, unreadable := proxy.EncodedParts(h.Values("Content-Type"), b); unreadable || pan.ContainsAll(dec) {
		// Parts in base64 or quoted-printable, which apps decode: a card
		// number in them is not written in the body's bytes, where the
		// masks look.
		v.Note = fmt.Sprintf("body (%s) not kept: a multipart part in base64 or quoted-printable holds a card number once decoded, or names a charset that cannot be read", sizeText(len(b), truncated))
		v.BodyKind = "withheld"
		return v
	}
	if isBinary(b) {
		v.Note = fmt.Sprintf("binary body (%s) not shown", sizeText(len(b), truncated))
		v.BodyKind = "withheld"
		return v
	}
	ct := h.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if sniffed := routes.SniffMediaType(b, mt); sniffed != "" {
		// Read by its syntax, as the gateway's filters read it: a form
		// sent as text/plain has its targets located and redacted.
		mt = sniffed
	}
	kind := bodyKind(mt, b)
	v.BodyKind = kind
	var text string
	var fields []Field
	switch kind {
	case "json":
		text, fields = maskJSON(b, r, !truncated && json.Valid(b), o.fields)
	case "form":
		text, fields = maskForm(string(b), r, o.fields)
	case "multipart":
		text, fields, err = maskMultipart(b, params["boundary"], r, o)
	case "xml":
		text, err = maskXML(b, mt, params, r)
	default:
		text = r.text(string(b))
	}
	located := text
	if err == nil && r.regex != nil {
		text, err = applyProgram(r.regex, text, mt, params)
	}
	if err != nil {
		v.Note = fmt.Sprintf("body (%s) not kept: %v", sizeText(len(b), truncated), err)
		v.BodyKind = "withheld"
		return v
	}
	if kind == "xml" {
		text = r.text(text) // after the programs, whose matches it must not hide
	} else if kind == "text" {
		text, _ = maskCards(text)
	}
	for u := range proxy.CharsetTexts(h.Values("Content-Type"), []byte(text)) {
		if pan.ContainsAll(u) {
			// What the view would show holds a card number read in the
			// body's charset, its percent escapes too, as the app reads
			// it (and the leak guard): "4111\xa01111…" in windows-1252,
			// "%34%00%31%00…" in UTF-16LE. No mask can be put where the
			// body's bytes do not spell it.
			v.Note = fmt.Sprintf("body (%s) not kept: read in its charset it holds a card number", sizeText(len(b), truncated))
			v.BodyKind = "withheld"
			return v
		}
	}
	if x := proxy.XMLText([]byte(text)); x != nil && pan.ContainsAll(x) {
		// A card number split by a comment, a processing instruction or
		// CDATA markers, or spaced by tabs in an attribute, is whole to
		// the parser or browser that reads the body, and no mask can be
		// put where it is not written whole.
		v.Note = fmt.Sprintf("body (%s) not kept: read as XML or HTML (comments and CDATA markers dropped, attribute white space as spaces) it holds a card number", sizeText(len(b), truncated))
		v.BodyKind = "withheld"
		return v
	}
	v.Body = strings.ToValidUTF8(text, "\uFFFD")
	if v.Body != located {
		// The field offsets no longer hold: list the fields, unanchored.
		for i := range fields {
			fields[i].start, fields[i].end = 0, 0
		}
	}
	v.Fields = append(v.Fields, fields...)
	switch {
	case truncated && full:
		v.Note = "truncated: only the first " + sizeText(o.limit, false) + " are kept"
	case truncated:
		v.Note = "incomplete: the receiver did not read the whole body"
	}
	return v
}

// unreadableNote says why a body proxy.UnreadableBody names is not kept.
const unreadableNote = "its charset (one that does not spell digits in ASCII, such as UTF-7 or EBCDIC) or its XML declarations (entities, an encoding) make its app read it otherwise than the masks"

func sizeText(n int, more bool) string {
	s := fmt.Sprintf("%d bytes", n)
	if n >= 1<<10 && n%(1<<10) == 0 {
		s = fmt.Sprintf("%d KiB", n>>10)
	}
	if more {
		s = "at least " + s
	}
	return s
}

// decodeBody decodes gzip and deflate bodies, bounding the decoded size by
// limit. Its Content-Encoding values are read as the proxies read them
// (proxy.ContentEncoding: "gzip, identity" is gzip, in one field or two),
// so the view, and the route preview run on it, hold the body the
// gateway's filters read. Other encodings are not decoded: their bytes
// could hold card data in a form the masks do not see.
func decodeBody(values []string, b []byte, partial bool, limit int) ([]byte, bool, error) {
	var r io.Reader
	enc, err := proxy.ContentEncoding(values)
	if err != nil {
		return nil, false, fmt.Errorf("%q content encoding is not decoded", strings.Join(values, ", "))
	}
	switch enc {
	case "":
		return b, partial, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false, errors.New("gzip body does not decode")
		}
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			r = flate.NewReader(bytes.NewReader(b))
		} else {
			r = zr
		}
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil && !(partial && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF))) {
		return nil, false, errors.New("compressed body does not decode")
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, partial, nil
}

// trimTail drops what may be the start of a card number or of an escape
// cut by the truncation: trailing digits, separators and escape characters
// in every spelling pan.Find reads (dots, character references, and
// non-ASCII bytes such as full-width digits and no-break spaces).
func trimTail(b []byte) []byte {
	i := len(b)
	for i > 0 && (b[i-1] >= 0x80 || strings.IndexByte("0123456789 -+.%\\uUabcdefABCDEF&#;xX", b[i-1]) >= 0) {
		i--
	}
	return b[:i]
}

// isBinary reports whether b does not look like text.
func isBinary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) && utf8.RuneCount(b) < len(b)*9/10
}

func bodyKind(mt string, b []byte) string {
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json"
	case mt == "application/x-www-form-urlencoded":
		return "form"
	case mt == "multipart/form-data":
		return "multipart"
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		return "xml"
	case mt == "":
		if t := bytes.TrimSpace(b); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			return "json"
		}
	}
	return "text"
}

// applyProgram runs a target Program with the masking tokenizer on text.
func applyProgram(p *rewrite.Program, text, mt string, params map[string]string) (string, error) {
	msg := &rewrite.Message{Header: http.Header{}, Body: []byte(text), MediaType: mt, Params: params}
	if _, err := p.Apply(context.Background(), msg, maskTok{}); err != nil {
		return "", fmt.Errorf("the route's targets cannot be located in it (%s)", errorKind(err))
	}
	return string(msg.Body), nil
}

// errorKind names a rewrite error without its text.
func errorKind(err error) string {
	switch {
	case errors.Is(err, rewrite.ErrMalformed):
		return "malformed"
	case errors.Is(err, rewrite.ErrTooDeep):
		return "nested too deeply"
	case errors.Is(err, rewrite.ErrDuplicateKey):
		return "duplicate key"
	case errors.Is(err, rewrite.ErrTargetType):
		return "target of the wrong type"
	}
	return "error"
}

// Header handling.

// untargetable headers are framing and negotiation headers a route has no
// reason to target.
var untargetable = map[string]bool{
	"Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Connection": true, "Host": true, "Accept": true, "Accept-Encoding": true, "Accept-Language": true,
	"User-Agent": true, "Date": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true,
	"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true, "Expect": true,
}

// maskHeaders masks every header value: credentials (Authorization,
// cookies, keys named like secrets) whole after their scheme or name, the
// route's header targets, CVC-named headers, and card-like runs anywhere.
func maskHeaders(h http.Header, r *rules, withFields bool) ([]HeaderLine, []Field) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var lines []HeaderLine
	var fields []Field
	for _, k := range names {
		name := http.CanonicalHeaderKey(k)
		shown, _ := maskCards(name)
		for _, v := range h[k] {
			mv := maskHeaderValue(name, v, r)
			if u := proxy.Latin1Text(mv); u != nil && pan.ContainsAll(u) {
				// A card number to an app that reads the value as
				// ISO-8859-1 (Node, servlets, WSGI; the leak guard):
				// "4111\xa01111…", which no mask finds in its bytes.
				mv = maskAll(v)
			}
			line := HeaderLine{Name: shown, Value: mv, Field: -1}
			if withFields && !untargetable[name] && shown == name {
				line.Field = len(fields)
				fields = append(fields, Field{Kind: "header", Path: name, Pattern: name, Value: mv, Hint: hintOf(name, v)})
			}
			lines = append(lines, line)
		}
	}
	return lines, fields
}

func maskHeaderValue(name, v string, r *rules) string {
	switch {
	case r.headerKeep[name]:
		return r.kept(v)
	case r.header[name]:
		return maskTarget(v)
	case name == "Authorization" || name == "Proxy-Authorization":
		scheme, rest, ok := strings.Cut(v, " ")
		if !ok {
			return maskAll(v)
		}
		s, _ := maskCards(scheme)
		return s + " " + maskAll(rest)
	case name == "Cookie":
		parts := strings.Split(v, ";")
		for i, p := range parts {
			n, val, _ := strings.Cut(p, "=")
			n, _ = maskCards(n)
			parts[i] = n + "=" + maskAll(val)
		}
		return strings.Join(parts, ";")
	case name == "Set-Cookie":
		first, attrs, _ := strings.Cut(v, ";")
		n, val, _ := strings.Cut(first, "=")
		n, _ = maskCards(n)
		attrs, _ = maskCards(attrs)
		if attrs != "" {
			attrs = ";" + attrs
		}
		return n + "=" + maskAll(val) + attrs
	}
	return r.keyed(name, v)
}

// JSON.

// jsonMasker walks a JSON body leniently (a truncated or malformed body
// still gets every string and number masked), rewriting each value by the
// rules, decoding escapes first: "\u0034111…" is a card number too. With
// pretty it re-indents (the body must then be valid JSON).
type jsonMasker struct {
	in         []byte
	out        []byte
	r          *rules
	pretty     bool
	withFields bool
	fields     []Field
	stack      []jsonFrame
	justOpened bool
}

type jsonFrame struct {
	array     bool
	index     int
	key       string
	hasKey    bool
	expectKey bool
	// under: a key on the way to this array or object names a security
	// code or a cryptogram ({"cryptogram":{"value":…}}).
	under bool
	// keyBytes is the length of the keys on the way to it.
	keyBytes int
	// nearKey is the nearest object key on the way to it, and nearSens
	// whether it is sensitive (sensitiveKey); keySens is whether key is,
	// found once per key, not once per value under it.
	nearKey           string
	nearSens, keySens bool
}

// Bounds of the work and memory a capture may take, whatever its body
// nests: a 60 KB body nested 5,000 levels deep with 15,000 values in it
// took 27 s of CPU on the request's goroutine and kept 300 MB of field
// paths in the buffer, and a 20 KB one nested 10,000 levels deep was
// pretty-printed into 200 MB.
const (
	// maxFields bounds the fields a view offers.
	maxFields = 1000
	// maxFieldPath bounds the bytes of the keys of an offered field's path.
	maxFieldPath = 1 << 10
	// prettyFactor bounds a pretty-printed JSON body to this many times
	// its size (and prettySlack bytes more); a body that would grow more
	// is shown as written.
	prettyFactor, prettySlack = 3, 4 << 10
)

func maskJSON(b []byte, r *rules, pretty, withFields bool) (string, []Field) {
	m := &jsonMasker{in: b, out: make([]byte, 0, len(b)+len(b)/4), r: r, pretty: pretty, withFields: withFields}
	m.walk()
	if m.pretty && len(m.out) > prettyFactor*len(b)+prettySlack {
		return maskJSON(b, r, false, withFields) // the indentation would outgrow the body
	}
	return string(m.out), m.fields
}

func (m *jsonMasker) top() *jsonFrame {
	if len(m.stack) == 0 {
		return nil
	}
	return &m.stack[len(m.stack)-1]
}

func (m *jsonMasker) newline(depth int) {
	if len(m.out)+1+2*depth > prettyFactor*len(m.in)+prettySlack {
		return // over budget: maskJSON starts again without indenting
	}
	m.out = append(m.out, '\n')
	for range depth {
		m.out = append(m.out, ' ', ' ')
	}
}

func (m *jsonMasker) beforeToken() {
	if m.pretty && m.justOpened {
		m.newline(len(m.stack))
	}
	m.justOpened = false
}

func (m *jsonMasker) walk() {
	in := m.in
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if !m.pretty {
				m.out = append(m.out, c)
			}
			i++
		case c == '{' || c == '[':
			m.beforeToken()
			m.out = append(m.out, c)
			f := jsonFrame{array: c == '[', expectKey: c == '{'}
			if t := m.top(); t != nil {
				f.under, f.keyBytes, f.nearKey, f.nearSens = t.under, t.keyBytes, t.nearKey, t.nearSens
				if !t.array {
					f.under = f.under || cvcKey(t.key) || cryptogramKey(t.key)
					f.keyBytes += len(t.key)
					f.nearKey, f.nearSens = t.key, t.keySens
				}
			}
			m.stack = append(m.stack, f)
			m.justOpened = true
			i++
		case c == '}' || c == ']':
			if m.pretty && !m.justOpened {
				m.newline(max(len(m.stack)-1, 0))
			}
			m.justOpened = false
			m.out = append(m.out, c)
			if len(m.stack) > 0 {
				m.stack = m.stack[:len(m.stack)-1]
			}
			i++
		case c == ',':
			m.out = append(m.out, ',')
			if t := m.top(); t != nil {
				if t.array {
					t.index++
				} else {
					t.expectKey, t.hasKey = true, false
				}
			}
			if m.pretty {
				m.newline(len(m.stack))
			}
			i++
		case c == ':':
			m.out = append(m.out, ':')
			if m.pretty {
				m.out = append(m.out, ' ')
			}
			if t := m.top(); t != nil && !t.array {
				t.expectKey = false
			}
			i++
		case c == '"':
			j, closed := scanJSONString(in, i)
			raw := in[i:j]
			v, escaped := decodeJSONString(raw, closed)
			m.beforeToken()
			if t := m.top(); t != nil && !t.array && t.expectKey {
				shown, changed := maskCards(v)
				m.writeString(raw, shown, changed || (escaped && hasDigit(v)) || !closed)
				t.key, t.hasKey, t.keySens = v, true, sensitiveKey(v)
			} else {
				m.value(raw, v, true, mustRewrite(escaped, v, closed))
			}
			i = j
		default:
			j := i
			for j < len(in) && strings.IndexByte(",]}:\"[{ \t\r\n", in[j]) < 0 {
				j++
			}
			if j == i {
				j = i + 1
			}
			m.beforeToken()
			m.value(in[i:j], string(in[i:j]), false, false)
			i = j
		}
	}
}

// mustRewrite reports whether a string token must be rewritten even when its
// value is not masked: escapes could hide digits, and an unterminated
// string needs its closing quote for the page.
func mustRewrite(escaped bool, v string, closed bool) bool {
	return escaped && hasDigit(v) || !closed
}

func hasDigit(s string) bool {
	return strings.IndexAny(s, "0123456789") >= 0
}

// path returns the path of the value being read (O(depth): made only
// when a target pattern or an offered field needs it).
func (m *jsonMasker) path() []pathSeg {
	path := make([]pathSeg, 0, len(m.stack))
	for _, f := range m.stack {
		if f.array {
			path = append(path, pathSeg{index: f.index})
		} else {
			path = append(path, pathSeg{key: f.key, index: -1})
		}
	}
	return path
}

func (m *jsonMasker) value(raw []byte, v string, isString, rewriteRaw bool) {
	literal := !isString && (v == "true" || v == "false" || v == "null")
	var path []pathSeg
	pathOf := func() []pathSeg {
		if path == nil {
			path = m.path()
		}
		return path
	}
	key, sens := "", false
	t := m.top()
	if t != nil {
		key, sens = t.nearKey, t.nearSens
		if !t.array {
			key, sens = t.key, t.keySens
		}
	}
	var out string
	if literal {
		out = v
	} else if t != nil {
		out = m.r.jsonValue(len(m.stack), pathOf, t.under || sens, v)
	} else {
		out, _ = maskCards(v)
	}
	start := len(m.out)
	switch {
	case out != v || isString && rewriteRaw:
		m.out = appendJSONString(m.out, out)
	default:
		m.out = append(m.out, raw...)
	}
	// A value deeper than a route can target (the rewrite walker refuses
	// the body) or under keys longer than maxFieldPath is not offered.
	if m.withFields && !literal && t != nil && len(m.stack) <= rewrite.MaxDepth && len(m.fields) < maxFields &&
		t.keyBytes+len(t.key) <= maxFieldPath {
		p := gjsonPath(pathOf(), false)
		if !holdsCard(p) { // a key holding a card number is not offered
			m.fields = append(m.fields, Field{Kind: "json", Path: p, Pattern: gjsonPath(pathOf(), true),
				Value: out, Hint: hintOf(key, v), start: start, end: len(m.out)})
		}
	}
}

func (m *jsonMasker) writeString(raw []byte, v string, rewrite bool) {
	if rewrite {
		m.out = appendJSONString(m.out, v)
		return
	}
	m.out = append(m.out, raw...)
}

// scanJSONString returns the end of the string token starting at in[i]
// (just past its closing quote, or len(in) when it is not closed).
func scanJSONString(in []byte, i int) (int, bool) {
	for j := i + 1; j < len(in); j++ {
		switch in[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(in), false
}

// decodeJSONString decodes a string token (with or without its closing
// quote), leniently: a bad escape is kept as written.
func decodeJSONString(raw []byte, closed bool) (string, bool) {
	s := raw[1:]
	if closed {
		s = s[:len(s)-1]
	}
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s), false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, n := decodeU(s[i+1:])
			if n == 0 {
				b.WriteString(`\u`)
				continue
			}
			b.WriteRune(r)
			i += n
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

// decodeU decodes the XXXX of a \uXXXX escape (and a following low
// surrogate escape); n is the number of bytes used after the 'u'.
func decodeU(s []byte) (rune, int) {
	hex := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		var r rune
		for _, c := range b[:4] {
			r <<= 4
			switch {
			case c >= '0' && c <= '9':
				r |= rune(c - '0')
			case c >= 'a' && c <= 'f':
				r |= rune(c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				r |= rune(c - 'A' + 10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	r, ok := hex(s)
	if !ok {
		return 0, 0
	}
	if r >= 0xD800 && r < 0xDC00 && len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
		if lo, ok := hex(s[6:]); ok && lo >= 0xDC00 && lo < 0xE000 {
			return (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000, 10
		}
	}
	if r >= 0xD800 && r < 0xE000 {
		return utf8.RuneError, 4
	}
	return r, 4
}

// appendJSONString writes s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// Forms.

// maskForm masks an application/x-www-form-urlencoded body (or a query
// string) field by field, on the decoded values: "%34111…" and
// "4111+1111+…" are card numbers too.
func maskForm(body string, r *rules, withFields bool) (string, []Field) {
	var out strings.Builder
	var fields []Field
	for i, pair := range strings.Split(body, "&") {
		if i > 0 {
			out.WriteByte('&')
		}
		rk, rv, hasValue := strings.Cut(pair, "=")
		key, kEsc := formUnescape(rk)
		shownKey, kChanged := maskCards(key)
		if kChanged || kEsc && hasDigit(key) {
			out.WriteString(formEscape(shownKey))
		} else {
			out.WriteString(rk)
		}
		if !hasValue {
			continue
		}
		out.WriteByte('=')
		v, vEsc := formUnescape(rv)
		name := key
		if i == 0 {
			// The form locator reads past a leading byte order mark, as
			// Express's body-parser does: "\ufeffref" is ref.
			name = strings.TrimPrefix(key, "\ufeff")
		}
		mv := r.formValue(name, v)
		start := out.Len()
		if mv != v || vEsc && hasDigit(v) {
			out.WriteString(formEscape(mv))
		} else {
			out.WriteString(rv)
		}
		if withFields && !kChanged && key != "" && len(fields) < maxFields {
			fields = append(fields, Field{Kind: "form", Path: key, Pattern: name, Value: mv, Hint: hintOf(name, v), start: start, end: out.Len()})
		}
	}
	return out.String(), fields
}

// formEscape encodes a form component, leaving the asterisks of masks as
// they are (HTML forms do not escape them either).
func formEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2A", "*")
}

// formUnescape decodes a form component and reports whether it had escapes.
// One with bad percent-encoding is read as the form locator reads such a
// name (rewrite.LenientUnescape): a stray '%' kept, ASP.NET's "%u0076"
// decoded, so "c%u0076c" names a CVC here as it does to System.Web.
func formUnescape(s string) (string, bool) {
	if strings.IndexAny(s, "%+") < 0 {
		return s, false
	}
	if v, err := url.QueryUnescape(s); err == nil {
		return v, true
	}
	return rewrite.LenientUnescape([]byte(s)), true
}

// Multipart.

// maskMultipart renders a multipart/form-data body part by part, each value
// masked by its field name. A body that does not parse is withheld: its
// field names, which the CVC masks need, cannot be trusted.
func maskMultipart(b []byte, boundary string, r *rules, o viewOptions) (string, []Field, error) {
	if boundary == "" {
		return "", nil, errors.New("multipart body without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	// The boundary is the client's text, shown as the header shows it: a
	// card-like run in it masked (multipart.NewWriter's 60 random hex
	// characters hold a run of 13 or more decimal digits now and then, and a
	// client can put a card number there).
	delim, _ := maskCards(boundary)
	var out strings.Builder
	var fields []Field
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, errors.New("multipart body does not parse")
		}
		data, err := io.ReadAll(io.LimitReader(p, int64(o.limit)))
		if err != nil {
			return "", nil, errors.New("multipart body does not parse")
		}
		if proxy.UnreadableBody(p.Header.Values("Content-Type"), data) != nil {
			return "", nil, errors.New("a part's " + unreadableNote)
		}
		name := p.FormName()
		out.WriteString("--" + delim + "\r\n")
		for _, k := range []string{"Content-Disposition", "Content-Type"} {
			if v := p.Header.Get(k); v != "" {
				v, _ = maskCards(v)
				out.WriteString(k + ": " + v + "\r\n")
			}
		}
		out.WriteString("\r\n")
		start := out.Len()
		var mv string
		if isBinary(data) {
			mv = fmt.Sprintf("[binary, %d bytes]", len(data))
		} else {
			mv = r.formValue(name, string(data))
		}
		out.WriteString(mv)
		if o.fields && name != "" && p.FileName() == "" && !holdsCard(name) && len(fields) < maxFields { // nor a name holding one
			fields = append(fields, Field{Kind: "form", Path: name, Pattern: name, Value: mv, Hint: hintOf(name, string(data)), start: start, end: out.Len()})
		}
		out.WriteString("\r\n")
	}
	out.WriteString("--" + delim + "--\r\n")
	return out.String(), fields, nil
}

// XML.

// maskXML masks the route's XML targets (a body they cannot be located in
// is withheld), then the text of elements named like a CVC, secret or cryptogram.
func maskXML(b []byte, mt string, params map[string]string, r *rules) (string, error) {
	text := string(b)
	if r.xml != nil {
		var err error
		if text, err = applyProgram(r.xml, text, mt, params); err != nil {
			return "", err
		}
	}
	return maskXMLElements(text), nil
}
