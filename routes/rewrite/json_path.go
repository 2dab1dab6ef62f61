package rewrite

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// JSON target paths are gjson paths (github.com/tidwall/gjson) that locate
// values: keys separated by '.', '\' escaping the next character, '#' for
// every element of an array, a number for one array index (or an object key
// of that name), and queries on arrays, #(cond) for the first element that
// matches and #(cond)# for every one. A query's condition is a key path
// inside the element (plain keys, or nothing for the element itself), an
// operator (==, =, !=, <, <=, >, >=, % and !% for gjson's patterns) and a
// JSON literal: "card", 42, true or false (gjson never matches null); or a
// key path alone, which
// tests that the key exists. Modifiers (@), pipes (|), multipaths ({…} and
// […]), literals (!true), wildcards (* ?) and gjson's ~ conversions are
// refused: they compute values or match keys loosely, they do not locate
// one value.

// ErrJSONPath is wrapped by path syntax errors.
var ErrJSONPath = errors.New("unsupported json path")

// segKind is the kind of one path component.
type segKind uint8

const (
	segKey   segKind = iota // an object key, or an array index when it is all digits
	segAll                  // '#': every element of an array
	segQuery                // #(cond) or #(cond)#
)

// jsonSeg is one component of a path.
type jsonSeg struct {
	kind  segKind
	key   string // segKey: the key, escapes read
	text  string // segKey: the component as the path wrote it, for gjson.Get
	index int    // segKey: the array index when key is all digits, else -1
	// plain (segKey) is set when the component is written without escapes
	// and only with ASCII letters, digits, '_' and '-': gjson reads it as
	// the one key it names, compared byte for byte (see settle).
	plain bool
	query *jsonQuery
}

// jsonQuery is a parsed #(cond) or #(cond)# component.
type jsonQuery struct {
	// gjson is the component as gjson reads it, always in its #(cond)#
	// form: gjson.Get of it on an array gives the offsets of every element
	// that matches.
	gjson string
	all   bool     // #(cond)#: every element that matches; else the first
	cond  []string // the condition's key path inside the element (nil: the element itself)
	op    string   // "" for an existence test
	lit   litType  // the literal's JSON type
}

// litType is the JSON type of a query's literal.
type litType uint8

const (
	litNone litType = iota
	litString
	litNumber
	litBool
	litNull
	litObject // values only: no literal is an object or an array
	litArray
)

// sameSegs reports whether two path tails are the same components.
func sameSegs(a, b []jsonSeg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.kind != y.kind || x.key != y.key {
			return false
		}
		if x.kind == segQuery && (x.query.gjson != y.query.gjson || x.query.all != y.query.all) {
			return false
		}
	}
	return true
}

// parseJSONPath parses a target path (see above).
func parseJSONPath(p string) ([]jsonSeg, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty", ErrJSONPath)
	}
	if strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("%w: %q looks like JSONPath; write it as a gjson path (card.number, items.#.pan, payments.#(type==\"card\")#.number)", ErrJSONPath, p)
	}
	if strings.HasPrefix(p, "..") {
		return nil, fmt.Errorf("%w: JSON lines paths (..) are not supported", ErrJSONPath)
	}
	var segs []jsonSeg
	for i := 0; ; {
		var seg jsonSeg
		var err error
		switch {
		case strings.HasPrefix(p[i:], "#("):
			seg, i, err = parseQuerySeg(p, i)
		case strings.HasPrefix(p[i:], "#["):
			err = fmt.Errorf("%w: %q: write a query as #(…), not #[…]", ErrJSONPath, p)
		default:
			seg, i, err = parseKeySeg(p, i, false)
		}
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
		if i == len(p) {
			break
		}
		i++ // '.'
		if i == len(p) {
			return nil, fmt.Errorf("%w: %q has an empty key", ErrJSONPath, p)
		}
	}
	if segs[len(segs)-1].kind == segAll {
		return nil, fmt.Errorf("%w: %q ends with '#' (the array length), not a value", ErrJSONPath, p)
	}
	return segs, nil
}

// parseKeySeg parses the key (or '#') at p[i:] up to the next unescaped '.'
// and returns it and the index of that '.' (or len(p)). In a query's
// condition (cond) a key cannot be '#'.
func parseKeySeg(p string, i int, cond bool) (jsonSeg, int, error) {
	var key strings.Builder
	start, escaped := i, false
	for ; i < len(p) && p[i] != '.'; i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 == len(p) {
				return jsonSeg{}, 0, fmt.Errorf("%w: %q ends with '\\'", ErrJSONPath, p)
			}
			i++
			key.WriteByte(p[i])
			escaped = true
			continue
		case '@':
			return jsonSeg{}, 0, fmt.Errorf("%w: %q uses a modifier (@…); modifiers compute values, they do not locate them (escape a key's @ as \\@)", ErrJSONPath, p)
		case '|':
			return jsonSeg{}, 0, fmt.Errorf("%w: %q uses a pipe (|); write the path with '.'", ErrJSONPath, p)
		case '{', '}', '[', ']':
			return jsonSeg{}, 0, fmt.Errorf("%w: %q uses a multipath (%q); give each value its own target", ErrJSONPath, p, c)
		case '!':
			return jsonSeg{}, 0, fmt.Errorf("%w: %q uses a literal or '!'; literals compute values, they do not locate them", ErrJSONPath, p)
		case '=', '<', '>', '~', '%':
			return jsonSeg{}, 0, fmt.Errorf("%w: %q uses %q outside a query #(…)", ErrJSONPath, p, c)
		case '(', ')':
			if cond {
				return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query's condition reads plain keys (escape a parenthesis in a key as \\( or \\))", ErrJSONPath, p)
			}
		case '*', '?':
			return jsonSeg{}, 0, fmt.Errorf("%w: %q uses wildcard %q; name the key", ErrJSONPath, p, c)
		case '"':
			if cond {
				return jsonSeg{}, 0, fmt.Errorf("%w: %q: a quote in a query's key path (escape it as \\\")", ErrJSONPath, p)
			}
		case '#':
			if cond {
				return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query's condition reads plain keys (no '#', no nested query)", ErrJSONPath, p)
			}
			if i != start || i+1 < len(p) && p[i+1] != '.' {
				return jsonSeg{}, 0, fmt.Errorf("%w: %q: '#' must be a whole path element (escape it as \\# in a key)", ErrJSONPath, p)
			}
			return jsonSeg{kind: segAll, index: -1}, i + 1, nil
		}
		key.WriteByte(c)
	}
	k := key.String()
	if k == "" && !escaped {
		return jsonSeg{}, 0, fmt.Errorf("%w: %q has an empty key", ErrJSONPath, p)
	}
	seg := jsonSeg{kind: segKey, key: k, text: p[start:i], index: -1, plain: k == p[start:i] && plainKey(k)}
	// An index as gjson reads one: at most 20 digits (leading zeros
	// included), written without an escape; a longer run of digits, or
	// one with an escaped digit (\0), is only a key.
	if n, err := strconv.Atoi(k); err == nil && n >= 0 && !escaped && allASCIIDigits(k) && len(k) <= 20 {
		seg.index = n
	}
	return seg, i, nil
}

// plainKey reports whether s is not empty and only ASCII letters, digits,
// '_' and '-'.
func plainKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

func allASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseQuerySeg parses the query #(…) or #(…)# at p[i:] and returns it and
// the index after it, which must be the end of p or a '.'. The closing
// parenthesis is found as gjson finds it (nested brackets counted, quoted
// strings and escaped bytes skipped), so gjson reads the same component.
func parseQuerySeg(p string, i int) (jsonSeg, int, error) {
	start := i
	i += 2
	depth, opAt := 1, -1
	for ; i < len(p); i++ {
		c := p[i]
		if depth == 1 && opAt < 0 && strings.IndexByte("!=<>%", c) >= 0 {
			opAt = i
			continue
		}
		switch c {
		case '\\':
			i++
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '"':
			for i++; i < len(p) && p[i] != '"'; i++ {
				if p[i] == '\\' {
					i++
				}
			}
		}
		if depth == 0 {
			break
		}
	}
	if i >= len(p) {
		return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query #(… is not closed", ErrJSONPath, p)
	}
	inner, end := p[start+2:i], i+1
	q := &jsonQuery{}
	if end < len(p) && p[end] == '#' {
		q.all = true
		end++
	}
	switch {
	case end < len(p) && p[end] == '|':
		return jsonSeg{}, 0, fmt.Errorf("%w: %q uses a pipe (|); write the path with '.'", ErrJSONPath, p)
	case end < len(p) && p[end] != '.':
		return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query is followed by '.' or '#' and '.', or ends the path", ErrJSONPath, p)
	}
	condPath, rest := inner, ""
	if opAt >= 0 {
		condPath, rest = p[start+2:opAt], p[opAt:i]
	}
	condPath = strings.Trim(condPath, " \t\r\n")
	if condPath != "" {
		for j := 0; ; j++ {
			seg, next, err := parseKeySeg(condPath, j, true)
			if err != nil {
				return jsonSeg{}, 0, fmt.Errorf("%w: in %q", err, p)
			}
			q.cond = append(q.cond, seg.key)
			if j = next; j == len(condPath) {
				break
			}
			if j+1 == len(condPath) {
				return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query's key path ends with '.'", ErrJSONPath, p)
			}
		}
	}
	if rest == "" {
		if condPath == "" {
			return jsonSeg{}, 0, fmt.Errorf("%w: %q: an empty query", ErrJSONPath, p)
		}
	} else {
		for _, op := range [...]string{"==", "!=", "<=", ">=", "!%", "=", "<", ">", "%"} {
			if strings.HasPrefix(rest, op) {
				q.op = op
				break
			}
		}
		lit := strings.Trim(rest[len(q.op):], " \t\r\n")
		switch {
		case q.op == "":
			return jsonSeg{}, 0, fmt.Errorf("%w: %q: unknown query operator (==, !=, <, <=, >, >=, %%, !%%)", ErrJSONPath, p)
		case strings.HasPrefix(lit, "~"):
			return jsonSeg{}, 0, fmt.Errorf("%w: %q: ~ conversions (truthy, falsy) are not supported; compare with a JSON literal", ErrJSONPath, p)
		}
		q.lit = literalType(lit)
		switch {
		case q.lit == litNone:
			return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query compares with a JSON literal (\"text\", 42, true or false)", ErrJSONPath, p)
		case q.lit == litNull:
			return jsonSeg{}, 0, fmt.Errorf("%w: %q: a query cannot compare with null (gjson never matches it); test the key's existence with #(key)", ErrJSONPath, p)
		case (q.op == "%" || q.op == "!%") && q.lit != litString:
			return jsonSeg{}, 0, fmt.Errorf("%w: %q: a pattern (%s) is a string", ErrJSONPath, p, q.op)
		}
	}
	q.gjson = "#(" + inner + ")#"
	return jsonSeg{kind: segQuery, index: -1, query: q}, end, nil
}

// literalType returns the JSON type of the literal s, or litNone when s is
// not one JSON scalar.
func literalType(s string) litType {
	b := []byte(s)
	switch {
	case s == "":
		return litNone
	case s == "true" || s == "false":
		return litBool
	case s == "null":
		return litNull
	case s[0] == '"':
		if skipString(b, 0) == len(b) {
			return litString
		}
	case s[0] == '-' || s[0] >= '0' && s[0] <= '9':
		if skipNumber(b, 0) == len(b) {
			return litNumber
		}
	}
	return litNone
}

// PathElem is one component of a JSON target path seen as a pattern over
// the keys and indexes that lead to a value: an object key (Index >= 0 when
// the key is all digits: also that array index), or Any array element ('#',
// and a query, whose condition a pattern does not evaluate: it matches every
// element the query could select).
type PathElem struct {
	Key   string
	Index int
	Any   bool
}

// JSONPathPattern parses a JSON target path (as routes load it) into its
// components, for code that must recognise the values a target can reach
// (the inspector masks them) without locating them in a body.
func JSONPathPattern(p string) ([]PathElem, error) {
	segs, err := parseJSONPath(p)
	if err != nil {
		return nil, err
	}
	out := make([]PathElem, len(segs))
	for i, s := range segs {
		out[i] = PathElem{Key: s.key, Index: s.index, Any: s.kind != segKey}
	}
	return out, nil
}
