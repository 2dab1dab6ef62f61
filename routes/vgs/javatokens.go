package vgs

import (
	"iter"
	"strings"
)

// tokenKind is what one piece of a Java pattern's text is.
type tokenKind uint8

const (
	// tokChar is one byte that is not part of an escape or a quotation: a
	// literal or a metacharacter, by its context.
	tokChar tokenKind = iota
	// tokEscape is a backslash and what it escapes: one byte, or, for
	// \p{…}, \P{…}, \x{…} and \N{…}, everything up to the closing brace,
	// and for \cX the control letter X (any byte, '[' included). A
	// backslash that ends the pattern is an escape of its own.
	tokEscape
	// tokQuoted is \Q…\E, or \Q to the end of the pattern when no \E
	// follows: literal text in Java and in RE2.
	tokQuoted
	// tokClassOpen is the '[' that opens a character class (with the '^'
	// that negates it, when there is one).
	tokClassOpen
	// tokClassClose is the ']' that closes a character class.
	tokClassClose
)

// patternToken is one piece of a pattern's text, p[start:end].
type patternToken struct {
	start, end int
	kind       tokenKind
	// inClass is set for the pieces inside a character class: between its
	// tokClassOpen and its tokClassClose.
	inClass bool
}

// javaTokens splits the Java pattern p as Java's parser reads its text:
// escapes, quotations and character classes, where a ']' right after the
// class's '[' (or "[^") is a literal one. It is the one reading of a
// pattern's text that javaOnly, javaSpaces, javaDots, nonCapturing and
// asciiOnlyPattern share. Classes do not nest here: a '[' inside one is a
// tokChar (javaOnly refuses a pattern that has one: Java reads a nested
// class, RE2 a literal '['). The pieces cover p, in order, without gaps.
func javaTokens(p string) iter.Seq[patternToken] {
	return func(yield func(patternToken) bool) {
		inClass := false
		classStart := 0 // the offset of the class's first member
		for i := 0; i < len(p); {
			t := patternToken{start: i, kind: tokChar, inClass: inClass}
			switch ch := p[i]; {
			case ch == '\\':
				t.kind, t.end = escapeEnd(p, i)
			case inClass && ch == ']' && i > classStart:
				t.kind, t.inClass, t.end = tokClassClose, false, i+1
				inClass = false
			case !inClass && ch == '[':
				t.kind, t.end = tokClassOpen, i+1
				if strings.HasPrefix(p[i+1:], "^") {
					t.end++
				}
				inClass, classStart = true, t.end
			default:
				t.end = i + 1
			}
			if !yield(t) {
				return
			}
			i = t.end
		}
	}
}

// escapeEnd returns the kind and the end of the escape or quotation that
// starts with the backslash at p[i].
func escapeEnd(p string, i int) (tokenKind, int) {
	if i+1 >= len(p) {
		return tokEscape, i + 1
	}
	switch p[i+1] {
	case 'Q':
		end := strings.Index(p[i+2:], `\E`)
		if end < 0 {
			return tokQuoted, len(p)
		}
		return tokQuoted, i + 2 + end + 2
	case 'p', 'P', 'x', 'N':
		if strings.HasPrefix(p[i+2:], "{") {
			if end := strings.IndexByte(p[i+2:], '}'); end >= 0 {
				return tokEscape, i + 2 + end + 1
			}
		}
	case 'c':
		if i+2 < len(p) {
			return tokEscape, i + 3
		}
	}
	return tokEscape, i + 2
}

// escaped returns the byte a tokEscape escapes (0 for a lone backslash).
func (t patternToken) escaped(p string) byte {
	if t.end-t.start < 2 {
		return 0
	}
	return p[t.start+1]
}

// after returns the byte that follows the token (0 at the end of p).
func (t patternToken) after(p string) byte {
	if t.end < len(p) {
		return p[t.end]
	}
	return 0
}
