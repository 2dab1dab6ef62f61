package rewrite

import (
	"bytes"
	"fmt"
	"mime"
	"net/url"
	"strings"
)

// Form targets name a field of an HTML form body, sent either as
// application/x-www-form-urlencoded or as multipart/form-data.
//
// urlencoded: the body is split on '&'; a pair is name=value, split at its
// first '='.
// Names and values are percent-decoded with '+' as space (url.QueryUnescape).
// Every occurrence of a targeted field is located: the span is the encoded
// value between '=' and the next '&' (or the end of the body), the Tokenizer
// sees the decoded value, and the replacement is written back with
// url.QueryEscape. Only what a target needs is decoded: an untargeted field
// with bad percent-encoding is kept as it is, a targeted value with bad
// percent-encoding is ErrMalformed, and so is a name with bad
// percent-encoding that a lenient decoder (one that keeps a stray '%' as it
// is, as PHP does, or reads ASP.NET's "%u005f" as '_') would read as a
// targeted name. Trailing CR and LF bytes at
// the very end of the body (some clients end the body with a line break) are
// not part of the last value, and a UTF-8 byte order mark at its start is
// not part of the first name (Express's body-parser decodes the body with
// iconv-lite, which drops it: "\ufeffcard_number=…" is card_number to the
// app; the mark is kept in place); CR and LF anywhere else are ordinary bytes of
// the name or value they stand in (url.ParseQuery keeps them too), so they are
// tokenized with the value and come back percent-encoded.
//
// multipart/form-data: the body is parsed by byte offsets (RFC 2046, RFC
// 7578). A part whose Content-Disposition names a targeted field (the name
// parameter as mime.ParseMediaType reads it, so quoted-pair escapes and RFC
// 2231 encoding are decoded; whatever the disposition type, file parts too)
// is located: the span is the part body, from after the blank line that ends
// the part headers to the line break before the next delimiter, and the
// replacement is written as it is. Line breaks are CRLF or bare LF: when the
// first delimiter line ends in CRLF, every delimiter must follow a CRLF;
// otherwise a CR before the LF is still read as part of the line break.
// Because a body that parsers split differently is a way to slip a value
// past redaction, the locator refuses (ErrMalformed) what it cannot read one
// way only: a line that starts with "--boundary" but is not a delimiter, a
// delimiter after a bare LF in a CRLF body, a missing close delimiter, a part
// header line without a colon or with a bad name, a Content-Disposition that
// mime.ParseMediaType refuses or that occurs twice, and a targeted part in a
// Content-Transfer-Encoding other than 7bit, 8bit or binary (decoding base64
// or quoted-printable and encoding the alias back would be a guess). The
// preamble, the epilogue and parts without a name are kept as they are.
//
// Either way a body has at most maxFormFields fields.
//
// Field names are matched as the application may read them (issue 17).
// Every occurrence of a repeated targeted field is located (the application
// may take the first or the last). A field with a value whose name is not
// targeted but that the common parsers may read as a targeted field is
// refused with ErrDuplicateKey: the same name but for letter case (Unicode
// folding, see canonFormName; most form parsers are case-sensitive, some
// binders are not), PHP's and Rack's rewriting (' ' and '.' read as '_',
// leading spaces and brackets dropped, what follows the last ']' dropped,
// a name ended at its first NUL), ASP.NET Core's (its jQuery value provider
// reads "card[number]" as the property path card.number, see
// dottedFormName),
// and a bracketed key or array under a targeted name ("card[]" or
// "card[x]" for "card", "card[number][]" for "card[number]"). In an
// urlencoded body, a ';' that some parsers read as a separator ("a=1;card=…")
// and that starts a targeted field with a value outside a located value is
// ErrMalformed; a ';' inside a targeted value is part of it (the whole
// value is replaced, so either reading finds an alias).

// maxFormFields is the most fields (urlencoded pairs or multipart parts) a
// form body may have.
const maxFormFields = 10000

// formEscape encodes v as a value of an application/x-www-form-urlencoded
// body.
func formEscape(v string) string { return url.QueryEscape(v) }

// formLocator finds form fields by name.
type formLocator struct {
	byName  map[string]int // field name → Program target index
	byCanon map[string]int // canonFormName of a field name → target index
	byDot   map[string]int // dottedFormName of a field name → target index
	names   map[int]string // target index → field name, for errors
}

func newFormLocator(specs []TargetSpec, idx []int) (Locator, error) {
	l := &formLocator{byName: make(map[string]int, len(specs)), byCanon: make(map[string]int, len(specs)),
		byDot: make(map[string]int, len(specs)), names: make(map[int]string, len(specs))}
	for i, s := range specs {
		if s.Path == "" {
			return nil, fmt.Errorf("rewrite: target %d: empty form field name", idx[i])
		}
		if prev, dup := l.byName[s.Path]; dup {
			return nil, fmt.Errorf("rewrite: target %d: form field %q is already targeted by target %d", idx[i], s.Path, prev)
		}
		l.byName[s.Path] = idx[i]
		l.names[idx[i]] = s.Path
		if c := canonFormName(s.Path); c != "" {
			if _, ok := l.byCanon[c]; !ok {
				l.byCanon[c] = idx[i]
			}
		}
		if d := dottedFormName(s.Path); d != "" {
			if _, ok := l.byDot[d]; !ok {
				l.byDot[d] = idx[i]
			}
		}
	}
	return l, nil
}

// checkVariant refuses a field name that is not targeted but that an
// application may read as a targeted field (see canonFormName): the same
// name but for letter case, spaces, dots or leading brackets, or a
// bracketed key or array under a targeted name ("card[]" for "card",
// "card[number][x]" for "card[number]"), or the same property path to
// ASP.NET Core ("card.number" for "Card[Number]", see dottedFormName).
func (l *formLocator) checkVariant(name string) error {
	c := canonFormName(name)
	target, ok := l.byCanon[c]
	for i := 1; !ok && i < len(c); i++ {
		if c[i] == '[' {
			target, ok = l.byCanon[c[:i]]
		}
	}
	if !ok && strings.ContainsAny(name, ".[") {
		target, ok = l.byDot[dottedFormName(name)]
	}
	if ok {
		return fmt.Errorf("%w: target %d: a form field name is another spelling of, or a key under, the targeted field %q", ErrDuplicateKey, target, l.names[target])
	}
	return nil
}

// Locate implements Locator.
func (l *formLocator) Locate(msg *Message) ([]Span, error) {
	switch msg.MediaType {
	case "application/x-www-form-urlencoded":
		return l.locateURLEncoded(msg.Body)
	case "multipart/form-data":
		boundary := msg.Params["boundary"]
		if boundary == "" {
			return nil, fmt.Errorf("%w: multipart/form-data without a boundary parameter", ErrMalformed)
		}
		return l.locateMultipart(msg.Body, boundary)
	case "":
		return nil, fmt.Errorf("%w: the body is not a form (no media type)", ErrMalformed)
	}
	// The media type comes from the client's Content-Type header, which may
	// hold anything, card data included: it is named only when it has no
	// digits at all.
	if !strings.ContainsAny(msg.MediaType, "0123456789") && len(msg.MediaType) <= 100 {
		return nil, fmt.Errorf("%w: the body is not a form (%q)", ErrMalformed, msg.MediaType)
	}
	return nil, fmt.Errorf("%w: the body is not a form (its media type is neither application/x-www-form-urlencoded nor multipart/form-data)", ErrMalformed)
}

func (l *formLocator) locateURLEncoded(body []byte) ([]Span, error) {
	end := len(body)
	for end > 0 && (body[end-1] == '\n' || body[end-1] == '\r') {
		end--
	}
	b := body[:end]
	if bytes.Count(b, []byte{'&'}) >= maxFormFields {
		return nil, fmt.Errorf("%w: more than %d form fields", ErrMalformed, maxFormFields)
	}
	var spans []Span
	pos := 0
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		pos = 3 // a byte order mark, which Express's body-parser drops
	}
	for pos <= len(b) {
		pe := bytes.IndexByte(b[pos:], '&')
		if pe < 0 {
			pe = len(b)
		} else {
			pe += pos
		}
		pair := b[pos:pe]
		start := pos
		pos = pe + 1
		eq := bytes.IndexByte(pair, '=')
		if eq < 0 || eq == len(pair)-1 {
			continue // no value: nothing to protect
		}
		target, ok, err := l.lookupName(pair[:eq])
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := l.checkSemicolons(pair); err != nil {
				return nil, err
			}
			continue
		}
		raw := pair[eq+1:]
		v, err := url.QueryUnescape(string(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: target %d: bad percent-encoding in a form value", ErrMalformed, target)
		}
		spans = append(spans, Span{Start: start + eq + 1, End: start + len(pair), Value: v, Encoding: FormValue, Target: target})
	}
	return spans, nil
}

// checkSemicolons refuses an untargeted pair in which a ';' starts a
// targeted field, or another spelling of one, with a value ("a=1;card=4111"):
// parsers that split on ';' as well as '&' (older Python and Rack, PHP with
// arg_separator.input "&;") would read it, unredacted. The pieces of a
// targeted pair need no check: its whole value is replaced.
func (l *formLocator) checkSemicolons(pair []byte) error {
	for k := bytes.IndexByte(pair, ';'); k >= 0; {
		piece := pair[k+1:]
		next := bytes.IndexByte(piece, ';')
		if next >= 0 {
			piece = piece[:next]
		}
		piece = bytes.TrimLeft(piece, " ") // Rack splits on /[&;] */
		if eq := bytes.IndexByte(piece, '='); eq >= 0 && eq < len(piece)-1 {
			target, ok, err := l.lookupName(piece[:eq])
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("%w: target %d: the targeted form field follows a ';', which some parsers read as a separator", ErrMalformed, target)
			}
		}
		if next < 0 {
			break
		}
		k += 1 + next
	}
	return nil
}

// lookupName returns the target of an encoded field name. A name that is
// not targeted but that an application may read as a targeted field is
// ErrDuplicateKey (see checkVariant).
func (l *formLocator) lookupName(raw []byte) (target int, ok bool, err error) {
	if bytes.IndexByte(raw, '%') < 0 && bytes.IndexByte(raw, '+') < 0 {
		if target, ok = l.byName[string(raw)]; ok {
			return target, true, nil
		}
		return 0, false, l.checkVariant(string(raw))
	}
	if name, err := url.QueryUnescape(string(raw)); err == nil {
		if target, ok = l.byName[name]; ok {
			return target, true, nil
		}
		return 0, false, l.checkVariant(name)
	}
	name := LenientUnescape(raw)
	if target, ok = l.byName[name]; ok {
		return 0, false, fmt.Errorf("%w: target %d: a form field name has bad percent-encoding", ErrMalformed, target)
	}
	return 0, false, l.checkVariant(name)
}

// lookupDecoded is lookupName for a decoded field name (multipart).
func (l *formLocator) lookupDecoded(name string) (target int, ok bool, err error) {
	if target, ok = l.byName[name]; ok {
		return target, true, nil
	}
	return 0, false, l.checkVariant(name)
}

// LenientUnescape decodes form text (urlencoded names and values) as
// url.QueryUnescape does but keeps a '%' that does not start a valid escape
// as it is, and reads the non-standard "%u005f" (a lower-case 'u' and four
// hex digits) as the character it spells, as ASP.NET's
// HttpUtility.UrlDecode (System.Web's Request.Form and Request.QueryString)
// does: "card%u005fnumber" is card_number to it. The form locator reads
// names with bad percent-encoding with it, the leak guard a form in a
// charset other than UTF-8.
func LenientUnescape(raw []byte) string {
	var sb strings.Builder
	sb.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '+':
			sb.WriteByte(' ')
		case c == '%' && i+2 < len(raw) && formIsHex(raw[i+1]) && formIsHex(raw[i+2]):
			sb.WriteByte(formUnhex(raw[i+1])<<4 | formUnhex(raw[i+2]))
			i += 2
		case c == '%' && i+5 < len(raw) && raw[i+1] == 'u' &&
			formIsHex(raw[i+2]) && formIsHex(raw[i+3]) && formIsHex(raw[i+4]) && formIsHex(raw[i+5]):
			sb.WriteRune(rune(formUnhex(raw[i+2]))<<12 | rune(formUnhex(raw[i+3]))<<8 | rune(formUnhex(raw[i+4]))<<4 | rune(formUnhex(raw[i+5])))
			i += 5
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

func formIsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func formUnhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// multipartScan reads a multipart body by byte offsets.
type multipartScan struct {
	body []byte
	dash []byte // "--" + boundary
	nl   []byte // "\n" + dash: a delimiter after a line break
	crlf bool   // the first delimiter line ended in CRLF: no bare LF before delimiters
}

func (l *formLocator) locateMultipart(body []byte, boundary string) ([]Span, error) {
	s := &multipartScan{body: body, dash: []byte("--" + boundary)}
	s.nl = append([]byte{'\n'}, s.dash...)
	p := s.nextDashLine(0)
	if p < 0 {
		return nil, fmt.Errorf("%w: multipart body without a boundary delimiter", ErrMalformed)
	}
	next, final, crlf, err := s.delimiter(p)
	if err != nil {
		return nil, err
	}
	s.crlf = crlf
	var spans []Span
	for parts := 1; !final; parts++ {
		if parts > maxFormFields {
			return nil, fmt.Errorf("%w: more than %d multipart parts", ErrMalformed, maxFormFields)
		}
		h, start, err := s.headers(next, parts)
		if err != nil {
			return nil, err
		}
		q := s.nextDashLine(start)
		if q < 0 {
			return nil, fmt.Errorf("%w: multipart body without a close delimiter", ErrMalformed)
		}
		end := q
		if q > start { // the delimiter follows a line break, which is not part of the body
			end--
			if end > start && body[end-1] == '\r' {
				end--
			} else if s.crlf {
				return nil, fmt.Errorf("%w: multipart part %d: delimiter after a bare LF in a CRLF body", ErrMalformed, parts)
			}
		}
		if next, final, _, err = s.delimiter(q); err != nil {
			return nil, err
		}
		if !h.named {
			continue
		}
		target, ok, err := l.lookupDecoded(h.name)
		if err != nil && end > start { // an empty part carries nothing
			return nil, err
		}
		if !ok {
			continue
		}
		switch strings.ToLower(h.cte) {
		case "", "7bit", "8bit", "binary":
		default:
			return nil, fmt.Errorf("%w: target %d: multipart part in a Content-Transfer-Encoding other than 7bit, 8bit or binary", ErrMalformed, target)
		}
		if end > start {
			spans = append(spans, Span{Start: start, End: end, Value: string(body[start:end]), Encoding: MultipartRaw, Target: target, Forbid: string(s.dash)})
		}
	}
	return spans, nil
}

// nextDashLine returns the offset of the first line at or after from (a
// line start) that begins with "--boundary", or -1.
func (s *multipartScan) nextDashLine(from int) int {
	if bytes.HasPrefix(s.body[from:], s.dash) {
		return from
	}
	i := bytes.Index(s.body[from:], s.nl)
	if i < 0 {
		return -1
	}
	return from + i + 1
}

// delimiter reads the line at p, which begins with "--boundary": a
// delimiter ("--boundary", spaces or tabs, a line break) or the close
// delimiter ("--boundary--", spaces or tabs, a line break or the end of the
// body). It returns where the next line starts and which line break ended
// it; anything else is ErrMalformed.
func (s *multipartScan) delimiter(p int) (next int, final, crlf bool, err error) {
	i := p + len(s.dash)
	if bytes.HasPrefix(s.body[i:], []byte("--")) {
		final = true
		i += 2
	}
	for i < len(s.body) && (s.body[i] == ' ' || s.body[i] == '\t') {
		i++
	}
	switch {
	case final && i == len(s.body):
		return i, true, false, nil
	case i+1 < len(s.body) && s.body[i] == '\r' && s.body[i+1] == '\n':
		return i + 2, final, true, nil
	case i < len(s.body) && s.body[i] == '\n':
		return i + 1, final, false, nil
	}
	return 0, false, false, fmt.Errorf("%w: multipart line starting with the boundary is not a delimiter", ErrMalformed)
}

// multipartHeader is what the locator needs from a part's headers.
type multipartHeader struct {
	name  string // the Content-Disposition name parameter
	named bool   // a Content-Disposition with a name parameter was found
	cte   string // Content-Transfer-Encoding
}

// headers reads the header lines of part n from p up to and including the
// blank line, and returns where the part body starts.
func (s *multipartScan) headers(p, n int) (multipartHeader, int, error) {
	malformed := func(what string) (multipartHeader, int, error) {
		return multipartHeader{}, 0, fmt.Errorf("%w: multipart part %d: %s", ErrMalformed, n, what)
	}
	var h multipartHeader
	var disposition []byte
	var seenDisposition, seenCTE bool
	var last *[]byte // the value a continuation line extends
	var cte, other []byte
	for {
		eol := bytes.IndexByte(s.body[p:], '\n')
		if eol < 0 {
			return malformed("headers do not end with a blank line")
		}
		line := s.body[p : p+eol]
		p += eol + 1
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break
		}
		if bytes.HasPrefix(line, s.dash) {
			return malformed("headers do not end with a blank line")
		}
		if line[0] == ' ' || line[0] == '\t' { // obsolete line folding
			if last == nil {
				return malformed("header continuation line without a header")
			}
			*last = append(append(*last, ' '), bytes.Trim(line, " \t")...)
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isFormHeaderToken(line[:colon]) {
			return malformed("bad header line")
		}
		value := bytes.Trim(line[colon+1:], " \t")
		switch key := string(line[:colon]); {
		case strings.EqualFold(key, "Content-Disposition"):
			if seenDisposition {
				return malformed("two Content-Disposition headers")
			}
			seenDisposition = true
			disposition = append([]byte(nil), value...)
			last = &disposition
		case strings.EqualFold(key, "Content-Transfer-Encoding"):
			if seenCTE {
				return malformed("two Content-Transfer-Encoding headers")
			}
			seenCTE = true
			cte = append([]byte(nil), value...)
			last = &cte
		default:
			other = other[:0] // continuations of other headers are not needed
			last = &other
		}
	}
	if seenDisposition {
		_, params, err := mime.ParseMediaType(string(disposition))
		if err != nil {
			return malformed("bad Content-Disposition")
		}
		h.name, h.named = params["name"]
	}
	h.cte = string(bytes.Trim(cte, " \t"))
	return h, p, nil
}

// isFormHeaderToken reports whether b is a valid header field name (an RFC 9110
// token).
func isFormHeaderToken(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return len(b) > 0
}
