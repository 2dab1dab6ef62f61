package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
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

// cursor is a path partly matched: segs[pos:] are still to match.
type cursor struct {
	path int
	pos  int
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

// jsonScan is the state of one walk.
type jsonScan struct {
	b       []byte
	i       int
	paths   []jsonPath
	cursors []cursor  // stack: each level's active cursors appended at the end
	seen    []seenKey // stack of targeted keys seen in the open objects
	spans   []Span
}

// scanPool keeps walk state between messages: the cursor and key stacks
// are reused instead of allocated per body.
var scanPool = sync.Pool{New: func() any { return &jsonScan{cursors: make([]cursor, 0, 32), seen: make([]seenKey, 0, 16)} }}

// seenKey is a targeted key met in an open object: its raw bytes, or its
// decoded text when it had escapes.
type seenKey struct {
	start, end int
	decoded    string
	escaped    bool
}

func (l *jsonLocator) Locate(msg *Message) ([]Span, error) {
	s := scanPool.Get().(*jsonScan)
	s.b, s.i, s.paths = msg.Body, 0, l.paths
	s.cursors, s.seen = s.cursors[:0], s.seen[:0]
	s.spans = make([]Span, 0, 2*len(l.paths))
	for i := range l.paths {
		s.cursors = append(s.cursors, cursor{path: i})
	}
	s.ws()
	err := s.value(0, len(s.cursors), 0)
	if s.ws(); err == nil && s.i != len(s.b) {
		err = s.malformed("data after the JSON value")
	}
	spans := s.spans
	// The pooled state keeps no reference to the body or the spans. (The
	// seen stack may keep a few decoded key strings until its next use.)
	s.b, s.paths, s.spans = nil, nil, nil
	scanPool.Put(s)
	if err != nil {
		return nil, err
	}
	return spans, nil
}

func (s *jsonScan) malformed(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, s.i)
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) && s.b[s.i] <= ' ' && isSpace[s.b[s.i]] {
		s.i++
	}
}

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// value scans one value at s.i. cursors[lo:hi] are the paths active here.
func (s *jsonScan) value(lo, hi, depth int) error {
	if s.i >= len(s.b) {
		return s.malformed("unexpected end")
	}
	if lo == hi {
		return s.skip(depth)
	}
	// A cursor with no segments left means this value is a target.
	target := -1
	live := false
	for _, c := range s.cursors[lo:hi] {
		if c.pos == len(s.paths[c.path].segs) {
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
		esc, err := s.str()
		if err != nil {
			return err
		}
		if target >= 0 {
			v, err := decodeJSONString(s.b[start+1:s.i-1], esc)
			if err != nil {
				return err
			}
			s.spans = append(s.spans, Span{Start: start, End: s.i, Value: v, Encoding: JSONString, Target: target})
		}
		return nil
	case c == '{' || c == '[':
		if target >= 0 {
			return fmt.Errorf("%w: a targeted value is an %s", ErrTargetType, map[byte]string{'{': "object", '[': "array"}[c])
		}
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		if c == '{' {
			return s.object(lo, hi, depth, live)
		}
		return s.array(lo, hi, depth, live)
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if err := s.number(); err != nil {
			return err
		}
		if target >= 0 {
			s.spans = append(s.spans, Span{Start: start, End: s.i, Value: string(s.b[start:s.i]), Encoding: JSONNumber, Target: target})
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
	s.i++ // {
	seenMark := len(s.seen)
	defer func() { s.seen = s.seen[:seenMark] }()
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.malformed("expected a key")
		}
		kstart := s.i
		esc, err := s.str()
		if err != nil {
			return err
		}
		rawKey := s.b[kstart+1 : s.i-1]
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.malformed("expected ':'")
		}
		s.i++
		s.ws()
		childLo := len(s.cursors)
		if live {
			key := ""
			keyDecoded := false
			for _, c := range s.cursors[lo:hi] {
				segs := s.paths[c.path].segs
				if c.pos == len(segs) || segs[c.pos].any {
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
				if esc && segs[c.pos].key == key || !esc && segs[c.pos].key == string(rawKey) {
					s.cursors = append(s.cursors, cursor{path: c.path, pos: c.pos + 1})
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
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		childLo := len(s.cursors)
		if live {
			for _, c := range s.cursors[lo:hi] {
				segs := s.paths[c.path].segs
				if c.pos < len(segs) && (segs[c.pos].any || segs[c.pos].index == n) {
					s.cursors = append(s.cursors, cursor{path: c.path, pos: c.pos + 1})
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

// skip validates and passes over one value that no target is inside.
func (s *jsonScan) skip(depth int) error {
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == close {
			s.i++
			return nil
		}
		for {
			if c == '{' {
				if s.i >= len(s.b) || s.b[s.i] != '"' {
					return s.malformed("expected a key")
				}
				if _, err := s.str(); err != nil {
					return err
				}
				s.ws()
				if s.i >= len(s.b) || s.b[s.i] != ':' {
					return s.malformed("expected ':'")
				}
				s.i++
				s.ws()
			}
			if s.i >= len(s.b) {
				return s.malformed("unexpected end")
			}
			// Scalars, the most common values, without a call to skip.
			switch v := s.b[s.i]; {
			case v == '"':
				if _, err := s.str(); err != nil {
					return err
				}
			case v == '-' || v >= '0' && v <= '9':
				if err := s.number(); err != nil {
					return err
				}
			default:
				if err := s.skip(depth + 1); err != nil {
					return err
				}
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.malformed("unexpected end")
			}
			switch s.b[s.i] {
			case ',':
				s.i++
				s.ws()
			case close:
				s.i++
				return nil
			default:
				return s.malformed("expected ',' or a closing bracket")
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.malformed("unexpected character")
}

func (s *jsonScan) literal(lit string) error {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return nil
	}
	return s.malformed("unexpected character")
}

// member moves past the separator after a member of an object or array:
// ',' (more members follow) or the closing byte (done).
func (s *jsonScan) member(closing byte, kind string) (done bool, err error) {
	s.ws()
	if s.i >= len(s.b) {
		return false, s.malformed("unexpected end in an " + kind)
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.ws()
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return false, s.malformed("expected ',' or '" + string(closing) + "'")
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

// str scans a string starting at the opening quote and leaves s.i after the
// closing one. It reports whether the string has escapes.
func (s *jsonScan) str() (escaped bool, err error) {
	s.i++
	b := s.b
	for i := s.i; i < len(b); {
		// Eight bytes at a time while none of them is '"', '\\' or a
		// control character.
		// The lowest flagged byte of a word is exact (false positives of
		// these bit tricks only appear above a true match), so jump to it.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if m := specialBytes(w); m != 0 {
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
		switch {
		case c == '"':
			s.i = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.i = i
				return false, s.malformed("unexpected end in a string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					s.i = i
					return false, s.malformed("bad \\u escape")
				}
				i += 6
			default:
				s.i = i
				return false, s.malformed("bad escape")
			}
		default:
			s.i = i
			return false, s.malformed("control character in a string")
		}
	}
	s.i = len(b)
	return false, s.malformed("unexpected end in a string")
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
	return hasZeroByte(w^quotes) | hasZeroByte(w^backslashes) | hasLessThan(w, 0x20)
}

// hasZeroByte is non-zero when a byte of w is zero.
func hasZeroByte(w uint64) uint64 { return (w - ones) &^ w & highs }

// hasLessThan is non-zero when a byte of w is below n (n <= 128).
func hasLessThan(w uint64, n uint64) uint64 { return (w - ones*n) &^ w & highs }

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number scans a JSON number (RFC 8259 grammar).
func (s *jsonScan) number() error {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		return s.malformed("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			s.i = i
			return s.malformed("bad number")
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
			s.i = i
			return s.malformed("bad number")
		}
	}
	s.i = i
	return nil
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
