package rewrite

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The JSON walk as it was before skipContainer read nested containers in
// its own loop (no call per container), plainEnd tested i >= 0 once,
// specialBytes took the high bits from w once and read its constants from
// memory, a cursor carried its component, and object looked at a key with
// the cursors only when its first byte (and, for a variant, its last)
// allows a match, skipped the value of a member no cursor is below
// without visit, and read the compact spelling around a key without
// skipWS: the oracle of TestJSONWalkSameAsBefore,
// TestSkipContainerSameAsBefore, TestSpecialBytesSameAsBefore and
// FuzzJSONWalkAgainstBefore. Copied from the commit before those changes;
// only the names differ (jsonWalk is beforeWalk, each function has the
// prefix before). Helpers the changes left alone (decodeJSONString,
// jsonKeyVariant, malformedAt, the path parser, ...) are shared; the
// cursor type is shared too, and beforeWalk leaves its seg field unset.

// beforeLocate is jsonLocator.Locate with the walk copied below.
func beforeLocate(l *jsonLocator, msg *Message) ([]Span, error) {
	w := &beforeWalk{}
	spans, err := w.locate(l, make([]Span, 0, 2*len(l.paths)), msg)
	if err != nil {
		return nil, err
	}
	return spans, nil
}

// beforeWalk is the state of one body's walk. The cursors active at a value
// are stack[lo:hi]; a container's children push theirs above hi.
type beforeWalk struct {
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

// locate walks msg.Body for l's paths, appending the spans to dst; on error
// it returns dst.
func (w *beforeWalk) locate(l *jsonLocator, dst []Span, msg *Message) ([]Span, error) {
	// s shares the body's bytes: the body is not written while the walk
	// reads it, and nothing taken from s outlives the walk (values are
	// copied by beforeFillValues; release drops the rest).
	w.b, w.s, w.paths, w.confirmAll = msg.Body, unsafe.String(unsafe.SliceData(msg.Body), len(msg.Body)), l.paths, l.confirmAll
	w.stack, w.seen, w.sels, w.vals = w.stack[:0], w.seen[:0], w.sels[:0], w.vals[:0]
	w.spans = dst
	for i := range l.paths {
		w.stack = append(w.stack, cursor{path: i, at: -1})
	}
	end, err := w.visit(beforeSkipWS(w.b, 0), 0, len(w.stack), 0)
	if end = beforeSkipWS(w.b, end); err == nil && end != len(w.b) {
		err = malformedAt("data after the JSON value", end)
	}
	spans := w.spans
	if err == nil {
		err = beforeFillValues(w.b, w.vals, spans[len(dst):])
	}
	if err != nil {
		return dst, err
	}
	return spans, nil
}

// seg returns the component cursor c is at, nil when its path is matched.
func (w *beforeWalk) seg(c cursor) *jsonSeg {
	if segs := w.paths[c.path].segs; c.pos < len(segs) {
		return &segs[c.pos]
	}
	return nil
}

// push adds the child cursor of c.
func (w *beforeWalk) push(c cursor) {
	w.stack = append(w.stack, cursor{path: c.path, pos: c.pos + 1, at: -1})
}

// visit validates and takes the value at b[start] (no white space before
// it), at which the cursors stack[lo:hi] are active, depth levels down; it
// returns the index after it.
func (w *beforeWalk) visit(start, lo, hi, depth int) (int, error) {
	if start >= len(w.b) {
		return start, malformedAt("unexpected end", start)
	}
	target, live := -1, false
	for _, c := range w.stack[lo:hi] {
		if w.seg(c) != nil {
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
			return beforeSkipContainer(w.b, start, depth)
		case depth >= MaxDepth:
			return start, errTooDeep
		case c == '{':
			return w.object(start, lo, hi, depth)
		}
		return w.array(start, lo, hi, depth)
	case c == '"':
		if target < 0 {
			return beforeSkipStringErr(w.b, start)
		}
		end, esc, err := beforeScanString(w.b, start)
		if err != nil {
			return end, err
		}
		w.spans = append(w.spans, Span{Start: start, End: end, Encoding: JSONString, Target: target})
		w.vals = append(w.vals, rawValue{from: start + 1, to: end - 1, escaped: esc})
		return end, nil
	case c == '-' || c >= '0' && c <= '9':
		end, err := beforeScanNumber(w.b, start)
		if err == nil && target >= 0 {
			w.spans = append(w.spans, Span{Start: start, End: end, Encoding: JSONNumber, Target: target})
			w.vals = append(w.vals, rawValue{from: start, to: end})
		}
		return end, err
	default:
		end, err := beforeSkipValue(w.b, start, depth)
		if err == nil && target >= 0 {
			return start, fmt.Errorf("%w: a targeted value is %s", ErrTargetType, typeName(c))
		}
		return end, err
	}
}

// beforeSkipValid returns the index after the value at b[i] of a body already
// validated: it only looks for the end.
func beforeSkipValid(b []byte, i int) int {
	switch c := b[i]; {
	case c == '"':
		return beforeSkipString(b, i)
	case c == '{' || c == '[':
		depth := 0
		for ; i < len(b); i++ {
			if !structural[b[i]] {
				continue
			}
			switch b[i] {
			case '"':
				i = beforeSkipString(b, i) - 1
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
	return beforeSkipNumber(b, i)
}

// reset marks the cursors stack[lo:hi] as not yet met in the container
// they are entering.
func (w *beforeWalk) reset(lo, hi int) {
	for ci := lo; ci < hi; ci++ {
		w.stack[ci].at = -1
	}
}

// met records that the walk found the value of the key or index component
// of cursor stack[ci] at b[at].
func (w *beforeWalk) met(ci, at int) {
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
func (w *beforeWalk) settle(start, lo, hi int, plainKeys bool) error {
	for _, c := range w.stack[lo:hi] {
		seg := w.seg(c)
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
func (w *beforeWalk) nextMember(i int) (key string, value int, err error) {
	kend := beforeSkipString(w.b, i)
	key = w.s[i+1 : kend-1]
	if strings.IndexByte(key, '\\') >= 0 {
		if key, err = decodeJSONString(w.b[i+1:kend-1], true); err != nil {
			return "", 0, err
		}
	}
	return key, beforeSkipWS(w.b, beforeSkipWS(w.b, kend)+1), nil // after ':'
}

// next moves past the separator after a member of a valid object or array
// that ends at b[i]: it returns the index of the next member, or -1 after
// the last.
func (w *beforeWalk) next(i int) int {
	i = beforeSkipWS(w.b, i)
	if w.b[i] == ',' {
		return beforeSkipWS(w.b, i+1)
	}
	return -1
}

// separator validates what follows a member of an object or array that
// ends at b[i]: ',' (it returns the index of the next member) or the
// closing byte (it returns -1 and the index after it).
func (w *beforeWalk) separator(i int, closing byte, kind string) (int, int, error) {
	i = beforeSkipWS(w.b, i)
	if i >= len(w.b) {
		return 0, i, malformedAt("unexpected end in an "+kind, i)
	}
	switch w.b[i] {
	case ',':
		return beforeSkipWS(w.b, i+1), 0, nil
	case closing:
		return -1, i + 1, nil
	}
	return 0, i, malformedAt("expected ',' or '"+string(closing)+"'", i)
}

func (w *beforeWalk) object(start, lo, hi, depth int) (int, error) {
	w.reset(lo, hi)
	seenMark := len(w.seen)
	defer func() { w.seen = w.seen[:seenMark] }()
	i := beforeSkipWS(w.b, start+1)
	if i < len(w.b) && w.b[i] == '}' {
		return i + 1, w.settle(start, lo, hi, true)
	}
	// An element component ('#', a query) that meets an object with
	// members: gjson finds no element there, but an application that
	// iterates the value (PHP's foreach, JavaScript's Object.values) reads
	// each member as one, and JSONPath's [*] (VGS's) selects the members.
	// Refused rather than passed on unlocated.
	for _, c := range w.stack[lo:hi] {
		if seg := w.seg(c); seg != nil && (seg.kind == segAll || seg.kind == segQuery) {
			return start, fmt.Errorf("%w: target %d: an array was expected at '#' and the body has an object with members there", ErrTargetType, w.paths[c.path].target)
		}
	}
	plainKeys := true
	for {
		if i >= len(w.b) || w.b[i] != '"' {
			return i, malformedAt("expected a key", i)
		}
		// A key spelled plainly ends at the first byte beforePlainEnd stops at
		// (beforeScanString's own first step), read without the call.
		kend, esc, err := beforePlainEnd(w.b, i+1), false, error(nil)
		if uint(kend) < uint(len(w.b)) && w.b[kend] == '"' {
			kend++
		} else if kend, esc, err = beforeScanString(w.b, i); err != nil {
			return kend, err
		}
		key := w.s[i+1 : kend-1]
		if esc {
			plainKeys = false
			if key, err = decodeJSONString(w.b[i+1:kend-1], true); err != nil {
				return i, err
			}
		}
		if i = beforeSkipWS(w.b, kend); i >= len(w.b) || w.b[i] != ':' {
			return i, malformedAt("expected ':'", i)
		}
		vs := beforeSkipWS(w.b, i+1)
		childLo := len(w.stack)
		matched := false
		for ci := lo; ci < hi; ci++ {
			c := w.stack[ci]
			seg := w.seg(c)
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
				w.push(c)
				continue
			}
			// Most keys differ from the component in their first byte,
			// letter case aside: no variant.
			if len(key) > 0 && len(seg.key) > 0 {
				if a, b := key[0], seg.key[0]; a|b < utf8.RuneSelf && a|0x20 != b|0x20 {
					continue
				}
			}
			if err := w.checkVariant(lo, hi, c, key); err != nil {
				return 0, err
			}
		}
		ve, err := w.visit(vs, childLo, len(w.stack), depth+1)
		if err != nil {
			return ve, err
		}
		w.stack = w.stack[:childLo]
		if uint(ve) < uint(len(w.b)) && w.b[ve] == ',' {
			i = beforeSkipWS(w.b, ve+1) // separator's answer, without the call
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
func (w *beforeWalk) checkVariant(lo, hi int, c cursor, key string) error {
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

func (w *beforeWalk) array(start, lo, hi, depth int) (int, error) {
	w.reset(lo, hi)
	selMark := len(w.sels)
	defer func() { w.sels = w.sels[:selMark] }()
	for ci := lo; ci < hi; ci++ {
		if seg := w.seg(w.stack[ci]); seg != nil && seg.kind == segQuery {
			if len(w.sels) == selMark { // gjson reads only valid JSON
				if end, err := beforeSkipContainer(w.b, start, depth); err != nil {
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
	i := beforeSkipWS(w.b, start+1)
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
			i = beforeSkipWS(w.b, ve+1) // separator's answer, without the call
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
func (w *beforeWalk) checkCondition(start int, q *jsonQuery) error {
	for _, key := range q.cond {
		switch w.b[start] {
		case '{':
			found := -1
			i := beforeSkipWS(w.b, start+1)
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
				i = w.next(beforeSkipValid(w.b, vs))
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

// beforeFillValues sets the Value of every span from vals: all of them are slices
// of one string, one allocation per body rather than one per value.
func beforeFillValues(b []byte, vals []rawValue, spans []Span) error {
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

// beforeSkipWS returns the index of the first byte at or after i that is not
// JSON white space.
func beforeSkipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace[b[i]] {
		i++
	}
	return i
}

// beforeSkipValue validates the value at b[i] (i < len(b), no white space
// before it), which no target is inside, and returns the index after it.
// On error the index is where the body stopped parsing.
func beforeSkipValue(b []byte, i, depth int) (int, error) {
	switch c := b[i]; {
	case c == '"':
		return beforeSkipStringErr(b, i)
	case c == '{' || c == '[':
		return beforeSkipContainer(b, i, depth)
	case c == '-' || c >= '0' && c <= '9':
		return beforeScanNumber(b, i)
	case c == 't':
		return beforeScanLiteral(b, i, "true")
	case c == 'f':
		return beforeScanLiteral(b, i, "false")
	case c == 'n':
		return beforeScanLiteral(b, i, "null")
	}
	return i, malformedAt("unexpected character", i)
}

// beforeSkipContainer validates the object or array at b[i]. Keys and the
// common scalars (strings, plain integers) are read in its own loop, and a
// string's usual spelling (no escape, no control character) without a
// call to beforeSkipString: most of a body is skipped here, every request. So is
// the compact spelling around them: the byte after a key, a value or a ','
// is compared with what is expected there (':', ',', the closing bracket,
// a value's first byte) before beforeSkipWS is called, which happens only when
// it is a control character or a space (every JSON white space is one).
// uint(i) < uint(len(b)) is i < len(b) with the bounds check of b[i]
// folded in (i is never negative).
func beforeSkipContainer(b []byte, i, depth int) (int, error) {
	if depth >= MaxDepth {
		return i, errTooDeep
	}
	obj := b[i] == '{'
	closing := byte(']')
	if obj {
		closing = '}'
	}
	i = beforeSkipWS(b, i+1)
	if i < len(b) && b[i] == closing {
		return i + 1, nil
	}
	var err error
	for {
		if obj {
			if uint(i) < uint(len(b)) && b[i] <= ' ' {
				i = beforeSkipWS(b, i)
			}
			if uint(i) >= uint(len(b)) || b[i] != '"' {
				return i, malformedAt("expected a key", i)
			}
			j := beforePlainEnd(b, i+1)
			if uint(j) < uint(len(b)) && b[j] == '"' {
				j++
			} else if j = beforeSkipString(b, i); j < 0 {
				return beforeSkipStringErr(b, i)
			}
			if uint(j) >= uint(len(b)) || b[j] != ':' {
				if j = beforeSkipWS(b, j); j >= len(b) || b[j] != ':' {
					return j, malformedAt("expected ':'", j)
				}
			}
			i = j + 1
		}
		if uint(i) >= uint(len(b)) {
			return i, malformedAt("unexpected end", i)
		}
		c := b[i]
		if c <= ' ' {
			if i = beforeSkipWS(b, i); i >= len(b) {
				return i, malformedAt("unexpected end", i)
			}
			c = b[i]
		}
		// Scalars, the most common values, without a call to beforeSkipValue.
		switch {
		case c == '"':
			j := beforePlainEnd(b, i+1)
			if uint(j) < uint(len(b)) && b[j] == '"' {
				j++
			} else if j = beforeSkipString(b, i); j < 0 {
				return beforeSkipStringErr(b, i)
			}
			i = j
		case c >= '1' && c <= '9':
			// A plain integer without a call; a fraction or an exponent
			// after it is beforeSkipNumber's.
			j := i + 1
			for uint(j) < uint(len(b)) && b[j]-'0' < 10 {
				j++
			}
			if uint(j) < uint(len(b)) && (b[j] == '.' || b[j]|0x20 == 'e') {
				if j = beforeSkipNumber(b, i); j < 0 {
					return beforeScanNumber(b, i)
				}
			}
			i = j
		case c == '-' || c == '0':
			end := beforeSkipNumber(b, i)
			if end < 0 {
				return beforeScanNumber(b, i)
			}
			i = end
		case c == '{' || c == '[':
			if i, err = beforeSkipContainer(b, i, depth+1); err != nil {
				return i, err
			}
		default:
			if i, err = beforeSkipValue(b, i, depth+1); err != nil {
				return i, err
			}
		}
		if uint(i) >= uint(len(b)) {
			return i, malformedAt("unexpected end", i)
		}
		c = b[i]
		if c <= ' ' {
			if i = beforeSkipWS(b, i); i >= len(b) {
				return i, malformedAt("unexpected end", i)
			}
			c = b[i]
		}
		switch c {
		case ',':
			i++ // white space after it: the key's or the value's check
		case closing:
			return i + 1, nil
		default:
			return i, malformedAt("expected ',' or a closing bracket", i)
		}
	}
}

// beforePlainEnd returns the index of the first '"', '\\' or control character
// of b at or after i, eight bytes at a time, or where fewer than eight
// bytes are left: the closing quote of a string spelled plainly (when
// b[beforePlainEnd] is '"'), else where beforeSkipString has to look. Small enough to
// be inlined in beforeSkipContainer's loop; the loop's condition gives the
// compiler what it needs to drop the bounds checks of the word's load.
func beforePlainEnd(b []byte, i int) int {
	for ; i >= 0 && i <= len(b)-8; i += 8 {
		if m := beforeSpecialBytes(binary.LittleEndian.Uint64(b[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}

func beforeScanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, malformedAt("unexpected character", i)
}

// beforeScanString validates the string whose opening quote is at b[i] and
// returns the index after its closing quote and whether it has escapes.
func beforeScanString(b []byte, i int) (int, bool, error) {
	i++
	escaped := false
	for i < len(b) {
		// Eight bytes at a time while none of them is '"', '\\' or a
		// control character (beforePlainEnd).
		if i = beforePlainEnd(b, i); i >= len(b) {
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
				if i+6 > len(b) || !beforeIsHex4(b[i+2:i+6]) {
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

// beforeSpecialBytes flags the bytes of w that end the fast path of a string:
// '"', '\\' and control characters. The lowest flagged byte is exact.
// Two tests, not three: flipping bit 1 maps '"' (0x22) to 0x20 and the
// control characters onto themselves, and every other byte to 0x21 or
// above, so "below 0x21 after the flip" is '"' or a control character;
// then "equal to '\\'". Both use the has-less-than trick ((x-n)&^x, n at
// most 0x80): a byte's high bit is set when it is below n, or possibly
// when a byte below it is (a borrow), never otherwise, so the lowest set
// high bit is exact.
func beforeSpecialBytes(w uint64) uint64 {
	x, e := w^(ones*0x02), w^backslashes
	return ((x-ones*0x21)&^x | (e-ones)&^e) & highs
}

func beforeIsHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// beforeScanNumber validates the JSON number (RFC 8259 grammar) at b[i] and
// returns the index after it.
func beforeScanNumber(b []byte, i int) (int, error) {
	if end := beforeSkipNumber(b, i); end > 0 {
		return end, nil
	}
	return i, malformedAt("bad number", i)
}

// beforeSkipNumber returns the index after the valid JSON number at b[i], or -1.
// It calls nothing, so it costs little to call.
func beforeSkipNumber(b []byte, i int) int {
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

// beforeSkipString is beforeScanString for strings whose content does not matter: it
// returns the index after the closing quote of the valid string that opens
// at b[i], or -1 when the string is not valid (beforeScanString then says why).
// It calls nothing, so it costs little to call.
func beforeSkipString(b []byte, i int) int {
	i++
	for i < len(b) {
		if i = beforePlainEnd(b, i); i >= len(b) {
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
				if i+6 > len(b) || !beforeIsHex4(b[i+2:i+6]) {
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

// beforeSkipStringErr is beforeSkipString with the error of an invalid string.
func beforeSkipStringErr(b []byte, i int) (int, error) {
	if end := beforeSkipString(b, i); end > 0 {
		return end, nil
	}
	end, _, err := beforeScanString(b, i)
	return end, err
}
