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

// The JSON walk as it was before skipContainer read the compact spelling
// around its tokens without skipWS, plainEnd was the one eight-bytes-at-a-
// time loop of scanString and skipString, and specialBytes used two tests
// instead of three: the oracle of TestJSONWalkSameAsPrior and
// FuzzJSONWalkAgainstPrior. Copied from the commit before those changes;
// only the names differ (jsonWalk is priorWalk, each function has the
// prefix prior, the constant quotes is spelled out). Helpers the changes
// left alone (decodeJSONString, jsonKeyVariant, the path parser, ...) are
// shared.

// priorLocate is jsonLocator.Locate with the walk copied below.
func priorLocate(l *jsonLocator, msg *Message) ([]Span, error) {
	w := &priorWalk{}
	spans, err := w.locate(l, make([]Span, 0, 2*len(l.paths)), msg)
	if err != nil {
		return nil, err
	}
	return spans, nil
}

// priorWalk is the state of one body's walk. The cursors active at a value
// are stack[lo:hi]; a container's children push theirs above hi.
type priorWalk struct {
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
func (w *priorWalk) locate(l *jsonLocator, dst []Span, msg *Message) ([]Span, error) {
	// s shares the body's bytes: the body is not written while the walk
	// reads it, and nothing taken from s outlives the walk (values are
	// copied by priorFillValues; release drops the rest).
	w.b, w.s, w.paths, w.confirmAll = msg.Body, unsafe.String(unsafe.SliceData(msg.Body), len(msg.Body)), l.paths, l.confirmAll
	w.stack, w.seen, w.sels, w.vals = w.stack[:0], w.seen[:0], w.sels[:0], w.vals[:0]
	w.spans = dst
	for i := range l.paths {
		w.stack = append(w.stack, cursor{path: i, at: -1})
	}
	end, err := w.visit(priorSkipWS(w.b, 0), 0, len(w.stack), 0)
	if end = priorSkipWS(w.b, end); err == nil && end != len(w.b) {
		err = malformedAt("data after the JSON value", end)
	}
	spans := w.spans
	if err == nil {
		err = priorFillValues(w.b, w.vals, spans[len(dst):])
	}
	if err != nil {
		return dst, err
	}
	return spans, nil
}

// seg returns the component cursor c is at, nil when its path is matched.
func (w *priorWalk) seg(c cursor) *jsonSeg {
	if segs := w.paths[c.path].segs; c.pos < len(segs) {
		return &segs[c.pos]
	}
	return nil
}

// push adds the child cursor of c.
func (w *priorWalk) push(c cursor) {
	w.stack = append(w.stack, cursor{path: c.path, pos: c.pos + 1, at: -1})
}

// visit validates and takes the value at b[start] (no white space before
// it), at which the cursors stack[lo:hi] are active, depth levels down; it
// returns the index after it.
func (w *priorWalk) visit(start, lo, hi, depth int) (int, error) {
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
			return priorSkipContainer(w.b, start, depth)
		case depth >= MaxDepth:
			return start, errTooDeep
		case c == '{':
			return w.object(start, lo, hi, depth)
		}
		return w.array(start, lo, hi, depth)
	case c == '"':
		if target < 0 {
			return priorSkipStringErr(w.b, start)
		}
		end, esc, err := priorScanString(w.b, start)
		if err != nil {
			return end, err
		}
		w.spans = append(w.spans, Span{Start: start, End: end, Encoding: JSONString, Target: target})
		w.vals = append(w.vals, rawValue{from: start + 1, to: end - 1, escaped: esc})
		return end, nil
	case c == '-' || c >= '0' && c <= '9':
		end, err := priorScanNumber(w.b, start)
		if err == nil && target >= 0 {
			w.spans = append(w.spans, Span{Start: start, End: end, Encoding: JSONNumber, Target: target})
			w.vals = append(w.vals, rawValue{from: start, to: end})
		}
		return end, err
	default:
		end, err := priorSkipValue(w.b, start, depth)
		if err == nil && target >= 0 {
			return start, fmt.Errorf("%w: a targeted value is %s", ErrTargetType, typeName(c))
		}
		return end, err
	}
}

// priorSkipValid returns the index after the value at b[i] of a body already
// validated: it only looks for the end.
func priorSkipValid(b []byte, i int) int {
	switch c := b[i]; {
	case c == '"':
		return priorSkipString(b, i)
	case c == '{' || c == '[':
		depth := 0
		for ; i < len(b); i++ {
			if !structural[b[i]] {
				continue
			}
			switch b[i] {
			case '"':
				i = priorSkipString(b, i) - 1
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
	return priorSkipNumber(b, i)
}

// reset marks the cursors stack[lo:hi] as not yet met in the container
// they are entering.
func (w *priorWalk) reset(lo, hi int) {
	for ci := lo; ci < hi; ci++ {
		w.stack[ci].at = -1
	}
}

// met records that the walk found the value of the key or index component
// of cursor stack[ci] at b[at].
func (w *priorWalk) met(ci, at int) {
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
func (w *priorWalk) settle(start, lo, hi int, plainKeys bool) error {
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
func (w *priorWalk) nextMember(i int) (key string, value int, err error) {
	kend := priorSkipString(w.b, i)
	key = w.s[i+1 : kend-1]
	if strings.IndexByte(key, '\\') >= 0 {
		if key, err = decodeJSONString(w.b[i+1:kend-1], true); err != nil {
			return "", 0, err
		}
	}
	return key, priorSkipWS(w.b, priorSkipWS(w.b, kend)+1), nil // after ':'
}

// next moves past the separator after a member of a valid object or array
// that ends at b[i]: it returns the index of the next member, or -1 after
// the last.
func (w *priorWalk) next(i int) int {
	i = priorSkipWS(w.b, i)
	if w.b[i] == ',' {
		return priorSkipWS(w.b, i+1)
	}
	return -1
}

// separator validates what follows a member of an object or array that
// ends at b[i]: ',' (it returns the index of the next member) or the
// closing byte (it returns -1 and the index after it).
func (w *priorWalk) separator(i int, closing byte, kind string) (int, int, error) {
	i = priorSkipWS(w.b, i)
	if i >= len(w.b) {
		return 0, i, malformedAt("unexpected end in an "+kind, i)
	}
	switch w.b[i] {
	case ',':
		return priorSkipWS(w.b, i+1), 0, nil
	case closing:
		return -1, i + 1, nil
	}
	return 0, i, malformedAt("expected ',' or '"+string(closing)+"'", i)
}

func (w *priorWalk) object(start, lo, hi, depth int) (int, error) {
	w.reset(lo, hi)
	seenMark := len(w.seen)
	defer func() { w.seen = w.seen[:seenMark] }()
	i := priorSkipWS(w.b, start+1)
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
		kend, esc, err := priorScanString(w.b, i)
		if err != nil {
			return kend, err
		}
		key := w.s[i+1 : kend-1]
		if esc {
			plainKeys = false
			if key, err = decodeJSONString(w.b[i+1:kend-1], true); err != nil {
				return i, err
			}
		}
		if i = priorSkipWS(w.b, kend); i >= len(w.b) || w.b[i] != ':' {
			return i, malformedAt("expected ':'", i)
		}
		vs := priorSkipWS(w.b, i+1)
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
func (w *priorWalk) checkVariant(lo, hi int, c cursor, key string) error {
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

func (w *priorWalk) array(start, lo, hi, depth int) (int, error) {
	w.reset(lo, hi)
	selMark := len(w.sels)
	defer func() { w.sels = w.sels[:selMark] }()
	for ci := lo; ci < hi; ci++ {
		if seg := w.seg(w.stack[ci]); seg != nil && seg.kind == segQuery {
			if len(w.sels) == selMark { // gjson reads only valid JSON
				if end, err := priorSkipContainer(w.b, start, depth); err != nil {
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
	i := priorSkipWS(w.b, start+1)
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
func (w *priorWalk) checkCondition(start int, q *jsonQuery) error {
	for _, key := range q.cond {
		switch w.b[start] {
		case '{':
			found := -1
			i := priorSkipWS(w.b, start+1)
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
				i = w.next(priorSkipValid(w.b, vs))
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

// priorFillValues sets the Value of every span from vals: all of them are slices
// of one string, one allocation per body rather than one per value.
func priorFillValues(b []byte, vals []rawValue, spans []Span) error {
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

// priorSkipWS returns the index of the first byte at or after i that is not
// JSON white space.
func priorSkipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace[b[i]] {
		i++
	}
	return i
}

// priorSkipValue validates the value at b[i] (i < len(b), no white space
// before it), which no target is inside, and returns the index after it.
// On error the index is where the body stopped parsing.
func priorSkipValue(b []byte, i, depth int) (int, error) {
	switch c := b[i]; {
	case c == '"':
		return priorSkipStringErr(b, i)
	case c == '{' || c == '[':
		return priorSkipContainer(b, i, depth)
	case c == '-' || c >= '0' && c <= '9':
		return priorScanNumber(b, i)
	case c == 't':
		return priorScanLiteral(b, i, "true")
	case c == 'f':
		return priorScanLiteral(b, i, "false")
	case c == 'n':
		return priorScanLiteral(b, i, "null")
	}
	return i, malformedAt("unexpected character", i)
}

// priorSkipContainer validates the object or array at b[i]. Keys and the
// common scalars (strings, plain integers) are read in its own loop, and a
// string's usual spelling (no escape, no control character) without a
// call to priorSkipString: most of a body is skipped here, every request.
func priorSkipContainer(b []byte, i, depth int) (int, error) {
	if depth >= MaxDepth {
		return i, errTooDeep
	}
	obj := b[i] == '{'
	closing := byte(']')
	if obj {
		closing = '}'
	}
	i = priorSkipWS(b, i+1)
	if i < len(b) && b[i] == closing {
		return i + 1, nil
	}
	var err error
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, malformedAt("expected a key", i)
			}
			j := priorPlainEnd(b, i+1)
			if j < len(b) && b[j] == '"' {
				j++
			} else if j = priorSkipString(b, i); j < 0 {
				return priorSkipStringErr(b, i)
			}
			i = priorSkipWS(b, j)
			if i >= len(b) || b[i] != ':' {
				return i, malformedAt("expected ':'", i)
			}
			i = priorSkipWS(b, i+1)
		}
		if i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		// Scalars, the most common values, without a call to priorSkipValue.
		switch c := b[i]; {
		case c == '"':
			j := priorPlainEnd(b, i+1)
			if j < len(b) && b[j] == '"' {
				j++
			} else if j = priorSkipString(b, i); j < 0 {
				return priorSkipStringErr(b, i)
			}
			i = j
		case c >= '1' && c <= '9':
			// A plain integer without a call; a fraction or an exponent
			// after it is priorSkipNumber's.
			j := i + 1
			for j < len(b) && b[j]-'0' < 10 {
				j++
			}
			if j < len(b) && (b[j] == '.' || b[j]|0x20 == 'e') {
				if j = priorSkipNumber(b, i); j < 0 {
					return priorScanNumber(b, i)
				}
			}
			i = j
		case c == '-' || c == '0':
			end := priorSkipNumber(b, i)
			if end < 0 {
				return priorScanNumber(b, i)
			}
			i = end
		case c == '{' || c == '[':
			if i, err = priorSkipContainer(b, i, depth+1); err != nil {
				return i, err
			}
		default:
			if i, err = priorSkipValue(b, i, depth+1); err != nil {
				return i, err
			}
		}
		i = priorSkipWS(b, i)
		if i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		switch b[i] {
		case ',':
			i = priorSkipWS(b, i+1)
		case closing:
			return i + 1, nil
		default:
			return i, malformedAt("expected ',' or a closing bracket", i)
		}
	}
}

// priorPlainEnd returns the index of the first '"', '\\' or control character
// of b at or after i, eight bytes at a time, or where fewer than eight
// bytes are left: the closing quote of a string spelled plainly (when
// b[priorPlainEnd] is '"'), else where priorSkipString has to look. Small enough to
// be inlined in priorSkipContainer's loop.
func priorPlainEnd(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := priorSpecialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

func priorScanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, malformedAt("unexpected character", i)
}

// priorScanString validates the string whose opening quote is at b[i] and
// returns the index after its closing quote and whether it has escapes.
func priorScanString(b []byte, i int) (int, bool, error) {
	i++
	escaped := false
	for i < len(b) {
		// Eight bytes at a time while none of them is '"', '\\' or a
		// control character. The lowest flagged byte of a word is exact
		// (false positives of these bit tricks only appear above a true
		// match), so jump to it.
		for i+8 <= len(b) {
			if m := priorSpecialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
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
				if i+6 > len(b) || !priorIsHex4(b[i+2:i+6]) {
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

// priorSpecialBytes flags the bytes of w that end the fast path of a string:
// '"', '\\' and control characters. The lowest flagged byte is exact.
func priorSpecialBytes(w uint64) uint64 {
	q, e := w^(ones*'"'), w^backslashes
	return ((q-ones)&^q | (e-ones)&^e | (w-ones*0x20)&^w) & highs
}

func priorIsHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// priorScanNumber validates the JSON number (RFC 8259 grammar) at b[i] and
// returns the index after it.
func priorScanNumber(b []byte, i int) (int, error) {
	if end := priorSkipNumber(b, i); end > 0 {
		return end, nil
	}
	return i, malformedAt("bad number", i)
}

// priorSkipNumber returns the index after the valid JSON number at b[i], or -1.
// It calls nothing, so it costs little to call.
func priorSkipNumber(b []byte, i int) int {
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

// priorSkipString is priorScanString for strings whose content does not matter: it
// returns the index after the closing quote of the valid string that opens
// at b[i], or -1 when the string is not valid (priorScanString then says why).
// It calls nothing, so it costs little to call.
func priorSkipString(b []byte, i int) int {
	i++
	for i < len(b) {
		for i+8 <= len(b) {
			if m := priorSpecialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
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
				if i+6 > len(b) || !priorIsHex4(b[i+2:i+6]) {
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

// priorSkipStringErr is priorSkipString with the error of an invalid string.
func priorSkipStringErr(b []byte, i int) (int, error) {
	if end := priorSkipString(b, i); end > 0 {
		return end, nil
	}
	end, _, err := priorScanString(b, i)
	return end, err
}
