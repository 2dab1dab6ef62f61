package rewrite

// The hand-written JSON walker that located targets before gjson did
// (issue 24), kept as a test oracle: TestJSONMatchesOracle and
// FuzzJSONAgainstOracle check that the gjson locator finds the same spans
// on every body it accepted and refuses what it refused. It supports the
// path subset it always did (no queries). Only the names changed.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

type oSeg struct {
	key   string
	any   bool // '#'
	index int  // array index when key is all digits, else -1
}

type oPath struct {
	segs   []oSeg
	target int
}

type oracleLocator struct {
	paths []oPath
}

// oCursor is a path partly matched: segs[pos:] are still to match; seg is
// &segs[pos], nil when the path is matched to its end.
type oCursor struct {
	path int
	pos  int
	seg  *oSeg
}

// at returns the oCursor of path after pos segments.
func (s *oScan) at(path, pos int) oCursor {
	c := oCursor{path: path, pos: pos}
	if segs := s.paths[path].segs; pos < len(segs) {
		c.seg = &segs[pos]
	}
	return c
}

func newOracleLocator(specs []TargetSpec, idx []int) (Locator, error) {
	l := &oracleLocator{}
	for i, s := range specs {
		segs, err := oracleParsePath(s.Path)
		if err != nil {
			return nil, fmt.Errorf("rewrite: target %d: json path: %w", idx[i], err)
		}
		l.paths = append(l.paths, oPath{segs: segs, target: idx[i]})
	}
	return l, nil
}

// oracleParsePath parses the supported gjson path subset.
func oracleParsePath(p string) ([]oSeg, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty", ErrJSONPath)
	}
	if strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("%w: %q looks like JSONPath; write it as a gjson path (card.number, items.#.pan)", ErrJSONPath, p)
	}
	if strings.HasPrefix(p, "..") {
		return nil, fmt.Errorf("%w: JSON lines paths (..) are not supported", ErrJSONPath)
	}
	var segs []oSeg
	var key strings.Builder
	escaped, hash := false, false
	flush := func() error {
		k := key.String()
		key.Reset()
		if k == "" && !escaped {
			return fmt.Errorf("%w: %q has an empty key", ErrJSONPath, p)
		}
		seg := oSeg{key: k, index: -1}
		if hash && k != "#" {
			return fmt.Errorf("%w: %q: '#' must be a whole path element (escape it as \\# in a key)", ErrJSONPath, p)
		}
		if k == "#" && hash {
			seg = oSeg{any: true, index: -1}
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

// oScan is the state of one walk. Scanning helpers work on a local
// index and return the new one; the walk keeps it in i between values.
type oScan struct {
	b       []byte
	i       int
	paths   []oPath
	cursors []oCursor  // stack: each level's active cursors appended at the end
	seen    []oSeenKey // stack of targeted keys seen in the open objects
	spans   []Span
	vals    []rawValue // where each span's value is, for one string of all values at the end
}

// oScanPool keeps walk state between messages: the oCursor, key and value
// stacks are reused instead of allocated per body.
var oScanPool = sync.Pool{New: func() any {
	return &oScan{cursors: make([]oCursor, 0, 32), seen: make([]oSeenKey, 0, 16), vals: make([]rawValue, 0, 16)}
}}

// oSeenKey is a targeted key met in an open object: its raw bytes, or its
// decoded text when it had escapes.
type oSeenKey struct {
	start, end int
	decoded    string
	escaped    bool
}

func (l *oracleLocator) Locate(msg *Message) ([]Span, error) {
	spans, err := l.locateAppend(make([]Span, 0, 2*len(l.paths)), msg)
	if err != nil {
		return nil, err
	}
	return spans, nil
}

// locateAppend is Locate appending to dst (see spanAppender).
func (l *oracleLocator) locateAppend(dst []Span, msg *Message) ([]Span, error) {
	s := oScanPool.Get().(*oScan)
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
		err = fillValues(s.b, s.vals, spans[len(dst):])
	}
	// The pooled state keeps no reference to the body or the spans. (The
	// seen stack may keep a few decoded key strings until its next use.)
	s.b, s.paths, s.spans = nil, nil, nil
	oScanPool.Put(s)
	if err != nil {
		return dst, err
	}
	return spans, nil
}

func (s *oScan) malformed(what string) error { return malformedAt(what, s.i) }

// value scans one value at s.i. cursors[lo:hi] are the paths active here.
func (s *oScan) value(lo, hi, depth int) error {
	if s.i >= len(s.b) {
		return s.malformed("unexpected end")
	}
	if lo == hi {
		i, err := skipValue(s.b, s.i, depth)
		s.i = i
		return err
	}
	// A oCursor with no segments left means this value is a target.
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

func (s *oScan) object(lo, hi, depth int, live bool) error {
	seenMark := len(s.seen)
	defer func() { s.seen = s.seen[:seenMark] }()
	s.i = skipWS(s.b, s.i+1) // after '{'
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	if live {
		// '#' meeting an object with members is refused (json.go).
		for _, c := range s.cursors[lo:hi] {
			if c.seg != nil && c.seg.any {
				return fmt.Errorf("%w: target %d: an array was expected at '#'", ErrTargetType, s.paths[c.path].target)
			}
		}
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
				sk := oSeenKey{start: kstart + 1, end: kstart + 1 + len(rawKey), decoded: key, escaped: esc}
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

func (s *oScan) array(lo, hi, depth int, live bool) error {
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
// segment of oCursor c (see jsonKeyVariant): an application matching keys
// case-insensitively would read its value as the target's, which is not
// located under it. It is accepted when the route also targets that exact
// spelling with the same rest of the path (a oCursor among lo:hi whose
// segment is the key and whose remaining segments are c's): it is then
// located. key is the decoded key when esc.
func (s *oScan) checkVariant(lo, hi int, c oCursor, rawKey []byte, key string, esc bool) error {
	k := rawKey
	if esc {
		k = []byte(key) // keys with escapes are rare
	}
	if !jsonKeyVariant(string(k), c.seg.key) {
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

func (s *oScan) sameKey(a, b oSeenKey) bool {
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
func (s *oScan) member(closing byte, kind string) (done bool, err error) {
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
