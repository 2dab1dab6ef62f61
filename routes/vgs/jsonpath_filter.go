package vgs

import (
	"encoding/json"
	"strconv"
	"strings"
)

// JSONPath filter selectors ([?(@.type=='card')], or RFC 9535's
// [?@.type=='card']) become gjson queries (#(type=="card")#) when the query
// selects exactly the elements the filter selects, under RFC 9535's
// semantics, on every body the native route accepts. The native route
// refuses a body in which a value the query compares has another JSON type
// than the literal (where gjson and JSONPath disagree: gjson reads "1" equal
// to 1), so the remaining differences decide what converts:
//
//   - @.k == literal, and <, <=, >, >= with a string or number literal:
//     both select nothing when k is missing, and compare strings by code
//     point (Go's byte order of UTF-8) and numbers by value. Numbers compare
//     as float64 in gjson: literals with more than 15 significant digits are
//     not converted.
//   - @.k alone (the member exists): both test existence.
//   - == true, == false: converted; booleans are not ordered in JSONPath but
//     are in gjson (true > false), so <, >, … on booleans are not.
//   - != is not converted: JSONPath selects an element without the member
//     (Nothing != 'card'), a gjson query does not.
//   - null is not converted: gjson never matches it.
//   - &&, ||, !, functions (length(), match(), …), regular expressions
//     (=~), paths from the root ($) and bracketed or indexed paths under @
//     are not converted.
//
// The key path under @ is a dotted path of member names (@.card.type) or
// the element itself (@).

// jsonPathFilter reads the filter selector whose '?' is at s[i] (after
// '[' and spaces) and returns the gjson query component and the index
// after the selector's ']'; why names what cannot be expressed.
func jsonPathFilter(s string, i int) (query string, next int, why string) {
	end := filterEnd(s, i)
	if end < 0 {
		return "", 0, "filter expression: malformed bracket"
	}
	expr := strings.TrimSpace(s[i+1 : end])
	for strings.HasPrefix(expr, "(") && matchingParen(expr) == len(expr)-1 {
		expr = strings.TrimSpace(expr[1 : len(expr)-1])
	}
	q, why := filterQuery(expr)
	if why == "" && strings.TrimSpace(s[end+1:]) == "" && !strings.HasPrefix(q, "#(=") && !strings.HasPrefix(q, "#(<") && !strings.HasPrefix(q, "#(>") {
		why = "it selects whole elements by a member, so objects, and a target is a string or number"
	}
	if why != "" {
		return "", 0, "filter expression: " + why
	}
	return q, end + 1, ""
}

// filterEnd returns the index of the ']' that closes the selector whose
// content starts at s[i], skipping quoted strings and nested brackets, or
// -1.
func filterEnd(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\'', '"':
			j, ok := stringEnd(s, i)
			if !ok {
				return -1
			}
			i = j - 1
		case '[', '(':
			depth++
		case ')':
			depth--
		case ']':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// stringEnd returns the index after the quoted string that opens at s[i].
func stringEnd(s string, i int) (int, bool) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case s[i]:
			return j + 1, true
		}
	}
	return 0, false
}

// matchingParen returns the index of the ')' that closes the '(' at e[0],
// or -1.
func matchingParen(e string) int {
	depth := 0
	for i := 0; i < len(e); i++ {
		switch e[i] {
		case '\'', '"':
			j, ok := stringEnd(e, i)
			if !ok {
				return -1
			}
			i = j - 1
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// filterQuery converts one filter expression (without its brackets).
func filterQuery(e string) (string, string) {
	if e == "" {
		return "", "empty filter"
	}
	if strings.Contains(e, "&&") || strings.Contains(e, "||") {
		return "", "&& and || cannot be expressed in one gjson query"
	}
	left, op, right, ok := splitComparison(e)
	if !ok {
		// An existence test: @.k
		cond, why := filterPath(e)
		if why != "" {
			return "", why
		}
		if cond == "" {
			return "", "a test of the element itself cannot be expressed"
		}
		return "#(" + cond + ")#", ""
	}
	switch op {
	case "==", "!=", "<", "<=", ">", ">=":
	case "=~":
		return "", "regular expressions (=~) cannot be expressed"
	default:
		return "", "the operator " + strconv.Quote(op) + " cannot be expressed"
	}
	if !strings.HasPrefix(left, "@") && strings.HasPrefix(right, "@") {
		left, right = right, left
		op = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
	}
	cond, why := filterPath(left)
	if why != "" {
		return "", why
	}
	lit, kind, why := filterLiteral(right)
	if why != "" {
		return "", why
	}
	switch {
	case op == "!=":
		return "", "!= selects the elements without the member too, a gjson query does not"
	case kind == "null":
		return "", "a comparison with null (gjson never matches it)"
	case kind == "bool" && op != "==":
		return "", "booleans are ordered in gjson, not in JSONPath"
	}
	return "#(" + cond + op + lit + ")#", ""
}

// splitComparison splits e at its comparison operator, outside quoted
// strings.
func splitComparison(e string) (left, op, right string, ok bool) {
	for i := 0; i < len(e); i++ {
		switch c := e[i]; c {
		case '\'', '"':
			j, ok := stringEnd(e, i)
			if !ok {
				return "", "", "", false
			}
			i = j - 1
		case '=', '!', '<', '>':
			op = string(c)
			if i+1 < len(e) && (e[i+1] == '=' || e[i+1] == '~') {
				op += string(e[i+1])
			}
			return strings.TrimSpace(e[:i]), op, strings.TrimSpace(e[i+len(op):]), true
		}
	}
	return "", "", "", false
}

// filterPath converts the key path @, @.a.b or @['a'].b into a gjson
// query's key path ("" for the element itself).
func filterPath(p string) (string, string) {
	if !strings.HasPrefix(p, "@") {
		if strings.HasPrefix(p, "$") {
			return "", "a path from the root ($) in a filter cannot be expressed"
		}
		if strings.ContainsAny(p, "(") {
			return "", "functions (" + p + ") cannot be expressed"
		}
		return "", "the filter does not compare a member of the element (@.name) with a literal"
	}
	var keys []string
	for i := 1; i < len(p); {
		var key string
		switch {
		case p[i] == '.' && i+1 < len(p) && p[i+1] != '.' && p[i+1] != '*':
			j := i + 1
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			key, i = p[i+1:j], j
		case strings.HasPrefix(p[i:], "['") || strings.HasPrefix(p[i:], `["`):
			k, next, ok := quoted(p, i+1)
			if !ok || next >= len(p) || p[next] != ']' {
				return "", "a malformed member name in the filter"
			}
			key, i = k, next+1
		default:
			return "", "only member names (@.a.b) can be expressed in a filter's path, not " + strconv.Quote(p[i:])
		}
		if key == "" || strings.ContainsAny(key, "()\"'\\ ") || strings.ContainsFunc(key, isControl) {
			return "", "the member name " + strconv.Quote(key) + " in the filter cannot be expressed"
		}
		k, why := escapeKey(key)
		if why != "" {
			return "", why
		}
		keys = append(keys, k)
	}
	return strings.Join(keys, "."), ""
}

// filterLiteral converts a JSONPath literal into a JSON literal and names
// its kind: string, number, bool or null.
func filterLiteral(l string) (lit, kind, why string) {
	switch {
	case l == "true" || l == "false":
		return l, "bool", ""
	case l == "null":
		return l, "null", ""
	case l != "" && (l[0] == '\'' || l[0] == '"'):
		end, ok := stringEnd(l, 0)
		if !ok || end != len(l) {
			return "", "", "a malformed string literal"
		}
		v, ok := unquoteJSONPath(l[1 : len(l)-1])
		if !ok {
			return "", "", "a string literal with an escape JSONPath does not define"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "", "", "a string literal that is not valid UTF-8"
		}
		return string(b), "string", ""
	case numberLiteral(l):
		digits := strings.TrimLeft(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, strings.FieldsFunc(l, func(r rune) bool { return r == 'e' || r == 'E' })[0]), "0")
		if len(strings.TrimRight(digits, "0")) > 15 {
			return "", "", "a number literal with more than 15 significant digits (gjson compares numbers as float64)"
		}
		return l, "number", ""
	}
	if strings.HasPrefix(l, "/") || strings.Contains(l, "(") {
		return "", "", "regular expressions and functions cannot be expressed"
	}
	return "", "", "the filter compares with " + strconv.Quote(l) + ", not a string, number, true, false or null"
}

// numberLiteral reports whether l is a JSON number (RFC 9535's number
// literals are JSON's).
func numberLiteral(l string) bool {
	var f json.Number
	return l != "" && json.Unmarshal([]byte(l), &f) == nil && string(f) == l
}

// unquoteJSONPath reads the escapes of a JSONPath string literal's content
// (RFC 9535: \b \f \n \r \t \/ \\ \' \" and \uXXXX).
func unquoteJSONPath(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i >= len(s) {
			return "", false
		}
		switch s[i] {
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
		case '/', '\\', '\'', '"':
			b.WriteByte(s[i])
		case 'u':
			// Let encoding/json read the \u escapes, surrogate pairs
			// included.
			j := i + 5
			for j+1 < len(s) && s[j] == '\\' && s[j+1] == 'u' && j+6 <= len(s) {
				j += 6
			}
			if j > len(s) {
				return "", false
			}
			var v string
			if json.Unmarshal([]byte(`"`+s[i-1:j]+`"`), &v) != nil {
				return "", false
			}
			b.WriteString(v)
			i = j - 1
		default:
			return "", false
		}
	}
	return b.String(), true
}
