package vgs

import (
	"regexp"
	"slices"
	"testing"
)

// TestBodyRegexFoldsCaseAsJava: a case-insensitive body pattern finds what
// Java's (ASCII-only case folding) finds, as Java 17's
// Pattern/Matcher.find report it (the token group's text); RE2's Unicode
// folding joined ſ (U+017F) to s and the Kelvin sign (U+212A) to k.
// Patterns naming letters outside ASCII are left out.
func TestBodyRegexFoldsCaseAsJava(t *testing.T) {
	tests := []struct {
		pattern, in string
		want        []string
	}{
		{`(?i)(?<token>tok_[a-z0-9]+)`, "tok_\u017f TOK_ab \u212aok_1", []string{"TOK_ab"}},
		{`(?i)(?<token>[^a-z]+)`, "4111111111111111\u017fx", []string{"4111111111111111\u017f"}},
		{`(?i)(?<token>\W+)`, "a\u017f\u212a;b", []string{"\u017f\u212a;"}},
		{`(?i)(?<token>[^\W]+)`, "a\u017fb", []string{"a", "b"}},
		{`(?i)(?<token>[^s]+)`, "as\u017fS1", []string{"a", "\u017f", "1"}},
		{`(?i)(?<prefix>k=)(?<token>\d+)`, "K=1 \u212a=2", []string{"1"}},
		{`(?i)(?<token>[0-9]+)`, "a12", []string{"12"}},
	}
	for _, tt := range tests {
		conv, why := bodyRegex(tt.pattern, defaultReplacement)
		if why != "" {
			t.Errorf("%s: refused: %s", tt.pattern, why)
			continue
		}
		re := regexp.MustCompile(conv)
		var got []string
		for _, m := range re.FindAllStringSubmatch(tt.in, -1) {
			if len(m) > 1 {
				got = append(got, m[1])
			} else {
				got = append(got, m[0])
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s (RE2 %s) on %q: %q, Java finds %q", tt.pattern, conv, tt.in, got, tt.want)
		}
	}
	for _, p := range []string{`(?i)(?<token>é\d+)`, `(?i)(?<token>\p{L}+)`, `(?i)(?<token>[^\x{e9}]+)`} {
		if conv, why := bodyRegex(p, defaultReplacement); why == "" {
			t.Errorf("%s: converted to %s; want it left out", p, conv)
		}
	}
}
