package vgs

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// VGS evaluates regular expressions with Java's engine; aliasgate with Go's
// RE2. javaOnly finds the Java constructs RE2 lacks, and the ones RE2 would
// accept but read differently (so a compile check alone would not catch
// them). It returns "" when there are none, else a phrase that follows
// "the pattern".
func javaOnly(p string) string {
	skipTo := 0 // the end of a group's "(?" head, whose '?' quantifies nothing
	for t := range javaTokens(p) {
		switch t.kind {
		case tokEscape:
			switch next := t.escaped(p); {
			case next >= '1' && next <= '9' && !t.inClass:
				return "uses a backreference, which RE2 lacks"
			case next == '0':
				return `uses an octal escape \0, which RE2 reads differently`
			case next == 'k':
				return `uses a named backreference \k<…>, which RE2 lacks`
			case next == 'v':
				return `uses \v, which RE2 reads differently (vertical whitespace in Java, one control character in RE2)`
			case next != 0 && strings.IndexByte("hHRXGZVeu", next) >= 0:
				return fmt.Sprintf(`uses \%c, which RE2 lacks`, next)
			}
			continue
		case tokQuoted:
			if t.end-t.start == len(`\Q\E`) && quantifier(t.after(p)) {
				return `quantifies an empty \Q\E, which Java reads as quantifying what comes before it (a quantifier on a quantifier: ignored) and RE2 otherwise`
			}
			continue
		case tokChar:
		default:
			continue
		}
		if t.start < skipTo {
			continue
		}
		ch, next := p[t.start], t.after(p)
		if t.inClass {
			switch {
			case ch == '[':
				return "uses a nested character class, which RE2 reads differently (a union in Java, a literal '[' in RE2)"
			case ch == '&' && next == '&':
				return "uses a character class intersection &&, which RE2 lacks"
			}
			continue
		}
		switch ch {
		case '(':
			if next != '?' {
				continue
			}
			rest := p[t.end+1:]
			switch {
			case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"):
				return "uses a lookahead, which RE2 lacks"
			case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"):
				return "uses a lookbehind, which RE2 lacks"
			case strings.HasPrefix(rest, ">"):
				return "uses an atomic group, which RE2 lacks"
			case strings.Contains(flagsOn(rest), "U"):
				return "uses the flag (?U), which RE2 reads differently (Unicode character classes in Java, lazy quantifiers in RE2)"
			}
			if _, _, n, scoped := flagGroup(p[t.end:]); n > 0 && !scoped && t.end+n < len(p) && quantifier(p[t.end+n]) {
				// a(?i){2}: Java matches "a", RE2 "aa".
				return "quantifies an inline flag group (?…), which Java ignores and RE2 applies to what comes before it"
			}
			skipTo = t.end + 1
		case '*', '+', '?', '}':
			// The braces of \p{L}, \x{41} and \N{…} are their escape's
			// (javaTokens), so a '+' after them is a quantifier.
			if next == '+' {
				return "uses a possessive quantifier, which RE2 lacks"
			}
		}
	}
	return ""
}

// quantifier reports whether c starts a quantifier.
func quantifier(c byte) bool { return c != 0 && strings.IndexByte("*+?{", c) >= 0 }

// flagsOn returns the flags an inline flag group turns on, (?iU) or
// (?iU-s:…), whose text after "(?" is rest; "" when rest is another
// construct. (?-U) turns Java's default back on, which RE2's is too.
func flagsOn(rest string) string {
	j := 0
	for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z' || rest[j] == '-') {
		j++
	}
	if j == 0 || j >= len(rest) || rest[j] != ':' && rest[j] != ')' {
		return ""
	}
	on, _, _ := strings.Cut(rest[:j], "-")
	return on
}

// javaDotClass is the class Java's '.' is outside (?s) mode: any
// character but a line terminator (\n, \r, U+0085, U+2028, U+2029). It
// names no letter, so (?i) is off inside it (javaFold leaves it alone).
const javaDotClass = `(?-i:[^\n\r\x{85}\x{2028}\x{2029}])`

// javaDots rewrites, in the text of the Java pattern p, every '.' that is
// not in (?s) mode into javaDotClass: RE2's '.' stops at \n only, so kept
// as written it would match past a \r (a CRLF line end) where VGS stops.
// It reads the text (javaTokens: not an escaped or quoted '.', nor one in
// a class), following the (?s) flag through the groups, not RE2's parse
// tree: RE2 parses a class [^\n] into the very node of '.', and that class
// is any character but \n in Java, a \r included (it was rewritten as a
// '.', and matched less than VGS: a value with a \r or a U+2028 in it was
// cut there, and the rest sent on as it was). p is returned as written
// when it has no such '.'.
func javaDots(p string) string {
	var b strings.Builder
	dotAll := false
	var outer []bool // the (?s) state outside each open group
	skipTo := 0      // the end of a group's head, "(?flags:" or "(?flags)"
	changed := false
	for t := range javaTokens(p) {
		text := p[t.start:t.end]
		if t.start < skipTo || t.kind != tokChar || t.inClass {
			b.WriteString(text)
			continue
		}
		switch text[0] {
		case '.':
			if !dotAll {
				b.WriteString(javaDotClass)
				changed = true
				continue
			}
		case '(':
			on, off, n, scoped := flagGroup(p[t.end:])
			if n == 0 || scoped {
				outer = append(outer, dotAll)
			}
			if strings.Contains(on, "s") {
				dotAll = true
			}
			if strings.Contains(off, "s") {
				dotAll = false
			}
			skipTo = t.end + n
		case ')':
			if len(outer) > 0 {
				dotAll, outer = outer[len(outer)-1], outer[:len(outer)-1]
			}
		}
		b.WriteString(text)
	}
	if !changed {
		return p
	}
	return b.String()
}

// flagGroup reads the head of an inline flag group after its '(': rest is
// "?is-m)…" (the flags set for the rest of the enclosing group) or
// "?is-m:…" (for the group it opens, scoped). n is the length of the head
// ("?is-m)" or "?is-m:"); 0 when rest is not a flag group.
func flagGroup(rest string) (on, off string, n int, scoped bool) {
	if !strings.HasPrefix(rest, "?") {
		return "", "", 0, false
	}
	j := 1
	for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z' || rest[j] == '-') {
		j++
	}
	if j == 1 || j >= len(rest) || rest[j] != ':' && rest[j] != ')' {
		return "", "", 0, false
	}
	on, off, _ = strings.Cut(rest[1:j], "-")
	return on, off, j + 1, rest[j] == ':'
}

// lineEnd is one Java line terminator.
const lineEnd = `(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}])`

// javaDollar rewrites a '$' that ends the RE2 pattern p (a body pattern
// with at most one group, the one a native regex target replaces) so that
// it matches where Java's does. Java's '$' also matches before a line
// terminator that ends the input ((?m): before any line terminator), RE2's
// only at the end ((?m): before \n): "card=(?<token>\d{16})$" never matched
// "card=4111…1111\n", and the filter sent the card number on unchanged. RE2
// has no lookahead, so the final terminator becomes part of the match,
// outside the replaced group: p$ is written (p)(?:\r\n|[…])?\z, or, when
// p has its group, p(?:\r\n|[…])?\z; (?m) makes the terminator or \z
// required, p(?:\r\n|[…]|\z). why is non-empty for a '$' elsewhere, or
// after something that may end in \r (Java's '$' never matches between \r
// and \n, the rewritten one would).
func javaDollar(p string) (string, string) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return p, ""
	}
	dollar := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpEndLine || r.Op == syntax.OpEndText && r.Flags&syntax.WasDollar != 0
	}
	count := 0
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		if dollar(r) {
			count++
		}
		for _, s := range r.Sub {
			walk(s)
		}
	}
	walk(re)
	if count == 0 {
		return p, ""
	}
	const cannot = "the pattern has a '$' that is not its end; Java's '$' also matches before a final line terminator, which RE2 cannot say there"
	if count > 1 || re.Op != syntax.OpConcat || len(re.Sub) < 2 || !dollar(re.Sub[len(re.Sub)-1]) {
		return "", cannot
	}
	last := re.Sub[len(re.Sub)-1]
	head := &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: re.Sub[:len(re.Sub)-1]}
	if mayEndWithCR(head) {
		return "", "the pattern's '$' follows what may end in \\r; Java's '$' never matches between \\r and \\n, which RE2 cannot say"
	}
	text := head.String()
	if countCaptures(head) == 0 {
		text = "(" + text + ")"
	} else {
		text = "(?:" + text + ")"
	}
	if last.Op == syntax.OpEndLine {
		return text + `(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}]|\z)`, ""
	}
	return text + lineEnd + `?\z`, ""
}

// javaSpace is the class Java's \s is: RE2's lacks \x0B (vertical tab).
const javaSpace = `\t\n\x0B\f\r `

// javaSpaces rewrites the \s and \S of the Java pattern p, in its text, as
// the classes Java reads: \s is [\t\n\x0B\f\r ], RE2's \s lacks \x0B (so
// RE2's \S takes it). Inside a class, \S becomes the ranges of every other
// character. p is returned as written when it has neither.
func javaSpaces(p string) string {
	if !strings.Contains(p, `\s`) && !strings.Contains(p, `\S`) {
		return p
	}
	var b strings.Builder
	for t := range javaTokens(p) {
		switch {
		case t.kind == tokEscape && t.escaped(p) == 's':
			if t.inClass {
				b.WriteString(javaSpace)
			} else {
				b.WriteString("[" + javaSpace + "]")
			}
		case t.kind == tokEscape && t.escaped(p) == 'S':
			if t.inClass {
				b.WriteString(`\x00-\x08\x0E-\x1F\x21-\x{10FFFF}`)
			} else {
				b.WriteString("[^" + javaSpace + "]")
			}
		default:
			b.WriteString(p[t.start:t.end])
		}
	}
	return b.String()
}

// javaLineStart reports whether the RE2 pattern p has a (?m)^, which
// matches after \n only where Java's also matches after a lone \r, U+0085,
// U+2028 and U+2029. RE2 has no lookbehind to say that.
func javaLineStart(p string) bool {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return false
	}
	var walk func(*syntax.Regexp) bool
	walk = func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpBeginLine || slices.ContainsFunc(r.Sub, walk)
	}
	return walk(re)
}

// mayEndWithCR reports whether a match of re may end with a \r; true when
// that is not plain.
func mayEndWithCR(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 0 || re.Rune[len(re.Rune)-1] == '\r'
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\r' && '\r' <= re.Rune[i+1] {
				return true
			}
		}
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return mayEndWithCR(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || mayEndWithCR(re.Sub[0])
	case syntax.OpConcat:
		for i := len(re.Sub) - 1; i >= 0; i-- {
			s := re.Sub[i]
			switch s.Op {
			case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
				continue
			}
			return mayEndWithCR(s)
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if mayEndWithCR(s) {
				return true
			}
		}
		return false
	}
	return true
}

// checkRE2 returns "" when the Java pattern p means the same under RE2 and
// compiles there, else why not.
func checkRE2(p string) string {
	if why := javaOnly(p); why != "" {
		return why
	}
	if _, err := regexp.Compile(p); err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return fmt.Sprintf("does not compile as an RE2 regular expression (%s: %q)", se.Code, se.Expr)
		}
		return "does not compile as an RE2 regular expression"
	}
	return ""
}

// nonCapturing rewrites, in the pattern's text, every capturing group but
// the one named keep ("" keeps none) into a non-capturing group, leaving the
// rest as written. Callers check the result against the parse tree.
func nonCapturing(p, keep string) string {
	var b strings.Builder
	skipTo := 0 // the end of a group's name that was dropped
	for t := range javaTokens(p) {
		if t.start < skipTo {
			continue
		}
		if t.kind != tokChar || t.inClass || p[t.start] != '(' {
			b.WriteString(p[t.start:t.end])
			continue
		}
		rest := p[t.end:]
		if !strings.HasPrefix(rest, "?") {
			b.WriteString("(?:")
			continue
		}
		head := 0
		switch {
		case strings.HasPrefix(rest, "?P<"):
			head = 3
		case strings.HasPrefix(rest, "?<") && !strings.HasPrefix(rest, "?<=") && !strings.HasPrefix(rest, "?<!"):
			head = 2
		}
		if end := strings.IndexByte(rest, '>'); head > 0 && end > head && rest[head:end] != keep {
			b.WriteString("(?:")
			skipTo = t.end + end + 1
			continue
		}
		b.WriteByte('(')
	}
	return b.String()
}

// The code points outside ASCII that Unicode case folding joins to ASCII
// letters: ſ (U+017F) to s, the Kelvin sign (U+212A) to k.
const longS, kelvin = 0x17F, 0x212A

// javaFold rewrites the case-insensitive parts ((?i)) of the RE2 pattern
// p as Java reads them. Java's CASE_INSENSITIVE folds US-ASCII letters
// only; RE2's (?i) folds Unicode: (?i)tok_[a-z]+ took "tok_ſ" (ſ folds to
// s) and (?i)[^a-z]+ stopped at it, where Java's does the opposite. A
// letter becomes the class of its two ASCII cases; a class loses ſ and the
// Kelvin sign, or, when it is the complement of a set (a negated class,
// \W, \S…), gets them back. That reading needs a pattern written in ASCII
// without \p, \P or an escape of a code point outside ASCII (else its
// classes may hold letters whose cases Java does not join; ascii says
// whether the pattern as VGS has it is one, asciiOnlyPattern): why is
// non-empty for another pattern with (?i). p is returned as written when
// it has no (?i).
func javaFold(p string, ascii bool) (string, string) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return p, ""
	}
	const cannot = "the pattern is case-insensitive ((?i)) and names letters outside ASCII, whose cases Java's (?i) does not join and RE2's does"
	changed, why := false, ""
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		for _, s := range r.Sub {
			walk(s)
		}
		if r.Flags&syntax.FoldCase == 0 || r.Op != syntax.OpLiteral && r.Op != syntax.OpCharClass {
			return
		}
		if !ascii {
			if foldsOutsideASCII(r) {
				why = cannot
			}
			return
		}
		switch r.Op {
		case syntax.OpLiteral:
			var subs []*syntax.Regexp
			flags := r.Flags &^ syntax.FoldCase
			for _, c := range r.Rune {
				lo, up := unicode.ToLower(c), unicode.ToUpper(c)
				if c < utf8.RuneSelf && lo != up && lo < utf8.RuneSelf && up < utf8.RuneSelf {
					subs = append(subs, &syntax.Regexp{Op: syntax.OpCharClass, Flags: flags, Rune: []rune{up, up, lo, lo}})
					changed = true
				} else {
					subs = append(subs, &syntax.Regexp{Op: syntax.OpLiteral, Flags: flags, Rune: []rune{c}})
				}
			}
			if len(subs) == 1 {
				*r = *subs[0]
			} else {
				*r = syntax.Regexp{Op: syntax.OpConcat, Flags: flags, Sub: subs}
			}
		case syntax.OpCharClass:
			if j := javaFoldClass(r.Rune); !slices.Equal(j, r.Rune) {
				r.Rune, changed = j, true
			}
		}
	}
	walk(re)
	switch {
	case why != "":
		return "", why
	case !changed:
		return p, ""
	}
	return re.String(), ""
}

// foldsOutsideASCII reports whether the case-insensitive literal or class
// r holds a character outside ASCII that has other cases (or is too large
// a class to tell).
func foldsOutsideASCII(r *syntax.Regexp) bool {
	if r.Op == syntax.OpLiteral {
		return slices.ContainsFunc(r.Rune, func(c rune) bool { return c >= utf8.RuneSelf && unicode.SimpleFold(c) != c })
	}
	budget := 0x4000
	for i := 0; i+1 < len(r.Rune); i += 2 {
		for c := max(r.Rune[i], utf8.RuneSelf); c <= r.Rune[i+1]; c++ {
			if budget--; budget < 0 || unicode.SimpleFold(c) != c {
				return true
			}
		}
	}
	return false
}

// javaFoldClass returns the class ranges (RE2's folding of a class written
// in ASCII) as Java's (?i) reads the class: without ſ and the Kelvin sign
// when the class is a set of ASCII characters (they came from folding s
// and k), with them when it is the complement of one (it holds U+10FFFF;
// folding took them out with s and k, which Java's complement keeps out
// but not them).
func javaFoldClass(ranges []rune) []rune {
	in := func(c rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= c && c <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	var out []rune
	if in(unicode.MaxRune) {
		out = append(out, ranges...)
		out = append(out, longS, longS, kelvin, kelvin)
	} else {
		for i := 0; i+1 < len(ranges); i += 2 {
			lo, hi := ranges[i], ranges[i+1]
			for _, x := range []rune{longS, kelvin} {
				if lo <= x && x <= hi {
					if lo < x {
						out = append(out, lo, x-1)
					}
					lo = x + 1
				}
			}
			if lo <= hi {
				out = append(out, lo, hi)
			}
		}
	}
	// Sorted and merged, as a parsed class is.
	re := &syntax.Regexp{Op: syntax.OpCharClass, Rune: out}
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil || parsed.Op != syntax.OpCharClass {
		return out
	}
	return parsed.Rune
}

// asciiOnlyPattern reports whether the pattern p is written in ASCII and
// names no code point outside it: no \p or \P class, no \x escape of 0x80
// or more.
func asciiOnlyPattern(p string) bool {
	for t := range javaTokens(p) {
		text := p[t.start:t.end]
		for i := 0; i < len(text); i++ {
			if text[i] >= utf8.RuneSelf {
				return false
			}
		}
		if t.kind != tokEscape {
			continue
		}
		switch t.escaped(p) {
		case 'p', 'P':
			return false
		case 'x':
			if v, ok := strings.CutPrefix(text[2:], "{"); ok {
				// \x{…}: javaTokens ends it at its brace.
				v = strings.TrimLeft(strings.TrimSuffix(v, "}"), "0")
				if !strings.HasSuffix(text, "}") || len(v) > 2 || len(v) == 2 && strings.IndexByte("01234567", v[0]) < 0 {
					return false
				}
			} else if next := t.after(p); next == '{' || next != 0 && strings.IndexByte("89abcdefABCDEF", next) >= 0 {
				// An unclosed \x{, or \xHH from 0x80.
				return false
			}
		}
	}
	return true
}
