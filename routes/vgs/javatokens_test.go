package vgs

import (
	"strings"
	"testing"
)

// TestJavaTokens checks how javaTokens splits a pattern's text: the pieces
// cover it in order, and escapes, quotations and classes end where Java's
// parser ends them.
func TestJavaTokens(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want string // each piece as kind:text, '|' between; a '~' before a piece inside a class
	}{
		{`ab`, `c:a|c:b`},
		{`\d+`, `e:\d|c:+`},
		{`[]a]`, `o:[|~c:]|~c:a|x:]`},
		{`[^]a]`, `o:[^|~c:]|~c:a|x:]`},
		{`[a\]]`, `o:[|~c:a|~e:\]|x:]`},
		{`\Q[(\E)`, `q:\Q[(\E|c:)`},
		{`\Q[(`, `q:\Q[(`},
		{`[\Q]\E]`, `o:[|~q:\Q]\E|x:]`},
		{`\p{Nd}+`, `e:\p{Nd}|c:+`},
		{`\x{41}`, `e:\x{41}`},
		{`\x41`, `e:\x|c:4|c:1`},
		{`\p{L`, `e:\p|c:{|c:L`},
		{`\c[a`, `e:\c[|c:a`},
		{`\c\1`, `e:\c\|c:1`},
		{`a\`, `c:a|e:\`},
		{`[a[b]]`, `o:[|~c:a|~c:[|~c:b|x:]|c:]`},
	} {
		var got []string
		end := 0
		for tok := range javaTokens(tc.p) {
			if tok.start != end || tok.end <= tok.start {
				t.Fatalf("%q: piece [%d,%d) after %d", tc.p, tok.start, tok.end, end)
			}
			end = tok.end
			s := string("ceqox"[tok.kind]) + ":" + tc.p[tok.start:tok.end]
			if tok.inClass {
				s = "~" + s
			}
			got = append(got, s)
		}
		if end != len(tc.p) {
			t.Errorf("%q: pieces end at %d", tc.p, end)
		}
		if g := strings.Join(got, "|"); g != tc.want {
			t.Errorf("%q: %s, want %s", tc.p, g, tc.want)
		}
	}
}

// TestPatternWalkersReadJavaText checks the walkers built on javaTokens
// where a reading of their own went wrong: a '[' that \c takes, the braces
// of \x{…}, and text that \Q…\E quotes.
func TestPatternWalkersReadJavaText(t *testing.T) {
	if why := javaOnly(`\x{41}+`); why != "" {
		t.Errorf(`javaOnly(\x{41}+) = %q: the '+' quantifies the escape`, why)
	}
	if why := javaOnly(`\d{4}+`); !strings.Contains(why, "possessive") {
		t.Errorf(`javaOnly(\d{4}+) = %q, want a possessive quantifier`, why)
	}
	if why := javaOnly(`\c[(?=x)`); !strings.Contains(why, "lookahead") {
		t.Errorf(`javaOnly(\c[(?=x)) = %q: \c takes the '[', the lookahead is outside any class`, why)
	}
	if got := javaSpaces(`\c[\s]`); got != `\c[[`+javaSpace+`]]` {
		t.Errorf(`javaSpaces(\c[\s]) = %q: \c takes the '[', \s is outside any class`, got)
	}
	if got := javaSpaces(`\Q\s\E\s`); got != `\Q\s\E[`+javaSpace+`]` {
		t.Errorf(`javaSpaces = %q: a quoted \s is text`, got)
	}
	if got := nonCapturing(`\Q(\E(a)(?<n>b)(?<m>c)[(]`, "n"); got != `\Q(\E(?:a)(?<n>b)(?:c)[(]` {
		t.Errorf("nonCapturing = %q", got)
	}
	for p, want := range map[string]bool{
		`[a-z]+`:      true,
		`\Q\p\E[a-z]`: true, // \p quoted is text
		`\p{L}`:       false,
		`\x{7f}`:      true,
		`\x{80}`:      false,
		`\x{0041}`:    true,
		`\x{41`:       false,
		`\x7f`:        true,
		`\x80`:        false,
		`é`:           false,
		`\Qé\E`:       false,
	} {
		if got := asciiOnlyPattern(p); got != want {
			t.Errorf("asciiOnlyPattern(%q) = %v, want %v", p, got, want)
		}
	}
}
