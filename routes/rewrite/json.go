package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// JSON targets are gjson paths (json_path.go), located by
// github.com/tidwall/gjson with strict checks around it, in one walk:
//
//   - The walk validates the whole body (RFC 8259, at most MaxDepth
//     levels) as it follows the paths one component at a time from the
//     objects and arrays the previous component reached. gjson is lenient
//     and never validates, so it reads only what the walk has validated.
//   - gjson locates: once a container is validated, gjson.Get of each key
//     or index component on it must give the offset of the scalar the walk
//     met there (Result.Index), or nothing where the walk met none; the
//     elements a query
//     selects are those gjson.Get of #(cond)# on the array gives
//     (Result.Indexes; the array is validated first). Two readers that
//     disagree refuse the body (errDisagree) rather than guess. Where
//     gjson's answer is the walk's by construction, a plain key (ASCII
//     letters, digits, '_', '-', no escape) in an object none of whose
//     keys has escapes, gjson is not asked (settle). A
//     container under a key is not confirmed (gjson would read it whole);
//     the scalars below it are. gjson.Get of the whole path is not used:
//     it gives no offsets through a '#' nested in another, reads only the
//     first of two equal keys, and the checks below read every key of each
//     object on the path anyway. The elements under '#' are every element
//     of the array; an object with members where '#' or a query expects an
//     array is refused (ErrTargetType): an application iterating it reads
//     its members as elements, and JSONPath's [*] selects them.
//   - Keys are matched as the application reads them. A key spelled with
//     escapes ("n\u0075mber") is the key it decodes to: it is located, and
//     with the plain spelling in the same object it is a duplicate. An
//     object that repeats a targeted key is refused (ErrDuplicateKey), and
//     so is, at every level of a target's path, a key that differs from
//     the path's key only in letter case ("Number", "NUMBER", "\u212aey"
//     for "key"; see keyFoldEqual), whether it stands beside the exact key
//     or alone: encoding/json and other case-insensitive decoders would
//     read its value as the target's. Such a spelling is accepted only when
//     the route targets it too, with the same rest of the path. The keys a
//     query's condition reads follow the same rules in every element of
//     the array, and a value a condition compares must have its literal's
//     JSON type (gjson compares the string "1" equal to 1 and "card" equal
//     to 0; an application does not): else ErrTargetType.
//   - A string target is replaced by a JSON string, a number target by a
//     number when the replacement is an integer (numeric alias formats) and
//     by a string otherwise. Values are read from their raw text, never
//     through float64, so a card number sent as a JSON number keeps all its
//     digits. Replacements are spliced at the located offsets in one pass
//     (Program.Apply); sjson would parse the body again from its start for
//     every value (docs/DECISIONS.md has the figures).

type jsonPath struct {
	segs   []jsonSeg
	target int
}

type jsonLocator struct {
	paths []jsonPath
	// confirmAll makes settle ask gjson about every scalar component,
	// plain ones included (tests compare it with the shortcut).
	confirmAll bool
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

// cursor is a path matched up to segs[pos] (pos == len(segs): the path is
// matched to its end, the value is its target). In the container it is in,
// at is where the walk met the value of its key or index component, -1
// while it has met none. seg is &segs[pos], nil when the path is matched:
// the walk reads it at every member and element the cursor sees. (A
// pooled walk may keep seg pointers into a locator's paths in its stack's
// spare capacity: route data, never the body's.)
type cursor struct {
	path, pos, at int
	seg           *jsonSeg
}

// jsonWalk is the state of one body's walk. The cursors active at a value
// are stack[lo:hi]; a container's children push theirs above hi.
type jsonWalk struct {
	b     []byte
	s     string // b, shared (no copy), for gjson
	paths []jsonPath
	stack []cursor
	seen  []string // targeted keys met in the open objects
	sels  []querySel
	spans []Span
	vals  []rawValue
	// seenHigh and selsHigh are the most entries seen and sels have held
	// during the walk: the ones release clears.
	seenHigh, selsHigh int
	// confirmAll is the locator's confirmAll.
	confirmAll bool
}

// rawValue is where the value of a span lies in the body: its raw text
// (string content without quotes, or number) and whether it has escapes.
type rawValue struct {
	from, to int
	escaped  bool
}

// querySel is what gjson selected for the query cursor stack[ci] in an
// array: the offsets of the matching elements, in order, and how many of
// them the walk has met.
type querySel struct {
	ci   int
	offs []int
	next int
}

// walkPool keeps walk state between messages: the stacks are reused
// instead of allocated per body.
var walkPool = sync.Pool{New: func() any {
	return &jsonWalk{stack: make([]cursor, 0, 32), seen: make([]string, 0, 16), vals: make([]rawValue, 0, 16)}
}}

// errDisagree: gjson and the walk's own reading of an object or array do
// not agree on where a component's value is.
var errDisagree = errors.New("rewrite: json: gjson and the key checks disagree on where a value is")

func (l *jsonLocator) Locate(msg *Message) ([]Span, error) {
	spans, err := l.locateAppend(make([]Span, 0, 2*len(l.paths)), msg)
	if err != nil {
		return nil, err
	}
	return spans, nil
}

// locateAppend is Locate appending to dst (see spanAppender).
func (l *jsonLocator) locateAppend(dst []Span, msg *Message) ([]Span, error) {
	w := walkPool.Get().(*jsonWalk)
	spans, err := w.locate(l, dst, msg)
	w.release()
	walkPool.Put(w)
	return spans, err
}

// locate walks msg.Body for l's paths, appending the spans to dst; on error
// it returns dst.
func (w *jsonWalk) locate(l *jsonLocator, dst []Span, msg *Message) ([]Span, error) {
	// s shares the body's bytes: the body is not written while the walk
	// reads it, and nothing taken from s outlives the walk (values are
	// copied by fillValues; release drops the rest).
	w.b, w.s, w.paths, w.confirmAll = msg.Body, unsafe.String(unsafe.SliceData(msg.Body), len(msg.Body)), l.paths, l.confirmAll
	w.stack, w.seen, w.sels, w.vals = w.stack[:0], w.seen[:0], w.sels[:0], w.vals[:0]
	w.spans = dst
	for i := range l.paths {
		w.stack = append(w.stack, cursor{path: i, at: -1, seg: &l.paths[i].segs[0]})
	}
	end, err := w.visit(skipWS(w.b, 0), 0, len(w.stack), 0)
	if end = skipWS(w.b, end); err == nil && end != len(w.b) {
		err = malformedAt("data after the JSON value", end)
	}
	spans := w.spans
	if err == nil {
		err = fillValues(w.b, w.vals, spans[len(dst):])
	}
	if err != nil {
		return dst, err
	}
	return spans, nil
}

// release drops every reference the walk state holds to the body, its keys
// and the spans, so that it can be pooled: of seen and sels, only the
// entries the walk wrote (up to seenHigh, selsHigh) are cleared.
func (w *jsonWalk) release() {
	clear(w.seen[:w.seenHigh])
	clear(w.sels[:w.selsHigh])
	w.seenHigh, w.selsHigh = 0, 0
	w.b, w.s, w.paths, w.spans = nil, "", nil, nil
}

// seg returns the component cursor c is at, nil when its path is matched.
func (w *jsonWalk) seg(c cursor) *jsonSeg {
	return c.seg
}

// push adds the child cursor of c.
func (w *jsonWalk) push(c cursor) {
	n := cursor{path: c.path, pos: c.pos + 1, at: -1}
	if segs := w.paths[c.path].segs; n.pos < len(segs) {
		n.seg = &segs[n.pos]
	}
	w.stack = append(w.stack, n)
}

// visit validates and takes the value at b[start] (no white space before
// it), at which the cursors stack[lo:hi] are active, depth levels down; it
// returns the index after it.
func (w *jsonWalk) visit(start, lo, hi, depth int) (int, error) {
	if start >= len(w.b) {
		return start, malformedAt("unexpected end", start)
	}
	target, live := -1, false
	for k := lo; k < hi; k++ {
		c := &w.stack[k]
		if c.seg != nil {
			live = true
		} else if t := w.paths[c.path].target; target < 0 || t < target {
			target = t
		}
	}
	switch c := w.b[start]; {
	case c == '{' || c == '[':
		switch {
		case target >= 0:
			return start, fmt.Errorf("%w: a targeted value is %s", ErrTargetType, typeName(c))
		case !live:
			return skipContainer(w.b, start, depth)
		case depth >= MaxDepth:
			return start, errTooDeep
		case c == '{':
			return w.object(start, lo, hi, depth)
		}
		return w.array(start, lo, hi, depth)
	case c == '"':
		if target < 0 {
			return skipStringErr(w.b, start)
		}
		end, esc, err := scanString(w.b, start)
		if err != nil {
			return end, err
		}
		w.spans = append(w.spans, Span{Start: start, End: end, Encoding: JSONString, Target: target})
		w.vals = append(w.vals, rawValue{from: start + 1, to: end - 1, escaped: esc})
		return end, nil
	case c == '-' || c >= '0' && c <= '9':
		end, err := scanNumber(w.b, start)
		if err == nil && target >= 0 {
			w.spans = append(w.spans, Span{Start: start, End: end, Encoding: JSONNumber, Target: target})
			w.vals = append(w.vals, rawValue{from: start, to: end})
		}
		return end, err
	default:
		end, err := skipValue(w.b, start, depth)
		if err == nil && target >= 0 {
			return start, fmt.Errorf("%w: a targeted value is %s", ErrTargetType, typeName(c))
		}
		return end, err
	}
}

// skipValid returns the index after the value at b[i] of a body already
// validated: it only looks for the end.
func skipValid(b []byte, i int) int {
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		depth := 0
		for ; i < len(b); i++ {
			if !structural[b[i]] {
				continue
			}
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			default:
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	case c == 't' || c == 'n':
		return i + 4
	case c == 'f':
		return i + 5
	}
	return skipNumber(b, i)
}

// structural marks the bytes skipValid stops at in a container.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// typeName names the JSON type of the value that starts with byte c.
func typeName(c byte) string {
	return litName[valueLit(c)]
}

var litName = [...]string{litNone: "nothing", litString: "a string", litNumber: "a number", litBool: "a boolean",
	litNull: "null", litObject: "an object", litArray: "an array"}

// valueLit is the JSON type of the value that starts with byte c.
func valueLit(c byte) litType {
	switch {
	case c == '"':
		return litString
	case c == '-' || c >= '0' && c <= '9':
		return litNumber
	case c == 't' || c == 'f':
		return litBool
	case c == 'n':
		return litNull
	case c == '{':
		return litObject
	case c == '[':
		return litArray
	}
	return litNone
}

// reset marks the cursors stack[lo:hi] as not yet met in the container
// they are entering.
func (w *jsonWalk) reset(lo, hi int) {
	for ci := lo; ci < hi; ci++ {
		w.stack[ci].at = -1
	}
}

// met records that the walk found the value of the key or index component
// of cursor stack[ci] at b[at].
func (w *jsonWalk) met(ci, at int) {
	w.stack[ci].at = at
}

// settle checks, once the walk has validated the whole container at
// b[start], that gjson locates the value of each key or index component of
// stack[lo:hi] where the walk met it, and nothing where the walk met none.
// (A value that is an object or array, which gjson would have to read
// whole, is not checked: the scalars below it are.)
//
// plainKeys is set when the container is an object none of whose keys is
// written with escapes. gjson.Get of a plain component (jsonSeg.plain) on
// such an object compares the component with each key's raw bytes and
// takes the first equal one: the walk compared the same bytes, met at most
// one such key (a second is ErrDuplicateKey) and recorded where its value
// starts, which is the Result.Index gjson gives. The answer is known, so
// gjson is not asked (TestSettleShortcutAgreesWithGJSON compares both on
// every body of the differential tests).
func (w *jsonWalk) settle(start, lo, hi int, plainKeys bool) error {
	for k := lo; k < hi; k++ {
		c := &w.stack[k]
		seg := c.seg
		if seg == nil || seg.kind != segKey {
			continue
		}
		if c.at >= 0 && (w.b[c.at] == '{' || w.b[c.at] == '[') {
			continue
		}
		if plainKeys && seg.plain && !w.confirmAll {
			continue
		}
		r := gjson.Get(w.s[start:], seg.text)
		if r.Exists() != (c.at >= 0) || c.at >= 0 && start+r.Index != c.at {
			return errDisagree
		}
	}
	return nil
}

// nextMember reads the member at b[i] of a valid object (i is at the key's
// quote): it returns its key (escapes read) and where its value starts.
func (w *jsonWalk) nextMember(i int) (key string, value int, err error) {
	kend := skipString(w.b, i)
	key = w.s[i+1 : kend-1]
	if strings.IndexByte(key, '\\') >= 0 {
		if key, err = decodeJSONString(w.b[i+1:kend-1], true); err != nil {
			return "", 0, err
		}
	}
	return key, skipWS(w.b, skipWS(w.b, kend)+1), nil // after ':'
}

// next moves past the separator after a member of a valid object or array
// that ends at b[i]: it returns the index of the next member, or -1 after
// the last.
func (w *jsonWalk) next(i int) int {
	i = skipWS(w.b, i)
	if w.b[i] == ',' {
		return skipWS(w.b, i+1)
	}
	return -1
}

// separator validates what follows a member of an object or array that
// ends at b[i]: ',' (it returns the index of the next member) or the
// closing byte (it returns -1 and the index after it).
func (w *jsonWalk) separator(i int, closing byte, kind string) (int, int, error) {
	i = skipWS(w.b, i)
	if i >= len(w.b) {
		return 0, i, malformedAt("unexpected end in an "+kind, i)
	}
	switch w.b[i] {
	case ',':
		return skipWS(w.b, i+1), 0, nil
	case closing:
		return -1, i + 1, nil
	}
	return 0, i, malformedAt("expected ',' or '"+string(closing)+"'", i)
}

func (w *jsonWalk) object(start, lo, hi, depth int) (int, error) {
	w.reset(lo, hi)
	seenMark := len(w.seen)
	defer func() { w.seen = w.seen[:seenMark] }()
	i := skipWS(w.b, start+1)
	if i < len(w.b) && w.b[i] == '}' {
		return i + 1, w.settle(start, lo, hi, true)
	}
	// firsts marks the bytes a key that the cursors have to look at
	// can start with, one bit a byte: the first byte of each key
	// component in either letter case, and every byte that is not
	// ASCII. A key that starts with another byte differs from every
	// component in its first byte, letter case aside: it is neither one
	// of them nor a variant (the first test of the loop over the
	// cursors below), and that loop is not run. A component that is
	// empty or starts with a byte that is not ASCII marks every byte.
	firsts := [4]uint64{2: ^uint64(0), 3: ^uint64(0)}
	for k := lo; k < hi; k++ {
		c := &w.stack[k]
		seg := c.seg
		switch {
		case seg == nil:
		case seg.kind == segAll || seg.kind == segQuery:
			// An element component ('#', a query) that meets an
			// object with members: gjson finds no element there, but
			// an application that iterates the value (PHP's foreach,
			// JavaScript's Object.values) reads each member as one,
			// and JSONPath's [*] (VGS's) selects the members. Refused
			// rather than passed on unlocated.
			return start, fmt.Errorf("%w: target %d: an array was expected at '#' and the body has an object with members there", ErrTargetType, w.paths[c.path].target)
		case seg.key == "" || seg.key[0] >= utf8.RuneSelf:
			firsts = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		default:
			k := seg.key[0] // k and k^0x20 are in the same word
			firsts[k>>6] |= 1<<(k&63) | 1<<(k&63^0x20)
		}
	}
	plainKeys := true
	for {
		if i >= len(w.b) || w.b[i] != '"' {
			return i, malformedAt("expected a key", i)
		}
		// A key spelled plainly ends at the first byte plainEnd stops at
		// (scanString's own first step), read without the call.
		kend, esc, err := plainEnd(w.b, i+1), false, error(nil)
		if uint(kend) < uint(len(w.b)) && w.b[kend] == '"' {
			kend++
		} else if kend, esc, err = scanString(w.b, i); err != nil {
			return kend, err
		}
		key := w.s[i+1 : kend-1]
		if esc {
			plainKeys = false
			if key, err = decodeJSONString(w.b[i+1:kend-1], true); err != nil {
				return i, err
			}
		}
		// The compact spelling (':' right after the key, the value right
		// after it) without skipWS, as in skipContainer.
		if i = kend; uint(i) >= uint(len(w.b)) || w.b[i] != ':' {
			if i = skipWS(w.b, i); i >= len(w.b) || w.b[i] != ':' {
				return i, malformedAt("expected ':'", i)
			}
		}
		vs := i + 1
		if uint(vs) < uint(len(w.b)) && w.b[vs] <= ' ' {
			vs = skipWS(w.b, vs)
		}
		childLo := len(w.stack)
		matched := false
		look := hi // the cursors stack[lo:look] look at key
		if len(key) > 0 && firsts[key[0]>>6]&(1<<(key[0]&63)) == 0 {
			look = lo
		}
		for ci := lo; ci < look; ci++ {
			c := &w.stack[ci]
			seg := c.seg
			if seg == nil || seg.kind != segKey {
				continue
			}
			if seg.key == key {
				if !matched {
					for _, s := range w.seen[seenMark:] {
						if s == key {
							return 0, fmt.Errorf("%w: an object repeats a targeted key", ErrDuplicateKey)
						}
					}
					w.seen = append(w.seen, key)
					w.seenHigh = max(w.seenHigh, len(w.seen))
					matched = true
				}
				w.met(ci, vs)
				w.push(*c) // c is not read after: push may move the stack
				continue
			}
			// Most keys differ from the component in their first or
			// last byte, letter case aside: no variant. (An ASCII byte
			// is a rune of its own wherever it stands, so the last
			// ones are the last runes that keyFoldEqual pairs.)
			if len(key) > 0 && len(seg.key) > 0 {
				if a, b := key[0], seg.key[0]; a|b < utf8.RuneSelf && a|0x20 != b|0x20 {
					continue
				}
				if a, b := key[len(key)-1], seg.key[len(seg.key)-1]; a|b < utf8.RuneSelf && a|0x20 != b|0x20 {
					continue
				}
			}
			if err := w.checkVariant(lo, hi, *c, key); err != nil {
				return 0, err
			}
		}
		var ve int
		switch {
		case len(w.stack) > childLo:
			ve, err = w.visit(vs, childLo, len(w.stack), depth+1)
		// No cursor below the member: what visit would do, skip the
		// value, without the call.
		case vs >= len(w.b):
			return vs, malformedAt("unexpected end", vs)
		case w.b[vs] == '"':
			if ve = plainEnd(w.b, vs+1); uint(ve) < uint(len(w.b)) && w.b[ve] == '"' {
				ve++
			} else {
				ve, err = skipStringErr(w.b, vs)
			}
		default:
			ve, err = skipValue(w.b, vs, depth+1)
		}
		if err != nil {
			return ve, err
		}
		w.stack = w.stack[:childLo]
		if uint(ve) < uint(len(w.b)) && w.b[ve] == ',' {
			// separator's answer, without the call
			if i = ve + 1; uint(i) < uint(len(w.b)) && w.b[i] <= ' ' {
				i = skipWS(w.b, i)
			}
			continue
		}
		next, end, err := w.separator(ve, '}', "object")
		if err != nil {
			return end, err
		}
		if next < 0 {
			return end, w.settle(start, lo, hi, plainKeys)
		}
		i = next
	}
}

// checkVariant refuses an object key that is another spelling of the
// component of cursor c (see jsonKeyVariant): an application matching keys
// case-insensitively would read its value as the target's, which is not
// located under it. It is accepted when the route also targets that exact
// spelling with the same rest of the path (a cursor among stack[lo:hi]
// whose component is the key and whose remaining components are c's): it
// is then located.
func (w *jsonWalk) checkVariant(lo, hi int, c cursor, key string) error {
	segs := w.paths[c.path].segs
	if !jsonKeyVariant(key, segs[c.pos].key) {
		return nil
	}
	for _, o := range w.stack[lo:hi] {
		if os := w.seg(o); os != nil && os.kind == segKey && os.key == key && sameSegs(w.paths[o.path].segs[o.pos+1:], segs[c.pos+1:]) {
			return nil
		}
	}
	return fmt.Errorf("%w: target %d: an object key differs from the targeted key %q only in letter case", ErrDuplicateKey, w.paths[c.path].target, segs[c.pos].key)
}

func (w *jsonWalk) array(start, lo, hi, depth int) (int, error) {
	w.reset(lo, hi)
	selMark := len(w.sels)
	defer func() { w.sels = w.sels[:selMark] }()
	for ci := lo; ci < hi; ci++ {
		if seg := w.seg(w.stack[ci]); seg != nil && seg.kind == segQuery {
			if len(w.sels) == selMark { // gjson reads only valid JSON
				if end, err := skipContainer(w.b, start, depth); err != nil {
					return end, err
				}
			}
			offs := gjson.Get(w.s[start:], seg.query.gjson).Indexes
			if !seg.query.all && len(offs) > 1 {
				offs = offs[:1]
			}
			w.sels = append(w.sels, querySel{ci: ci, offs: offs})
			w.selsHigh = max(w.selsHigh, len(w.sels))
		}
	}
	i := skipWS(w.b, start+1)
	if i < len(w.b) && w.b[i] == ']' {
		return i + 1, w.settle(start, lo, hi, false)
	}
	for n := 0; ; n++ {
		childLo := len(w.stack)
		queries := false
		for ci := lo; ci < hi; ci++ {
			c := w.stack[ci]
			seg := w.seg(c)
			if seg == nil {
				continue
			}
			switch seg.kind {
			case segAll:
				w.push(c)
			case segKey:
				if seg.index == n {
					w.met(ci, i)
					w.push(c)
				}
			case segQuery:
				queries = true
				for k := selMark; k < len(w.sels); k++ {
					if s := &w.sels[k]; s.ci == ci && s.next < len(s.offs) && start+s.offs[s.next] == i {
						s.next++
						w.push(c)
					}
				}
			}
		}
		ve, err := w.visit(i, childLo, len(w.stack), depth+1)
		if err != nil {
			return ve, err
		}
		w.stack = w.stack[:childLo]
		if queries { // the element is valid now
			for ci := lo; ci < hi; ci++ {
				if seg := w.seg(w.stack[ci]); seg != nil && seg.kind == segQuery {
					if err := w.checkCondition(i, seg.query); err != nil {
						return 0, err
					}
				}
			}
		}
		if uint(ve) < uint(len(w.b)) && w.b[ve] == ',' {
			i = skipWS(w.b, ve+1) // separator's answer, without the call
			continue
		}
		next, end, err := w.separator(ve, ']', "array")
		if err != nil {
			return end, err
		}
		if next < 0 {
			for _, s := range w.sels[selMark:] {
				if s.next != len(s.offs) {
					return 0, errDisagree
				}
			}
			return end, w.settle(start, lo, hi, false)
		}
		i = next
	}
}

// checkCondition applies the key rules to the keys the condition of q
// reads in the array element at b[start], and checks that the value it
// compares, if there is one, has the literal's JSON type.
func (w *jsonWalk) checkCondition(start int, q *jsonQuery) error {
	for _, key := range q.cond {
		switch w.b[start] {
		case '{':
			found := -1
			i := skipWS(w.b, start+1)
			if w.b[i] == '}' {
				i = -1
			}
			for i >= 0 {
				k, vs, err := w.nextMember(i)
				if err != nil {
					return err
				}
				switch {
				case k == key && found >= 0:
					return fmt.Errorf("%w: an object repeats the key %q a query reads", ErrDuplicateKey, key)
				case k == key:
					found = vs
				case jsonKeyVariant(k, key):
					return fmt.Errorf("%w: an object key differs from the key %q a query reads only in letter case", ErrDuplicateKey, key)
				}
				i = w.next(skipValid(w.b, vs))
			}
			if found < 0 {
				return nil
			}
			start = found
		case '[':
			r := gjson.Get(w.s[start:], key)
			if !allASCIIDigits(key) || !r.Exists() {
				return nil
			}
			start += r.Index
		default:
			return nil // the key path does not exist
		}
	}
	if q.lit == litNone || valueLit(w.b[start]) == q.lit {
		return nil
	}
	return fmt.Errorf("%w: a query compares %s with %s", ErrTargetType, typeName(w.b[start]), litName[q.lit])
}

// fillValues sets the Value of every span from vals: all of them are slices
// of one string, one allocation per body rather than one per value.
func fillValues(b []byte, vals []rawValue, spans []Span) error {
	n := 0
	for _, v := range vals {
		n += v.to - v.from // a decoded string is never longer than its raw text
	}
	if n == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(n)
	for k := range vals {
		v := &vals[k]
		raw := b[v.from:v.to]
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
	for k, v := range vals {
		spans[k].Value = all[from:v.to]
		from = v.to
	}
	return nil
}

// malformedAt is the error of a body that does not parse at byte i.
func malformedAt(what string, i int) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, i)
}

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

// skipContainer validates the object or array at b[i]. Keys and the
// common scalars (strings, plain integers) are read in its own loop, and a
// string's usual spelling (no escape, no control character) without a
// call to skipString: most of a body is skipped here, every request. So is
// the compact spelling around them: the byte after a key, a value or a ','
// is compared with what is expected there (':', ',', the closing bracket,
// a value's first byte) before skipWS is called, which happens only when
// it is a control character or a space (every JSON white space is one).
// Nested containers are read in the same loop, not by a call (a call
// per container made the loop keep its state on the stack around it): st
// holds the closing bracket of each open container around the innermost
// one, one bit a level. Its answers (index and error) are those of the
// recursive reading it replaced, each nested container read by
// skipContainer(b, at, depth+1): a container opened depth+n levels down
// is refused with errTooDeep at its index when depth+n >= MaxDepth
// (TestSkipContainerSameAsBefore). uint(i) < uint(len(b)) is i < len(b)
// with the bounds check of b[i] folded in (i is never negative).
func skipContainer(b []byte, i, depth int) (int, error) {
	if depth >= MaxDepth {
		return i, errTooDeep
	}
	var (
		// st holds what the loop reads only when a container opens or
		// closes, in memory rather than in registers: st[0] and st[1]
		// the open containers around the innermost one (bit k of st[0],
		// k < 64, and of st[1], k-64, set when the container k+1 levels
		// out is an object), st[2] the innermost one's depth.
		st      = [3]uint64{2: uint64(depth)}
		closing = byte(']') // the innermost open container's
		c       byte
		j       int
	)
	if b[i] == '{' {
		closing = '}'
	}
opened: // b[i] opens the innermost container
	i++
	if uint(i) < uint(len(b)) && b[i] <= ' ' {
		i = skipWS(b, i)
	}
	if uint(i) < uint(len(b)) && b[i] == closing {
		i++
		goto closed
	}
	if closing == ']' {
		goto value
	}
member: // i is at the key of an object's member, or white space before it
	if uint(i) >= uint(len(b)) || b[i] != '"' {
		if uint(i) < uint(len(b)) && b[i] <= ' ' {
			i = skipWS(b, i)
		}
		if uint(i) >= uint(len(b)) || b[i] != '"' {
			return i, malformedAt("expected a key", i)
		}
	}
	j = plainEnd(b, i+1)
	if uint(j) < uint(len(b)) && b[j] == '"' {
		j++
	} else if j = skipString(b, i); j < 0 {
		return skipStringErr(b, i)
	}
	if uint(j) >= uint(len(b)) || b[j] != ':' {
		if j = skipWS(b, j); j >= len(b) || b[j] != ':' {
			return j, malformedAt("expected ':'", j)
		}
	}
	i = j + 1
value: // i is at a value, or white space before it
	if uint(i) >= uint(len(b)) {
		return i, malformedAt("unexpected end", i)
	}
	// Scalars, the most common values, without a call to skipValue; white
	// space last.
	switch c = b[i]; {
	case c == '"':
		j = plainEnd(b, i+1)
		if uint(j) < uint(len(b)) && b[j] == '"' {
			j++
		} else if j = skipString(b, i); j < 0 {
			return skipStringErr(b, i)
		}
		i = j
	case c >= '1' && c <= '9':
		// A plain integer without a call; a fraction or an exponent
		// after it is skipNumber's.
		j = i + 1
		for uint(j) < uint(len(b)) && b[j]-'0' < 10 {
			j++
		}
		if uint(j) < uint(len(b)) && (b[j] == '.' || b[j]|0x20 == 'e') {
			if j = skipNumber(b, i); j < 0 {
				return scanNumber(b, i)
			}
		}
		i = j
	case c == '-' || c == '0':
		if j = skipNumber(b, i); j < 0 {
			return scanNumber(b, i)
		}
		i = j
	case c == '{' || c == '[':
		if st[2]+1 >= MaxDepth {
			return i, errTooDeep
		}
		st[1] = st[1]<<1 | st[0]>>63
		st[0] <<= 1
		if closing == '}' {
			st[0] |= 1
		}
		st[2]++
		closing = c + 2 // '}' for '{', ']' for '['
		goto opened
	case c <= ' ' && isSpace[c]:
		if i = skipWS(b, i); i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		goto value // b[i] is not white space
	default:
		var err error
		if i, err = skipValue(b, i, int(st[2])+1); err != nil {
			return i, err
		}
	}
next: // i is after a value, at its separator or white space before it
	if uint(i) >= uint(len(b)) {
		return i, malformedAt("unexpected end", i)
	}
	c = b[i]
separator: // c is b[i], after a value
	if c == ',' {
		i++ // white space after it: the key's or the value's check
		if closing == '}' {
			goto member
		}
		goto value
	}
	if c != closing {
		if c <= ' ' && isSpace[c] {
			if i = skipWS(b, i); i >= len(b) {
				return i, malformedAt("unexpected end", i)
			}
			c = b[i]
			goto separator // c is not white space
		}
		return i, malformedAt("expected ',' or a closing bracket", i)
	}
	i++
closed: // b[i-1] closed the innermost container
	if st[2] == uint64(depth) {
		return i, nil
	}
	st[2]--
	closing = ']'
	if st[0]&1 != 0 {
		closing = '}'
	}
	st[0] = st[0]>>1 | st[1]<<63
	st[1] >>= 1
	goto next
}

// plainEnd returns the index of the first '"', '\\' or control character
// of b at or after i, eight bytes at a time, or where fewer than eight
// bytes are left: the closing quote of a string spelled plainly (when
// b[plainEnd] is '"'), else where skipString has to look. Small enough to
// be inlined in skipContainer's loop; i >= 0, tested once before the
// loop, and the loop's condition give the compiler what it needs to drop
// the bounds checks of the word's load.
func plainEnd(b []byte, i int) int {
	if i < 0 {
		return i
	}
	for ; i <= len(b)-8; i += 8 {
		if m := specialBytes(binary.LittleEndian.Uint64(b[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
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
		// control character (plainEnd).
		if i = plainEnd(b, i); i >= len(b) {
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
	backslashes = ones * '\\'
)

// specialBytes flags the bytes of w that end the fast path of a string:
// '"', '\\' and control characters. The lowest flagged byte is exact.
// Two tests, not three: flipping bit 1 maps '"' (0x22) to 0x20 and the
// control characters onto themselves, and every other byte to 0x21 or
// above, so "below 0x21 after the flip" is '"' or a control character;
// then "equal to '\\'". Both use the has-less-than trick ((x-n)&^x, n at
// most 0x80): a byte's high bit is set when it is below n, or possibly
// when a byte below it is (a borrow), never otherwise, so the lowest set
// high bit is exact. x, e and w have the same high bits (the flips leave
// bit 7 alone), so both tests take them from w, once: (x-n)&^x|(e-1)&^e
// and ((x-n)|(e-1))&^w have the same high bits
// (TestSpecialBytesSameAsBefore). The constants are swar's.
func specialBytes(w uint64) uint64 {
	x, e := w^swar.flip, w^swar.backslashes
	return ((x - swar.lessThan) | (e - swar.ones)) &^ w & swar.highs
}

// swar holds the constants of specialBytes as variables (never written):
// the compiler reads each of them from memory as an operand of the
// instruction that uses it, one instruction, where a 64-bit constant
// takes two (a move to a register first), and keeps none of them in a
// register between two strings, which made the loops around them move
// their own values from register to register.
var swar = struct{ flip, backslashes, lessThan, ones, highs uint64 }{
	ones * 0x02, backslashes, ones * 0x21, ones, highs,
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
		// Eight bytes at a time while they are printable ASCII other
		// than '"' and '\\', written as they are (the lowest flagged byte
		// is exact, see specialBytes): aliases and card data are.
		for i+8 <= len(v) {
			w := stringWord(v, i)
			if m := specialBytes(w) | w&highs; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(v) {
			break
		}
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

// stringWord is the little-endian word of v[i:i+8].
func stringWord(v string, i int) uint64 {
	v = v[i : i+8]
	return uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 |
		uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56
}

// skipString is scanString for strings whose content does not matter: it
// returns the index after the closing quote of the valid string that opens
// at b[i], or -1 when the string is not valid (scanString then says why).
// It calls nothing, so it costs little to call.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		if i = plainEnd(b, i); i >= len(b) {
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
