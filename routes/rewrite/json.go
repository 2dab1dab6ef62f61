package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON targets use gjson path syntax without modifiers, queries or
// wildcards: keys separated by '.', '\' escaping the next character, '#'
// for every element of an array, and a number for one array index (or an
// object key of that name). The body is validated and every target located
// in one walk; a string target is replaced by a JSON string, a number
// target by a number when the replacement is an integer (numeric alias
// formats) and by a string otherwise. Values are read from their raw text,
// never through float64, so a card number sent as a JSON number keeps all
// its digits.
//
// Keys are matched as the application reads them. A key spelled with
// escapes ("n\u0075mber") is the key it decodes to: it is located, and with
// the plain spelling in the same object it is a duplicate. An object that
// repeats a targeted key is refused (ErrDuplicateKey), and so is, at every
// level of a target's path, a key that differs from the path's key only in
// letter case ("Number", "NUMBER", "\u212aey" for "key"; see keyFoldEqual),
// whether it stands beside the exact key or alone: encoding/json and other
// case-insensitive decoders would read its value as the target's. Such a
// spelling is accepted only when the route targets it too, with the same
// rest of the path.

type jsonSeg struct {
	key   string
	any   bool // '#'
	index int  // array index when key is all digits, else -1
}

type jsonPath struct {
	segs   []jsonSeg
	target int
}

type jsonLocator struct {
	paths []jsonPath
}

// cursor is a path partly matched: segs[pos:] are still to match; seg is
// &segs[pos], nil when the path is matched to its end.
type cursor struct {
	path int
	pos  int
	seg  *jsonSeg
}

// at returns the cursor of path after pos segments.
func (s *jsonScan) at(path, pos int) cursor {
	c := cursor{path: path, pos: pos}
	if segs := s.paths[path].segs; pos < len(segs) {
		c.seg = &segs[pos]
	}
	return c
}

func newJSONLocator(specs []TargetSpec, idx []int) (Locator, error) {
	l := &jsonLocator{}
	for i, s := range specs {
		segs, err := parseJSONPath(s.Path)
		if err != nil {
			return nil, fmt.Errorf("rewrite: target %d: json path: %w", idx[i], err)
		}
		l.paths = append(l.paths, jsonPath{segs: segs, target: idx[i]})
	}
	return l, nil
}

// ErrJSONPath is wrapped by path syntax errors.
var ErrJSONPath = errors.New("unsupported json path")

// parseJSONPath parses the supported gjson path subset.
func parseJSONPath(p string) ([]jsonSeg, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty", ErrJSONPath)
	}
	if strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("%w: %q looks like JSONPath; write it as a gjson path (card.number, items.#.pan)", ErrJSONPath, p)
	}
	if strings.HasPrefix(p, "..") {
		return nil, fmt.Errorf("%w: JSON lines paths (..) are not supported", ErrJSONPath)
	}
	var segs []jsonSeg
	var key strings.Builder
	escaped, hash := false, false
	flush := func() error {
		k := key.String()
		key.Reset()
		if k == "" && !escaped {
			return fmt.Errorf("%w: %q has an empty key", ErrJSONPath, p)
		}
		seg := jsonSeg{key: k, index: -1}
		if hash && k != "#" {
			return fmt.Errorf("%w: %q: '#' must be a whole path element (escape it as \\# in a key)", ErrJSONPath, p)
		}
		if k == "#" && hash {
			seg = jsonSeg{any: true, index: -1}
		} else if n, err := strconv.Atoi(k); err == nil && n >= 0 && allASCIIDigits(k) {
			seg.index = n
		}
		segs = append(segs, seg)
		escaped, hash = false, false
		return nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 == len(p) {
				return nil, fmt.Errorf("%w: %q ends with '\\'", ErrJSONPath, p)
			}
			i++
			key.WriteByte(p[i])
			escaped = true
			continue
		case '.':
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		case '@', '|', '{', '}', '[', ']', '!', '=', '<', '>', '~', '%':
			return nil, fmt.Errorf("%w: %q uses %q (modifiers, queries and selectors are not supported)", ErrJSONPath, p, c)
		case '*', '?':
			return nil, fmt.Errorf("%w: %q uses wildcard %q; name the key", ErrJSONPath, p, c)
		case '#':
			if i+1 < len(p) && p[i+1] == '(' {
				return nil, fmt.Errorf("%w: %q uses a query #(…)", ErrJSONPath, p)
			}
			hash = true
		}
		key.WriteByte(c)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if last := segs[len(segs)-1]; last.any {
		return nil, fmt.Errorf("%w: %q ends with '#' (the array length), not a value", ErrJSONPath, p)
	}
	return segs, nil
}

func allASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// jsonScan is the state of one walk. Scanning helpers work on a local
// index and return the new one; the walk keeps it in i between values.
type jsonScan struct {
	b       []byte
	i       int
	paths   []jsonPath
	cursors []cursor  // stack: each level's active cursors appended at the end
	seen    []seenKey // stack of targeted keys seen in the open objects
	spans   []Span
	vals    []rawValue // where each span's value is, for one string of all values at the end
}

// rawValue is where the value of a span lies in the body: its raw text
// (string content without quotes, or number) and whether it has escapes.
type rawValue struct {
	from, to int
	escaped  bool
}

// scanPool keeps walk state between messages: the cursor, key and value
// stacks are reused instead of allocated per body.
var scanPool = sync.Pool{New: func() any {
	return &jsonScan{cursors: make([]cursor, 0, 32), seen: make([]seenKey, 0, 16), vals: make([]rawValue, 0, 16)}
}}

// seenKey is a targeted key met in an open object: its raw bytes, or its
// decoded text when it had escapes.
type seenKey struct {
	start, end int
	decoded    string
	escaped    bool
}

func (l *jsonLocator) Locate(msg *Message) ([]Span, error) {
	spans, err := l.locateAppend(make([]Span, 0, 2*len(l.paths)), msg)
	if err != nil {
		return nil, err
	}
	return spans, nil
}

// locateAppend is Locate appending to dst (see spanAppender).
func (l *jsonLocator) locateAppend(dst []Span, msg *Message) ([]Span, error) {
	s := scanPool.Get().(*jsonScan)
	s.b, s.i, s.paths = msg.Body, 0, l.paths
	s.cursors, s.seen, s.vals = s.cursors[:0], s.seen[:0], s.vals[:0]
	s.spans = dst
	for i := range l.paths {
		s.cursors = append(s.cursors, s.at(i, 0))
	}
	s.i = skipWS(s.b, 0)
	err := s.value(0, len(s.cursors), 0)
	if s.i = skipWS(s.b, s.i); err == nil && s.i != len(s.b) {
		err = malformedAt("data after the JSON value", s.i)
	}
	spans := s.spans
	if err == nil {
		err = s.fillValues(spans[len(dst):])
	}
	// The pooled state keeps no reference to the body or the spans. (The
	// seen stack may keep a few decoded key strings until its next use.)
	s.b, s.paths, s.spans = nil, nil, nil
	scanPool.Put(s)
	if err != nil {
		return dst, err
	}
	return spans, nil
}

// fillValues sets the Value of every span from s.vals: all of them are
// slices of one string, one allocation per body rather than one per value.
func (s *jsonScan) fillValues(spans []Span) error {
	n := 0
	for _, v := range s.vals {
		n += v.to - v.from // a decoded string is never longer than its raw text
	}
	if n == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(n)
	for k := range s.vals {
		v := &s.vals[k]
		raw := s.b[v.from:v.to]
		if v.escaped {
			d, err := decodeJSONString(raw, true)
			if err != nil {
				return err
			}
			sb.WriteString(d)
		} else {
			sb.Write(raw)
		}
		v.to = sb.Len() // from here on: the end of the value in sb
	}
	all := sb.String()
	from := 0
	for k, v := range s.vals {
		spans[k].Value = all[from:v.to]
		from = v.to
	}
	return nil
}

// malformedAt is the error of a body that does not parse at byte i.
func malformedAt(what string, i int) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, i)
}

func (s *jsonScan) malformed(what string) error { return malformedAt(what, s.i) }

var errTooDeep = fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)

// skipWS returns the index of the first byte at or after i that is not
// JSON white space.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace[b[i]] {
		i++
	}
	return i
}

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// value scans one value at s.i. cursors[lo:hi] are the paths active here.
func (s *jsonScan) value(lo, hi, depth int) error {
	if s.i >= len(s.b) {
		return s.malformed("unexpected end")
	}
	if lo == hi {
		i, err := skipValue(s.b, s.i, depth)
		s.i = i
		return err
	}
	// A cursor with no segments left means this value is a target.
	target := -1
	live := false
	for _, c := range s.cursors[lo:hi] {
		if c.seg == nil {
			if target < 0 {
				target = s.paths[c.path].target
			}
		} else {
			live = true
		}
	}
	c := s.b[s.i]
	switch {
	case c == '"':
		start := s.i
		end, esc, err := scanString(s.b, start)
		s.i = end
		if err != nil {
			return err
		}
		if target >= 0 {
			s.spans = append(s.spans, Span{Start: start, End: end, Encoding: JSONString, Target: target})
			s.vals = append(s.vals, rawValue{from: start + 1, to: end - 1, escaped: esc})
		}
		return nil
	case c == '{' || c == '[':
		if target >= 0 {
			return fmt.Errorf("%w: a targeted value is an %s", ErrTargetType, map[byte]string{'{': "object", '[': "array"}[c])
		}
		if depth >= MaxDepth {
			return errTooDeep
		}
		if c == '{' {
			return s.object(lo, hi, depth, live)
		}
		return s.array(lo, hi, depth, live)
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		end, err := scanNumber(s.b, start)
		s.i = end
		if err != nil {
			return err
		}
		if target >= 0 {
			s.spans = append(s.spans, Span{Start: start, End: end, Encoding: JSONNumber, Target: target})
			s.vals = append(s.vals, rawValue{from: start, to: end})
		}
		return nil
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
				if target >= 0 {
					return fmt.Errorf("%w: a targeted value is %s", ErrTargetType, map[string]string{"true": "a boolean", "false": "a boolean", "null": "null"}[lit])
				}
				s.i += len(lit)
				return nil
			}
		}
		return s.malformed("unexpected character")
	}
}

func (s *jsonScan) object(lo, hi, depth int, live bool) error {
	seenMark := len(s.seen)
	defer func() { s.seen = s.seen[:seenMark] }()
	s.i = skipWS(s.b, s.i+1) // after '{'
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.malformed("expected a key")
		}
		kstart := s.i
		end, esc, err := scanString(s.b, kstart)
		if err != nil {
			s.i = end
			return err
		}
		rawKey := s.b[kstart+1 : end-1]
		s.i = skipWS(s.b, end)
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.malformed("expected ':'")
		}
		s.i = skipWS(s.b, s.i+1)
		childLo := len(s.cursors)
		if live {
			key := ""
			keyDecoded := false
			for _, c := range s.cursors[lo:hi] {
				seg := c.seg
				if seg == nil || seg.any {
					continue
				}
				if !keyDecoded {
					if esc {
						if key, err = decodeJSONString(rawKey, true); err != nil {
							return err
						}
					}
					keyDecoded = true
				}
				if esc && seg.key == key || !esc && seg.key == string(rawKey) {
					s.cursors = append(s.cursors, s.at(c.path, c.pos+1))
					continue
				}
				// Most keys differ from the segment in their first byte,
				// letter case aside: no variant.
				if !esc && len(rawKey) > 0 && len(seg.key) > 0 {
					if a, b := rawKey[0], seg.key[0]; a|b < utf8.RuneSelf && a|0x20 != b|0x20 {
						continue
					}
				}
				if err := s.checkVariant(lo, hi, c, rawKey, key, esc); err != nil {
					return err
				}
			}
			if len(s.cursors) > childLo {
				sk := seenKey{start: kstart + 1, end: kstart + 1 + len(rawKey), decoded: key, escaped: esc}
				for _, k := range s.seen[seenMark:] {
					if s.sameKey(k, sk) {
						return fmt.Errorf("%w: an object repeats a targeted key", ErrDuplicateKey)
					}
				}
				s.seen = append(s.seen, sk)
			}
		}
		if err := s.value(childLo, len(s.cursors), depth+1); err != nil {
			return err
		}
		s.cursors = s.cursors[:childLo]
		if done, err := s.member('}', "object"); done || err != nil {
			return err
		}
	}
}

func (s *jsonScan) array(lo, hi, depth int, live bool) error {
	s.i = skipWS(s.b, s.i+1) // after '['
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		childLo := len(s.cursors)
		if live {
			for _, c := range s.cursors[lo:hi] {
				if seg := c.seg; seg != nil && (seg.any || seg.index == n) {
					s.cursors = append(s.cursors, s.at(c.path, c.pos+1))
				}
			}
		}
		if err := s.value(childLo, len(s.cursors), depth+1); err != nil {
			return err
		}
		s.cursors = s.cursors[:childLo]
		if done, err := s.member(']', "array"); done || err != nil {
			return err
		}
	}
}

// checkVariant refuses an object key that is another spelling of the
// segment of cursor c (see jsonKeyVariant): an application matching keys
// case-insensitively would read its value as the target's, which is not
// located under it. It is accepted when the route also targets that exact
// spelling with the same rest of the path (a cursor among lo:hi whose
// segment is the key and whose remaining segments are c's): it is then
// located. key is the decoded key when esc.
func (s *jsonScan) checkVariant(lo, hi int, c cursor, rawKey []byte, key string, esc bool) error {
	k := rawKey
	if esc {
		k = []byte(key) // keys with escapes are rare
	}
	if !jsonKeyVariant(k, c.seg.key) {
		return nil
	}
	rest := s.paths[c.path].segs[c.pos+1:]
	for _, o := range s.cursors[lo:hi] {
		if o.seg != nil && !o.seg.any && o.seg.key == string(k) && slices.Equal(s.paths[o.path].segs[o.pos+1:], rest) {
			return nil
		}
	}
	return fmt.Errorf("%w: target %d: an object key differs from the targeted key %q only in letter case", ErrDuplicateKey, s.paths[c.path].target, c.seg.key)
}

func (s *jsonScan) sameKey(a, b seenKey) bool {
	switch {
	case !a.escaped && !b.escaped:
		return string(s.b[a.start:a.end]) == string(s.b[b.start:b.end])
	case a.escaped && b.escaped:
		return a.decoded == b.decoded
	case a.escaped:
		return a.decoded == string(s.b[b.start:b.end])
	default:
		return b.decoded == string(s.b[a.start:a.end])
	}
}

// member moves past the separator after a member of an object or array:
// ',' (more members follow) or the closing byte (done).
func (s *jsonScan) member(closing byte, kind string) (done bool, err error) {
	s.i = skipWS(s.b, s.i)
	if s.i >= len(s.b) {
		return false, s.malformed("unexpected end in an " + kind)
	}
	switch s.b[s.i] {
	case ',':
		s.i = skipWS(s.b, s.i+1)
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return false, s.malformed("expected ',' or '" + string(closing) + "'")
}

// skipValue validates the value at b[i] (i < len(b), no white space
// before it), which no target is inside, and returns the index after it.
// On error the index is where the body stopped parsing.
func skipValue(b []byte, i, depth int) (int, error) {
	switch c := b[i]; {
	case c == '"':
		return skipStringErr(b, i)
	case c == '{' || c == '[':
		return skipContainer(b, i, depth)
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, malformedAt("unexpected character", i)
}

// skipContainer validates the object or array at b[i].
func skipContainer(b []byte, i, depth int) (int, error) {
	if depth >= MaxDepth {
		return i, errTooDeep
	}
	obj := b[i] == '{'
	closing := byte(']')
	if obj {
		closing = '}'
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closing {
		return i + 1, nil
	}
	var err error
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, malformedAt("expected a key", i)
			}
			end := skipString(b, i)
			if end < 0 {
				return skipStringErr(b, i)
			}
			i = skipWS(b, end)
			if i >= len(b) || b[i] != ':' {
				return i, malformedAt("expected ':'", i)
			}
			i = skipWS(b, i+1)
		}
		if i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		// Scalars, the most common values, without a call to skipValue.
		switch c := b[i]; {
		case c == '"':
			end := skipString(b, i)
			if end < 0 {
				return skipStringErr(b, i)
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end := skipNumber(b, i)
			if end < 0 {
				return scanNumber(b, i)
			}
			i = end
		default:
			if i, err = skipValue(b, i, depth+1); err != nil {
				return i, err
			}
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case closing:
			return i + 1, nil
		default:
			return i, malformedAt("expected ',' or a closing bracket", i)
		}
	}
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, malformedAt("unexpected character", i)
}

// strClass marks bytes that end the fast path of a string: '"', '\\' and
// control characters.
var strClass = func() (t [256]bool) {
	for i := 0; i < 0x20; i++ {
		t[i] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scanString validates the string whose opening quote is at b[i] and
// returns the index after its closing quote and whether it has escapes.
func scanString(b []byte, i int) (int, bool, error) {
	i++
	escaped := false
	for i < len(b) {
		// Eight bytes at a time while none of them is '"', '\\' or a
		// control character. The lowest flagged byte of a word is exact
		// (false positives of these bit tricks only appear above a true
		// match), so jump to it.
		for i+8 <= len(b) {
			if m := specialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if !strClass[c] {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, false, malformedAt("unexpected end in a string", i)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return i, false, malformedAt("bad \\u escape", i)
				}
				i += 6
			default:
				return i, false, malformedAt("bad escape", i)
			}
		default:
			return i, false, malformedAt("control character in a string", i)
		}
	}
	return len(b), false, malformedAt("unexpected end in a string", len(b))
}

const (
	ones        = 0x0101010101010101
	highs       = 0x8080808080808080
	quotes      = ones * '"'
	backslashes = ones * '\\'
)

// specialBytes flags the bytes of w that end the fast path of a string:
// '"', '\\' and control characters. The lowest flagged byte is exact.
func specialBytes(w uint64) uint64 {
	q, e := w^quotes, w^backslashes
	return ((q-ones)&^q | (e-ones)&^e | (w-ones*0x20)&^w) & highs
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// scanNumber validates the JSON number (RFC 8259 grammar) at b[i] and
// returns the index after it.
func scanNumber(b []byte, i int) (int, error) {
	if end := skipNumber(b, i); end > 0 {
		return end, nil
	}
	return i, malformedAt("bad number", i)
}

// skipNumber returns the index after the valid JSON number at b[i], or -1.
// It calls nothing, so it costs little to call.
func skipNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return -1
		}
	}
	return i
}

// decodeJSONString returns the value of the string content raw (without
// quotes), already checked by str.
func decodeJSONString(raw []byte, escaped bool) (string, error) {
	if !escaped {
		return string(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hex4(raw[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 := rune(hex4(raw[i+3 : i+7]))
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out), nil
}

func hex4(b []byte) int {
	n := 0
	for _, c := range b[:4] {
		n <<= 4
		switch {
		case c >= '0' && c <= '9':
			n |= int(c - '0')
		case c >= 'a' && c <= 'f':
			n |= int(c-'a') + 10
		default:
			n |= int(c-'A') + 10
		}
	}
	return n
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends v as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(dst []byte, v string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, v[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, v[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, v[start:]...)
	return append(dst, '"')
}

// skipString is scanString for strings whose content does not matter: it
// returns the index after the closing quote of the valid string that opens
// at b[i], or -1 when the string is not valid (scanString then says why).
// It calls nothing, so it costs little to call.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		for i+8 <= len(b) {
			if m := specialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

// skipStringErr is skipString with the error of an invalid string.
func skipStringErr(b []byte, i int) (int, error) {
	if end := skipString(b, i); end > 0 {
		return end, nil
	}
	end, _, err := scanString(b, i)
	return end, err
}
