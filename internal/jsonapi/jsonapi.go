// Package jsonapi holds the JSON:API media type, the error document shape
// and small helpers to read request documents and write responses. Error
// documents are what every aliasgate API answers with; the helpers never put
// request values into an error, so a card number sent in a request cannot
// come back in an error message.
package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// MediaType is the JSON:API media type.
const MediaType = "application/vnd.api+json"

// ErrorObject is one JSON:API error object. Detail must never contain a value
// sent by the client: name the field (Source.Pointer), not its content.
type ErrorObject struct {
	Status string  `json:"status"`
	Code   string  `json:"code,omitempty"`
	Title  string  `json:"title"`
	Detail string  `json:"detail,omitempty"`
	Source *Source `json:"source,omitempty"`
}

// Source points at the part of the request document an error is about.
type Source struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// Error is an error that carries the JSON:API error objects to send. It is
// safe to show to the client by construction.
type Error struct {
	Status  int
	Objects []ErrorObject
	// RetryAfter, when positive, is sent as a Retry-After header in whole
	// seconds, rounded up (a 429 or 503).
	RetryAfter time.Duration
}

// Error returns the first object's title and detail.
func (e *Error) Error() string {
	if len(e.Objects) == 0 {
		return http.StatusText(e.Status)
	}
	o := e.Objects[0]
	if o.Detail != "" {
		return o.Title + ": " + o.Detail
	}
	return o.Title
}

// NewError returns an Error with one object of the given status.
func NewError(status int, code, title, detail string) *Error {
	return &Error{Status: status, Objects: []ErrorObject{{
		Status: strconv.Itoa(status), Code: code, Title: title, Detail: detail,
	}}}
}

// Invalid returns a 422 error about the member at pointer (a JSON pointer
// such as "/data/0/value"). detail says what is wrong without repeating the
// value.
func Invalid(pointer, code, detail string) *Error {
	e := NewError(http.StatusUnprocessableEntity, code, "Invalid attribute", detail)
	e.Objects[0].Source = &Source{Pointer: pointer}
	return e
}

// Append adds the objects of other to e, for reporting several problems at once.
func (e *Error) Append(other *Error) {
	e.Objects = append(e.Objects, other.Objects...)
}

// Document is the top level of an error response.
type errorDocument struct {
	Errors []ErrorObject `json:"errors"`
}

// ErrorDocumenter shapes the error documents WriteError writes to a
// response: an API whose clients expect another error shape than JSON:API's
// (the vault API answers VGS's) wraps the ResponseWriter in one, so that
// every error of the request, its own and those of the middleware before
// its handler (authentication), gets that shape. WriteError finds it on
// the ResponseWriter or on one it wraps (an Unwrap() http.ResponseWriter
// method, as http.ResponseController uses).
type ErrorDocumenter interface {
	// ErrorDocument returns the document to encode as JSON for e.
	ErrorDocument(e *Error) any
}

// documenter returns the ErrorDocumenter on w or a writer it wraps.
func documenter(w http.ResponseWriter) ErrorDocumenter {
	for range 16 { // a bound against a writer that unwraps to itself
		if d, ok := w.(ErrorDocumenter); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// WriteError writes err as a JSON:API error document (or the document of
// the response's ErrorDocumenter) with the given content type (MediaType
// or "application/json"). An error that is not an *Error becomes a generic
// 500 whose text is not shown: log it before calling.
func WriteError(w http.ResponseWriter, contentType string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = NewError(http.StatusInternalServerError, "internal_error", "Internal Server Error", "")
	}
	var doc any = errorDocument{Errors: e.Objects}
	if d := documenter(w); d != nil {
		doc = d.ErrorDocument(e)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(e.Status)
	_ = newEncoder(w).Encode(doc)
}

// newEncoder returns the encoder of every answer: JSON without HTML
// escaping. The answers are application/json or JSON:API, never HTML, and
// the escape of a '&' (\u0026) put four hex digits before what follows it:
// "&0000000000" read as the digit run 00260000000000 to a scanner of card
// numbers (pan.Find reads JSON text), and links.next held \u0026 between
// its query parameters. U+2028 and U+2029 are still escaped.
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// WriteJSON writes v as JSON with status and content type.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var b bytes.Buffer
	if err := newEncoder(&b).Encode(v); err != nil { // with its final newline
		WriteError(w, contentType, fmt.Errorf("jsonapi: encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// CheckContentType returns a 415 error unless the request has exactly one
// Content-Type, its media type is one of allowed, and its parameters say
// the body is what the decoder reads:
//   - charset, when present, must name UTF-8 (any letter case, under any
//     of the labels clients send for it: UTF8Charset; an RFC 2231 charset*
//     counts too): the body is read as UTF-8 (RFC 8259 has JSON
//     exchanged in UTF-8), so a body declared in another charset (UTF-7,
//     UTF-16, ISO 8859-1, EBCDIC…) would be read as something other than
//     what its sender, and every reader that honours the declaration (a
//     WAF, a front end), take it to be;
//   - the JSON:API media type takes no other parameter but profile
//     (JSON:API: a server answers 415 to any other, and to an ext it does
//     not support; this server supports no extension, and may ignore a
//     profile). charset=utf-8 is accepted there too although JSON:API
//     would refuse it: HTTP client libraries add it by themselves (.NET's
//     StringContent), and it names what the body is read as.
//
// Parameters of other media types (application/json) are not read beyond
// charset. A body declared in a content coding (Content-Encoding other
// than identity) is refused too (415 unsupported_content_encoding): it
// would be read as sent. A request with several Content-Type headers is
// refused: readers differ on which one counts.
func CheckContentType(r *http.Request, allowed ...string) error {
	if err := checkContentEncoding(r); err != nil {
		return err
	}
	refuse := NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported Media Type",
		fmt.Sprintf("send the request body as %s", joinOr(allowed)))
	values := r.Header.Values("Content-Type")
	if len(values) != 1 {
		return refuse
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil || !slices.Contains(allowed, mt) {
		return refuse
	}
	return checkParams(mt, params)
}

// checkContentEncoding refuses (415 unsupported_content_encoding) a
// request whose body is declared in a content coding (Content-Encoding
// other than identity, in any of its fields): the APIs read a body as
// sent, so a body declared gzip or br was read as plain JSON (a card
// made from it) while a reader that honours the declaration (a WAF, a
// front end) decodes it, fails, and may pass it on unread; and a real
// gzip body was answered 400 malformed_json. RFC 9110 has the server
// answer 415 to a content coding it does not accept.
func checkContentEncoding(r *http.Request) error {
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return NewError(http.StatusUnsupportedMediaType, "unsupported_content_encoding", "Unsupported Media Type",
					"send the request body without a content coding (no Content-Encoding, or identity)")
			}
		}
	}
	return nil
}

// checkParams is CheckContentType's rule for the parameters of a request's
// media type mt: a charset names UTF-8, and the JSON:API media type takes
// no parameter but profile and that charset.
func checkParams(mt string, params map[string]string) error {
	for name, value := range params {
		switch {
		case name == "charset":
			if !UTF8Charset(value) {
				return NewError(http.StatusUnsupportedMediaType, "unsupported_charset", "Unsupported Media Type",
					"send the request body in UTF-8 (charset=utf-8, or no charset)")
			}
		case mt != MediaType, name == "profile":
		default:
			return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported Media Type",
				fmt.Sprintf("send the request body as %s without media type parameters other than profile and charset=utf-8 (no JSON:API extension is supported)", MediaType))
		}
	}
	return nil
}

// Negotiate applies JSON:API's content negotiation to a request of an API
// that answers in MediaType, whatever its endpoint reads:
//
//   - a Content-Type of the JSON:API media type (any of the request's
//     Content-Type headers) follows CheckContentType's parameter rule, on
//     every request, with or without a body that is read: JSON:API has a
//     server answer 415 to such a request (an ext it does not support, any
//     other parameter but profile), and a body declared in another charset
//     is read as UTF-8 all the same (415 unsupported_charset);
//
//   - an Accept whose every instance of the JSON:API media type is
//     modified by a parameter other than profile and a UTF-8 charset (an
//     ext: no extension is supported), or refused with q=0, is answered
//     406 not_acceptable: the client accepts JSON:API only in a form the
//     server does not give. An Accept without an instance of it (*/*,
//     application/json) is not refused.
//
//   - a body in a content coding (Content-Encoding other than identity)
//     is 415 unsupported_content_encoding, as in CheckContentType: it
//     would be read as sent.
//
// Requests that must send a body of the media type check it with
// CheckContentType as well.
func Negotiate(r *http.Request) error {
	if err := checkContentEncoding(r); err != nil {
		return err
	}
	for _, v := range r.Header.Values("Content-Type") {
		mt, params, ok := parseMediaType(v)
		if mt != MediaType {
			continue
		}
		if !ok { // a malformed or repeated parameter
			return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported Media Type",
				fmt.Sprintf("send the request body as %s without media type parameters other than profile and charset=utf-8 (no JSON:API extension is supported)", MediaType))
		}
		if err := checkParams(mt, params); err != nil {
			return err
		}
	}
	instances, acceptable := 0, 0
	for _, v := range r.Header.Values("Accept") {
		for _, elem := range splitList(v) {
			mt, params, ok := parseMediaType(elem)
			if mt != MediaType {
				continue
			}
			instances++
			if ok && acceptableInstance(params) {
				acceptable++
			}
		}
	}
	if instances > 0 && acceptable == 0 {
		return NewError(http.StatusNotAcceptable, "not_acceptable", "Not Acceptable",
			fmt.Sprintf("the answer is %s without media type parameters (no JSON:API extension is supported): accept it so", MediaType))
	}
	return nil
}

// parseMediaType is mime.ParseMediaType, ok false when the parameters
// cannot be read (malformed, a name repeated); the media type is named
// then too (lower case), so that a JSON:API media type with such
// parameters is still the JSON:API media type, with a parameter.
func parseMediaType(v string) (mt string, params map[string]string, ok bool) {
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params, true
	}
	if mt == "" {
		t, _, _ := strings.Cut(v, ";")
		mt = strings.ToLower(strings.TrimSpace(t))
	}
	return mt, nil, false
}

// acceptableInstance reports whether an Accept element of the JSON:API
// media type, with params, accepts what the server answers: a weight
// other than 0, and no media type parameter but profile (ignored) and a
// charset naming UTF-8 (the answers are UTF-8, and clients add it as
// they do on Content-Type).
func acceptableInstance(params map[string]string) bool {
	for name, value := range params {
		switch name {
		case "q":
			if w, err := strconv.ParseFloat(value, 64); err != nil || w <= 0 {
				return false
			}
		case "profile":
		case "charset":
			if !UTF8Charset(value) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// splitList splits a comma-separated header value (RFC 9110 §5.6.1) into
// its elements, keeping commas inside quoted strings (an ext or profile
// parameter's list of URIs) in their element.
func splitList(v string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	out = append(out, v[start:])
	n := 0
	for _, e := range out {
		if e = strings.TrimSpace(e); e != "" {
			out[n] = e
			n++
		}
	}
	return out[:n]
}

// UTF8Charset reports whether a charset parameter's value names UTF-8,
// in any letter case: under IANA's name ("utf-8") or another label clients
// send for it, the WHATWG Encoding Standard's ("utf8", "unicode-1-1-utf-8",
// "unicode11utf8", "unicode20utf8", "x-unicode20utf8"), Python's ("utf_8",
// "u8") or Windows' code page ("cp65001"). It is the one list of UTF-8's
// names: the APIs read such a body (CheckContentType) and the proxy's leak
// guard reads it as ASCII text.
func UTF8Charset(cs string) bool {
	switch strings.ToLower(cs) {
	case "utf-8", "utf8", "utf_8", "u8", "cp65001", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8":
		return true
	}
	return false
}

// DecodeBody reads at most limit bytes of r's body into v, rejecting unknown
// fields when strict is set. Errors are *Error values: 413 for a body over the
// limit, 400 for malformed JSON. They never quote the body.
func DecodeBody(r *http.Request, limit int64, strict bool, v any) error {
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	return Decode(body, strict, v)
}

// readBody reads at most limit bytes of r's body (413 past it).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, NewError(http.StatusBadRequest, "unreadable_body", "Bad Request", "the request body could not be read")
	}
	if int64(len(body)) > limit {
		return nil, NewError(http.StatusRequestEntityTooLarge, "body_too_large", "Request Entity Too Large",
			fmt.Sprintf("the request body is larger than %d bytes", limit))
	}
	return body, nil
}

// MaxDepth is the deepest nesting of objects and arrays a request document
// may have.
const MaxDepth = 128

// Decode parses body into v. See DecodeBody. Besides malformed JSON it
// refuses (400) a document nested deeper than MaxDepth and an object that
// repeats a member name: encoding/json keeps the last of the repeated
// members while other parsers (and the proxy's JSON rewriter) read the
// first, so such a document means different things to different readers.
// The error names the member by its JSON pointer (card-like runs masked).
func Decode(body []byte, strict bool, v any) error {
	if err := checkMembers(body, nil); err != nil {
		return err
	}
	return decode(body, strict, v)
}

func decode(body []byte, strict bool, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(body, err)
	}
	if dec.More() {
		return NewError(http.StatusBadRequest, "malformed_json", "Bad Request", "the request body holds more than one JSON value")
	}
	return nil
}

// frame is an object or array being walked by checkMembers.
type frame struct {
	obj       bool
	keys      map[string]struct{}
	key       string // the current member (objects)
	idx       int    // the current element (arrays)
	expectKey bool
	shape     *shape // what the object or array is read into (Exact decoders)
}

// checkMembers walks body's tokens for repeated member names and excessive
// nesting, and, with root (the shape of the value body is read into), for
// member names of objects read into structs that are names only once
// letter case is folded (exact.go). Syntax errors are left to the decoder,
// which reports them.
func checkMembers(body []byte, root *shape) error {
	w := newTokenWalk(body)
	for {
		tok, kind, err := w.next()
		if errors.Is(err, io.EOF) && len(w.stack) == 0 {
			return checkText(body) // a whole document: its strings are read as sent
		}
		if err != nil {
			return nil
		}
		switch kind {
		case tokenOpen:
			if len(w.stack) >= MaxDepth {
				return NewError(http.StatusBadRequest, "too_deep", "Bad Request",
					fmt.Sprintf("the request body nests objects and arrays deeper than %d levels", MaxDepth))
			}
			sh := root
			if n := len(w.stack); n > 0 {
				top := w.stack[n-1]
				sh = top.shape.child(top.obj, top.key)
			}
			obj := tok == json.Delim('{')
			w.push(&frame{obj: obj, expectKey: obj, shape: sh.opens(obj)})
		case tokenKey:
			top := w.stack[len(w.stack)-1]
			if top.keys == nil {
				top.keys = map[string]struct{}{}
			}
			if _, dup := top.keys[top.key]; dup {
				e := NewError(http.StatusBadRequest, "duplicate_member", "Bad Request",
					"an object of the request body repeats a member name")
				e.Objects[0].Source = &Source{Pointer: pointer(w.stack)}
				return e
			}
			top.keys[top.key] = struct{}{}
			if top.shape.inexact(top.key) {
				e := NewError(http.StatusBadRequest, "inexact_member", "Bad Request",
					"a member name differs from the API's name only in letter case; spell it exactly")
				e.Objects[0].Source = &Source{Pointer: pointer(w.stack)}
				return e
			}
		}
	}
}

// tokenKind is what a token of a tokenWalk is.
type tokenKind int

const (
	tokenOpen  tokenKind = iota // '{' or '[': the caller pushes its frame
	tokenClose                  // '}' or ']': its frame is popped
	tokenKey                    // a member name: the top frame's key
	tokenValue                  // a string, number, true, false or null
)

// tokenWalk reads a JSON document's tokens and keeps the objects and
// arrays the current one is in (stack: pointer(stack) names it), the one
// walk of checkMembers and pointerAt.
type tokenWalk struct {
	dec   *json.Decoder
	stack []*frame
	// done: the last token ended a value, so its container moves on to
	// the next member or element before the next token is read.
	done bool
}

func newTokenWalk(body []byte) *tokenWalk {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return &tokenWalk{dec: dec}
}

// next returns the next token and its kind. After a tokenOpen the caller
// pushes the frame of the object or array it opens.
func (w *tokenWalk) next() (json.Token, tokenKind, error) {
	if w.done {
		w.done = false
		if n := len(w.stack); n > 0 {
			if top := w.stack[n-1]; top.obj {
				top.expectKey = true
			} else {
				top.idx++
			}
		}
	}
	tok, err := w.dec.Token()
	if err != nil {
		return nil, 0, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' || t == '[' {
			return tok, tokenOpen, nil
		}
		w.stack = w.stack[:len(w.stack)-1] // the decoder refuses an unbalanced close
		w.done = true
		return tok, tokenClose, nil
	case string:
		if n := len(w.stack); n > 0 && w.stack[n-1].obj && w.stack[n-1].expectKey {
			w.stack[n-1].key, w.stack[n-1].expectKey = t, false
			return tok, tokenKey, nil
		}
	}
	w.done = true
	return tok, tokenValue, nil
}

// push enters the object or array a tokenOpen opened.
func (w *tokenWalk) push(f *frame) { w.stack = append(w.stack, f) }

// checkText refuses (400 invalid_utf8) a JSON document that encoding/json
// would read as other text than it spells: bytes that are not UTF-8, and a
// \u escape of half a UTF-16 surrogate pair without its other half. The
// decoder reads each as U+FFFD without a word, so different values a
// client sends ("caf\xe9" in ISO 8859-1, "caf\ud800") were stored as one
// (the vault gave both the same alias), and other readers (a WAF, a front
// end, JavaScript's JSON.parse) read them as sent. The error gives the
// byte offset, never the bytes.
func checkText(body []byte) error {
	at := -1
	if !utf8.Valid(body) {
		for i := 0; i < len(body); {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n == 1 {
				at = i
				break
			}
			i += n
		}
	} else {
		at = loneSurrogate(body)
	}
	if at < 0 {
		return nil
	}
	return NewError(http.StatusBadRequest, "invalid_utf8", "Bad Request",
		fmt.Sprintf("the request body is not valid UTF-8 text (at byte %d): send text as UTF-8, and surrogate pair escapes whole", at))
}

// loneSurrogate returns the offset of the first \u escape in a string of
// the JSON document body that spells half of a UTF-16 surrogate pair
// without the other half, or -1. body is a syntactically valid document.
func loneSurrogate(body []byte) int {
	in := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !in {
			in = c == '"'
			continue
		}
		switch {
		case c == '"':
			in = false
		case c == '\\' && i+1 < len(body) && body[i+1] != 'u':
			i++ // a one-character escape, \\ and \" included
		case c == '\\' && i+1 < len(body): // \u
			r := hex4(body[i+2:])
			switch {
			case r >= 0xDC00 && r <= 0xDFFF: // a low half first
				return i
			case r >= 0xD800 && r <= 0xDBFF: // a high half: the low one must follow
				if i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
					if lo := hex4(body[i+8:]); lo >= 0xDC00 && lo <= 0xDFFF {
						i += 11
						continue
					}
				}
				return i
			}
			i += 5
		}
	}
	return -1
}

// hex4 is the value of the 4 hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

// pointer is the JSON pointer (RFC 6901) of the current member of stack,
// with card numbers masked as a reader of the answer sees them
// (pan.MaskShown: a member name "4111_1111_1111_1111" came back in clear).
func pointer(stack []*frame) string {
	var b strings.Builder
	for _, f := range stack {
		b.WriteByte('/')
		if f.obj {
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(f.key, "~", "~0"), "/", "~1"))
		} else {
			b.WriteString(strconv.Itoa(f.idx))
		}
	}
	return pan.MaskShown(b.String())
}

// decodeError maps an error of decoding body to a 400. A value of the
// wrong JSON type is named by its JSON pointer (source.pointer) and the
// detail says, in JSON's terms, what the API reads there: the Go type it
// is decoded into is the server's own business.
func decodeError(body []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return NewError(http.StatusBadRequest, "malformed_json", "Bad Request",
			fmt.Sprintf("the request body is not valid JSON (at byte %d)", syn.Offset))
	case errors.As(err, &typ):
		ptr, ok := pointerAt(body, typ.Offset)
		if !ok {
			return NewError(http.StatusBadRequest, "malformed_json", "Bad Request",
				fmt.Sprintf("wrong JSON type for %q: want %s", pan.MaskShown(typ.Field), jsonType(typ.Type)))
		}
		e := NewError(http.StatusBadRequest, "malformed_json", "Bad Request", "wrong JSON type: want "+jsonType(typ.Type))
		if ptr != "" {
			e.Objects[0].Source = &Source{Pointer: ptr}
		}
		return e
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return NewError(http.StatusBadRequest, "malformed_json", "Bad Request", "the request body is empty or cut short")
	default:
		// Unknown-field errors name the field, which is the client's own key,
		// not a value; other messages are replaced by a generic one.
		// A key could itself be card data, so it is masked.
		if msg, ok := strings.CutPrefix(err.Error(), "json: "); ok && strings.HasPrefix(msg, "unknown field ") {
			return NewError(http.StatusBadRequest, "unknown_field", "Bad Request", pan.MaskShown(msg))
		}
		return NewError(http.StatusBadRequest, "malformed_json", "Bad Request", "the request body is not a valid document")
	}
}

func joinOr(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := ""
	for i, v := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " or "
		default:
			out += ", "
		}
		out += v
	}
	return out
}

// jsonType names, in JSON's terms, what a value decoded into t must be.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string" // []byte: base64
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another JSON type"
}

// pointerAt returns the JSON pointer (card-like runs masked, "" for the
// whole document) of the value of body that encoding/json reports at
// offset (an UnmarshalTypeError's Offset: the end of a scalar, or just
// past the opening of an object or array). ok is false when body holds no
// value there.
func pointerAt(body []byte, offset int64) (ptr string, ok bool) {
	w := newTokenWalk(body)
	for {
		tok, kind, err := w.next()
		if err != nil {
			return "", false
		}
		switch kind {
		case tokenOpen:
			if w.dec.InputOffset() >= offset {
				return pointer(w.stack), true
			}
			w.push(&frame{obj: tok == json.Delim('{'), expectKey: tok == json.Delim('{')})
		case tokenValue:
			if w.dec.InputOffset() >= offset {
				return pointer(w.stack), true
			}
		}
	}
}
