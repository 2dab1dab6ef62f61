package vgs

import (
	"fmt"
	"net/textproto"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// jsonPath translates a VGS JSONPath selector into a gjson path (no
// modifiers): $.a.b → a.b, $['a'] → a, $.a[*].b → a.#.b, $.a[0] → a.0
// (which also reads a member "0" of an object: package doc),
// $.a[?(@.t=='c')].b → a.#(t=="c")#.b (jsonpath_filter.go). why names the
// construct that cannot be expressed.
func jsonPath(p string) (path, why string) {
	s := strings.TrimSpace(p)
	switch {
	case s == "":
		return "", "empty path"
	case s[0] == '$':
	case s[0] == '@':
		// Jayway (and jsonpath-ng) read a path from @, the node it is
		// evaluated on, as one from $ when VGS evaluates it on the body;
		// it was read as the key "@", which no body holds.
		s = "$" + s[1:]
	case s[0] == '[':
		s = "$" + s
	default:
		s = "$." + s // jsonpath-ng and VGS accept a path without the root
	}
	var segs []string
	for i := 1; i < len(s); {
		switch s[i] {
		case '.':
			i++
			if i >= len(s) {
				return "", "ends with a dot"
			}
			switch s[i] {
			case '.':
				return "", "recursive descent"
			case '*':
				return "", "object wildcard"
			}
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			key := s[i:j]
			if strings.ContainsAny(key, "()") {
				return "", "function call"
			}
			k, why := memberKey(key)
			if why != "" {
				return "", why
			}
			segs = append(segs, k)
			i = j
		case '[':
			j := i + 1
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j < len(s) && s[j] == '?' {
				q, next, why := jsonPathFilter(s, j)
				if why != "" {
					return "", why
				}
				segs = append(segs, q)
				i = next
				continue
			}
			if j < len(s) && (s[j] == '\'' || s[j] == '"') {
				key, k, ok := quoted(s, j)
				if !ok {
					return "", "unterminated quoted key, or an escape JSONPath does not define in it"
				}
				for k < len(s) && s[k] == ' ' {
					k++
				}
				if k < len(s) && s[k] == ',' {
					return "", "union"
				}
				if k >= len(s) || s[k] != ']' {
					return "", "malformed bracket"
				}
				ek, why := memberKey(key)
				if why != "" {
					return "", why
				}
				segs = append(segs, ek)
				i = k + 1
				continue
			}
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return "", "malformed bracket"
			}
			inner := strings.TrimSpace(s[i+1 : i+end])
			switch {
			case inner == "*":
				segs = append(segs, "#")
			case strings.HasPrefix(inner, "("):
				return "", "script expression"
			case strings.Contains(inner, ":"):
				return "", "array slice"
			case strings.Contains(inner, ","):
				return "", "union"
			case strings.HasPrefix(inner, "-"):
				return "", "negative index"
			default:
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 || len(inner) > 9 {
					return "", "unsupported selector"
				}
				segs = append(segs, strconv.Itoa(n))
			}
			i += end + 1
		default:
			return "", fmt.Sprintf("unexpected %q", s[i])
		}
	}
	if len(segs) == 0 {
		return "", "selects the whole document"
	}
	if segs[len(segs)-1] == "#" {
		// A trailing # is the array's length in gjson: the elements are
		// the query every string matches. A native query refuses (422) a
		// body where an element is not a string, so a converted $.pans[*]
		// aliases every element of an array of strings, as VGS does, and
		// refuses one of numbers rather than skipping them.
		segs[len(segs)-1] = `#(%"*")#`
	}
	return strings.Join(segs, "."), ""
}

// quoted reads a quoted key starting at s[i] (the quote); it returns the
// key and the index after the closing quote. The escapes are read as in a
// filter's string literal (unquoteJSONPath: JSONPath's, \uXXXX included, as
// Jayway's bracket properties and RFC 9535's name selectors read them);
// ok is false for an unterminated key or an escape JSONPath does not
// define.
func quoted(s string, i int) (key string, next int, ok bool) {
	end, ok := stringEnd(s, i)
	if !ok {
		return "", 0, false
	}
	key, ok = unquoteJSONPath(s[i+1 : end-1])
	return key, end, ok
}

// jsonSpecial are the characters a native (gjson) path gives a meaning;
// in a key they are escaped with a backslash.
const jsonSpecial = `\.@|{}[]!=<>~%*?#$`

// escapeKey writes an object key as a gjson path element.
func escapeKey(k string) (string, string) {
	if k == "" {
		return "", "empty key"
	}
	if strings.ContainsFunc(k, isControl) {
		return "", "key with control characters"
	}
	if !strings.ContainsAny(k, jsonSpecial) {
		return k, ""
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if strings.IndexByte(jsonSpecial, k[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(k[i])
	}
	return b.String(), ""
}

// memberKey writes a JSONPath member name ($.a.0, $['0']) as a gjson path
// element. A name of digits is escaped (\0): a native path element of plain
// digits is also that array index, and JSONPath's member never is (only
// [0] is).
func memberKey(k string) (string, string) {
	e, why := escapeKey(k)
	if why == "" && strings.Trim(k, "0123456789") == "" {
		e = `\` + e
	}
	return e, why
}

// formField checks a FORM_FIELD name.
func formField(name string) string {
	if name == "" {
		return "empty form field name"
	}
	if strings.ContainsFunc(name, isControl) {
		return "form field name with control characters"
	}
	return ""
}

// xmlPath translates an XPath into a native element path: /a/b and
// /a/b/text() → /a/b. why names the construct that cannot be expressed.
func xmlPath(p string) (path, why string) {
	s := strings.TrimSpace(p)
	s = strings.TrimSuffix(s, "/text()")
	switch {
	case s == "":
		return "", "empty path"
	case strings.Contains(s, "//"):
		return "", "descendant axis //"
	case !strings.HasPrefix(s, "/"):
		return "", "relative path"
	}
	for _, step := range strings.Split(s[1:], "/") {
		switch {
		case step == "":
			return "", "empty step"
		case strings.Contains(step, "["):
			return "", "predicate"
		case strings.HasPrefix(step, "@"):
			return "", "attribute"
		case strings.Contains(step, "*"):
			return "", "wildcard"
		case step == "." || step == "..":
			return "", "relative step"
		case strings.Contains(step, "("):
			return "", "function"
		case strings.Contains(step, "::"):
			return "", "axis"
		case !xmlQName(step):
			return "", fmt.Sprintf("step %q is not an element name", step)
		}
	}
	return s, ""
}

// xmlQName reports whether s is an XML element name, optionally with one
// namespace prefix (prefix:name), as native element paths allow.
func xmlQName(s string) bool {
	prefix, local, found := strings.Cut(s, ":")
	if !found {
		return xmlNCName(s)
	}
	return xmlNCName(prefix) && xmlNCName(local)
}

// xmlNCName checks an XML 1.0 name without colons.
func xmlNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !xmlNameRune(r, i == 0) {
			return false
		}
	}
	return true
}

// xmlNameRune: XML 1.0 (fifth edition) NameStartChar and NameChar, less ':'.
func xmlNameRune(r rune, first bool) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		return true
	case r >= '0' && r <= '9', r == '-', r == '.':
		return !first
	case r < 0xC0:
		return !first && r == 0xB7
	case r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF, r >= 0x370 && r <= 0x37D,
		r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D, r >= 0x2070 && r <= 0x218F,
		r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF, r >= 0xF900 && r <= 0xFDCF,
		r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	case r >= 0x300 && r <= 0x36F, r >= 0x203F && r <= 0x2040:
		return !first
	}
	return false
}

// xmlOverlap reports whether two element paths, read with namespaces as
// the converted targets are, can name the same element, or one an element
// inside the other's. One filter cannot target both.
func xmlOverlap(a, b string) bool {
	return rewrite.XMLPathsOverlap(a, b, true)
}

// defaultReplacement is VGS's REGEX replacement that puts the alias where
// the value was.
const defaultReplacement = "%s"

// bodyRegex translates a VGS REGEX pattern on the body into a native regex
// target. VGS replaces the whole match by the alias of the match, or, when
// the pattern has a group named token, by prefix + alias(token) + suffix
// (groups named prefix and suffix). A native regex target replaces the whole
// match, or group 1 when the pattern has groups. So the pattern is kept when
// it has no groups, or when its only group is token and the match is made
// of nothing else than [prefix] token [suffix] and zero-width assertions;
// other groups are made non-capturing. \s and \S become the classes Java's
// are (javaSpaces), (?i) Java's ASCII-only case folding (javaFold), a '.'
// the class Java's '.' is (javaDots), and a final '$' Java's '$'
// (javaDollar).
func bodyRegex(p, replacement string) (string, string) {
	if why := checkRE2(p); why != "" {
		return "", "the pattern " + why
	}
	folded, why := javaFold(javaDots(javaSpaces(p)), asciiOnlyPattern(p))
	if why != "" {
		return "", why
	}
	re, why := bodyRegexText(folded, replacement)
	if why != "" {
		return "", why
	}
	return javaDollar(re)
}

func bodyRegexText(p, replacement string) (string, string) {
	if why := checkRE2(p); why != "" {
		return "", "the pattern " + why
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return "", "the pattern does not compile"
	}
	if replacement != defaultReplacement {
		return framedToken(p, re, replacement)
	}
	if regexp.MustCompile(p).MatchString("") {
		return "", "the pattern matches the empty string"
	}
	captures := countCaptures(re)
	tok := namedCapture(re, "token")
	if tok == nil {
		if captures == 0 {
			return p, ""
		}
		return reprint(p, "", stripCaptures(re, nil))
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	const (
		start = iota
		afterPrefix
		afterToken
		afterSuffix
	)
	state := start
	for _, s := range subs {
		switch {
		case zeroWidth(s):
		case s.Op == syntax.OpCapture && s.Name == "prefix" && state == start:
			state = afterPrefix
		case s == tok && state <= afterPrefix:
			state = afterToken
		case s.Op == syntax.OpCapture && s.Name == "suffix" && state == afterToken:
			state = afterSuffix
		default:
			return "", "the pattern matches text outside its token, prefix and suffix groups, which VGS drops from the message; that cannot be expressed"
		}
	}
	if state < afterToken {
		return "", "the token group is nested inside another construct"
	}
	if captures == 1 {
		return p, ""
	}
	return reprint(p, "token", stripCaptures(re, tok))
}

// framedToken converts a REGEX whose replacement is text around the alias,
// "pan=%s": VGS writes that text, then the alias of the token group, in
// place of the whole match. That is the native regex target (which keeps
// what is outside group 1) exactly when the pattern is that same literal
// text around the token group: pan=(?<token>\d+) with pan=%s.
func framedToken(p string, re *syntax.Regexp, replacement string) (string, string) {
	cannot := fmt.Sprintf("replacement %q cannot be expressed: aliasgate keeps the text around the alias as the message has it, so the pattern must be that same literal text around a group named token", replacement)
	before, after, ok := strings.Cut(replacement, "%s")
	if !ok || strings.Contains(after, "%s") || strings.ContainsAny(replacement, `$\`) {
		return "", cannot
	}
	subs, i := concatSubs(re)
	// literal consumes subs[i] when it is text, exactly as written
	// (case-sensitive); "" needs nothing.
	literal := func(text string) bool {
		if text == "" {
			return true
		}
		if i >= len(subs) || subs[i].Op != syntax.OpLiteral || subs[i].Flags&syntax.FoldCase != 0 || string(subs[i].Rune) != text {
			return false
		}
		i++
		return true
	}
	if !literal(before) || i >= len(subs) || subs[i].Op != syntax.OpCapture || subs[i].Name != "token" || countCaptures(re) != 1 {
		return "", cannot
	}
	tok := subs[i]
	i++
	if !literal(after) {
		return "", cannot
	}
	for ; i < len(subs); i++ {
		if !zeroWidth(subs[i]) {
			return "", cannot
		}
	}
	if regexp.MustCompile(tok.Sub[0].String()).MatchString("") {
		return "", "the token group matches the empty string"
	}
	return p, ""
}

// headerRegex finds the header a VGS REGEX on headers targets. The pattern
// must read "Name:" [spaces] then the whole rest of the line (.*, .+ or
// [^\r\n]*, as the token group or ungrouped), since a native header target
// replaces the whole value of the named header.
func headerRegex(p, replacement string) (name, why string) {
	if why := checkRE2(p); why != "" {
		return "", "the pattern " + why
	}
	if replacement != defaultReplacement {
		return "", fmt.Sprintf("replacement %q cannot be expressed (aliasgate puts the alias where the value was)", replacement)
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return "", "the pattern does not compile"
	}
	subs, i := concatSubs(re)
	const noName = "the pattern does not start with a header name and ':', so the header it targets is unknown"
	if i >= len(subs) || subs[i].Op != syntax.OpLiteral {
		return "", noName
	}
	name, rest, ok := strings.Cut(string(subs[i].Rune), ":")
	if !ok || !headerToken.MatchString(name) {
		return "", noName
	}
	if subs[i].Flags&syntax.FoldCase != 0 {
		name = textproto.CanonicalMIMEHeaderKey(strings.ToLower(name))
	}
	if strings.Trim(rest, " \t") != "" {
		return "", "the pattern matches part of the header value; a native header target replaces the whole value"
	}
	i++
	for i < len(subs) && spaceRun(subs[i]) {
		i++
	}
	if i >= len(subs) {
		return "", "the pattern has no value part"
	}
	v := subs[i]
	if v.Op == syntax.OpCapture {
		if v.Name != "" && v.Name != "token" {
			return "", fmt.Sprintf("the value is in group %q, not token", v.Name)
		}
		v = v.Sub[0]
	}
	if !wholeLine(v) {
		return "", "the pattern matches part of the header value; a native header target replaces the whole value"
	}
	for i++; i < len(subs); i++ {
		if !zeroWidth(subs[i]) {
			return "", "the pattern matches past the header value"
		}
	}
	return name, ""
}

var headerToken = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")

// concatSubs returns the parts of a concatenation (re alone when it is
// not one) and the index of the first that is not zero-width.
func concatSubs(re *syntax.Regexp) (subs []*syntax.Regexp, first int) {
	subs = []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	for first < len(subs) && zeroWidth(subs[first]) {
		first++
	}
	return subs, first
}

func zeroWidth(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	return false
}

// spaceRun reports whether re matches only spaces and tabs (" ", " *", \s*, …).
func spaceRun(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return strings.Trim(string(re.Rune), " \t") == ""
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return spaceRun(re.Sub[0])
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r != ' ' && r != '\t' && r != '\n' && r != '\r' && r != '\f' && r != '\v' {
					return false
				}
			}
		}
		return true
	}
	return false
}

// wholeLine reports whether re is a repetition (* or +) of "any character
// but line ends".
func wholeLine(re *syntax.Regexp) bool {
	if re.Op != syntax.OpStar && re.Op != syntax.OpPlus {
		return false
	}
	sub := re.Sub[0]
	switch sub.Op {
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return true
	case syntax.OpCharClass:
		// Every rune but at most '\n' and '\r' must be in the class.
		next := rune(0)
		for i := 0; i+1 < len(sub.Rune); i += 2 {
			for r := next; r < sub.Rune[i]; r++ {
				if r != '\n' && r != '\r' {
					return false
				}
			}
			next = sub.Rune[i+1] + 1
		}
		return next > 0x10FFFF
	}
	return false
}

func countCaptures(re *syntax.Regexp) int {
	n := 0
	if re.Op == syntax.OpCapture {
		n++
	}
	for _, s := range re.Sub {
		n += countCaptures(s)
	}
	return n
}

func namedCapture(re *syntax.Regexp, name string) *syntax.Regexp {
	if re.Op == syntax.OpCapture && re.Name == name {
		return re
	}
	for _, s := range re.Sub {
		if c := namedCapture(s, name); c != nil {
			return c
		}
	}
	return nil
}

// stripCaptures turns every capturing group but keep into its contents.
func stripCaptures(re, keep *syntax.Regexp) *syntax.Regexp {
	for re.Op == syntax.OpCapture && re != keep {
		re = re.Sub[0]
	}
	for i, s := range re.Sub {
		re.Sub[i] = stripCaptures(s, keep)
	}
	return re
}

// reprint writes the pattern p with its groups other than keep made
// non-capturing. The text of p is kept when that rewrite parses to the same
// tree as re (p's tree with those groups removed); else re is printed.
func reprint(p, keep string, re *syntax.Regexp) (string, string) {
	s := re.String()
	if text := nonCapturing(p, keep); text != p {
		if t, err := syntax.Parse(text, syntax.Perl); err == nil && t.String() == s {
			s = text
		}
	}
	c, err := regexp.Compile(s)
	if err != nil || c.NumSubexp() > 1 {
		return "", "the pattern cannot be rewritten for RE2"
	}
	return s, ""
}
