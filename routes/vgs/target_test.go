package vgs

import (
	"regexp"
	"strings"
	"testing"
)

func TestJSONPathBecomesGJSONPath(t *testing.T) {
	tests := []struct{ in, want, why string }{
		{"$.card.number", "card.number", ""},
		{"$.items[*].pan", "items.#.pan", ""},
		{"$.a[0].b", "a.0.b", ""},
		{"$.a[007]", "a.7", ""},
		{"$[0].pan", "0.pan", ""},
		// A member named by digits is that member only, never an element.
		{"$.cards.0.number", `cards.\0.number`, ""},
		{"$['saved']['12'].number", `saved.\12.number`, ""},
		{`$["0"]`, `\0`, ""},
		{"$.a1.b2", "a1.b2", ""},
		{"$.orders[*].cards[*].number", "orders.#.cards.#.number", ""},
		{"$['card']['number']", "card.number", ""},
		{`$["card"]["cvc"]`, "card.cvc", ""},
		{"$[ 'card' ].number", "card.number", ""},
		{"$.card_number", "card_number", ""},
		{"$.card-number", "card-number", ""},
		{"card.number", "card.number", ""}, // no root, as jsonpath-ng allows
		// From @, the node the path is evaluated on: the body, in VGS.
		{"@.card.number", "card.number", ""},
		{"@['card']['number']", "card.number", ""},
		{"$.account_number", "account_number", ""},
		{" $.pan ", "pan", ""},
		{"$..pan", "", "recursive descent"},
		{"$.items..pan", "", "recursive descent"},
		{"$.items[?(@.type=='card')].pan", `items.#(type=="card")#.pan`, ""},
		{"$.items[?(@.type!='card')].pan", "", "filter expression"},
		{"$.items[(@.length-1)]", "", "script expression"},
		{"$.items[0:2].pan", "", "array slice"},
		{"$.items[0,1].pan", "", "union"},
		{"$['a','b']", "", "union"},
		{"$.items[-1].pan", "", "negative index"},
		{"$.*", "", "object wildcard"},
		{"$.card.*", "", "object wildcard"},
		{"$", "", "whole document"},
		{"", "", "empty path"},
		{"$.pans[*]", `pans.#(%"*")#`, ""},
		{"$[*]", `#(%"*")#`, ""},
		{"$.cards[*].pans[*]", `cards.#.pans.#(%"*")#`, ""},
		{"$.pan.length()", "", "function call"},
		{"$['card.number']", `card\.number`, ""},
		{"$['a@b']['c|d']", `a\@b.c\|d`, ""},
		{"$['#'][*]['x*?']", `\#.#.x\*\?`, ""},
		{"$['$ref']", `\$ref`, ""},
		{"$['.hidden']", `\.hidden`, ""},
		{`$['back\\slash']`, `back\\slash`, ""},
		// Escapes in a quoted key are JSONPath's (Jayway, RFC 9535).
		{`$['c\u0061rd']['numb\u0065r']`, "card.number", ""},
		{`$["it\'s"]["say \"hi\""]`, `it's.say "hi"`, ""},
		{`$['\u0030']`, `\0`, ""},
		{`$['a\/b']`, "a/b", ""},
		{`$['a\qb']`, "", "escape"},
		{`$['a\nb']`, "", "control characters"},
		{"$['a\x01']", "", "control characters"},
		{"$['']", "", "empty key"},
		{"$.a[", "", "malformed bracket"},
		{"$.a['b'", "", "malformed bracket"},
		{"$.a['b", "", "unterminated"},
		{"$.a.", "", "ends with a dot"},
		{"$.a[x]", "", "unsupported selector"},
		{"$x", "", "unexpected"},
	}
	for _, tt := range tests {
		got, why := jsonPath(tt.in)
		if tt.why != "" {
			if !strings.Contains(why, tt.why) {
				t.Errorf("jsonPath(%q) = %q, %q; want a reason containing %q", tt.in, got, why, tt.why)
			}
			continue
		}
		if got != tt.want || why != "" {
			t.Errorf("jsonPath(%q) = %q, %q; want %q", tt.in, got, why, tt.want)
		}
	}
}

func TestXPathBecomesElementPath(t *testing.T) {
	tests := []struct{ in, want, why string }{
		{"/payment/card/pan", "/payment/card/pan", ""},
		{"/payment/card/pan/text()", "/payment/card/pan", ""},
		{"/Request/Card_Number", "/Request/Card_Number", ""},
		{"//pan", "", "descendant axis"},
		{"/a//pan", "", "descendant axis"},
		{"/a/b[1]", "", "predicate"},
		{"/a/b[@type='x']", "", "predicate"},
		{"/a/@pan", "", "attribute"},
		{"/a/*", "", "wildcard"},
		{"a/b", "", "relative path"},
		{"/a/../b", "", "relative step"},
		{"/soap:Envelope/soap:Body/pan", "/soap:Envelope/soap:Body/pan", ""},
		{"/ns:a:b", "", "not an element name"},
		{"/:a", "", "not an element name"},
		{"/Zahlung/Kartennummer/Prüfziffer", "/Zahlung/Kartennummer/Prüfziffer", ""},
		{"/a/child::b", "", "axis"},
		{"/a/b/", "", "empty step"},
		{"/a/count(b)", "", "function"},
		{"/a/1b", "", "not an element name"},
		{"", "", "empty path"},
	}
	for _, tt := range tests {
		got, why := xmlPath(tt.in)
		if tt.why != "" {
			if !strings.Contains(why, tt.why) {
				t.Errorf("xmlPath(%q) = %q, %q; want a reason containing %q", tt.in, got, why, tt.why)
			}
			continue
		}
		if got != tt.want || why != "" {
			t.Errorf("xmlPath(%q) = %q, %q; want %q", tt.in, got, why, tt.want)
		}
	}
}

func TestBodyRegexKeepsVGSReplacementSemantics(t *testing.T) {
	tests := []struct{ in, repl, want, why string }{
		{`\b[0-9]{13,19}\b`, "%s", `\b[0-9]{13,19}\b`, ""},
		{`(?<token>\d{16})`, "%s", `(?<token>\d{16})`, ""},
		{`\b(?<token>4[0-9]{12}(?:[0-9]{3})?)\b`, "%s", `\b(?<token>4[0-9]{12}(?:[0-9]{3})?)\b`, ""},
		{`(?i)(?<token>[0-9]+)`, "%s", `(?i)(?<token>[0-9]+)`, ""},
		// Without a token group VGS aliases the whole match: groups go.
		{`\b(4[0-9]{12}(?:[0-9]{3})?)\b`, "%s", `\b(?:4[0-9]{12}(?:[0-9]{3})?)\b`, ""},
		{`(\d{4})-(\d{4})`, "%s", `(?:\d{4})-(?:\d{4})`, ""},
		{`\Q(x)\E(\d+)`, "%s", `\Q(x)\E(?:\d+)`, ""},
		// prefix + alias(token) + suffix = the match with token replaced.
		{`(?<prefix>card=)(?<token>\d+)(?<suffix>&)`, "%s", `(?:card=)(?<token>\d+)(?:&)`, ""},
		{`(?<prefix>card:\s?)(?<token>5[1-5][0-9]{14})`, "%s", `(?:card:[\t\n\x0B\f\r ]?)(?<token>5[1-5][0-9]{14})`, ""},
		{`(?P<prefix>a)(?P<token>\d+)`, "%s", `(?:a)(?P<token>\d+)`, ""},
		{`(?<token>(\d{4})+)`, "%s", `(?<token>(?:\d{4})+)`, ""},
		{`\d*`, "%s", "", "matches the empty string"},
		{`(?<token>\d*)`, "%s", "", "matches the empty string"},
		{`\d+`, "", "", "replacement"}, // "" is normalized to %s by the caller; here it is literal
		{`\d+`, "x", "", "replacement"},
		{`(?<token>\d+)`, "%s:${token}", "", "replacement"},
		{`card=(?<token>\d+)`, "%s", "", "outside its token"},
		// Text around %s: the same literal text around the token group.
		{`pan=(?<token>[0-9]{13,19})`, "pan=%s", `pan=(?<token>[0-9]{13,19})`, ""},
		{`\b(?<token>\d{16})&`, "%s&", `\b(?<token>\d{16})&`, ""},
		{`"pan":"(?<token>\d+)"`, `"pan":"%s"`, `"pan":"(?<token>\d+)"`, ""},
		{`pan=(?<token>\d+)`, "card=%s", "", "replacement"},
		{`pan=\d+`, "pan=%s", "", "replacement"},
		{`(?i)pan=(?<token>\d+)`, "pan=%s", "", "replacement"},
		{`pan=(?<token>\d+)(?<x>&)`, "pan=%s", "", "replacement"},
		{`pan=(?<token>\d*)`, "pan=%s", "", "matches the empty string"},
		{`pan=(?<token>\d+)`, "pan=%s%s", "", "replacement"},
		{`(?<suffix>A)(?<token>\d+)(?<prefix>B)`, "%s", "", "outside its token"},
		{`x|(?<token>\d+)`, "%s", "", "outside its token"},
		{`(?:(?<token>\d+))+`, "%s", "", "outside its token"},
		{`(?<=pan=)\d+`, "%s", "", "lookbehind"},
		{`\d+(?=&)`, "%s", "", "lookahead"},
		{`(?>\d+)`, "%s", "", "atomic group"},
		{`\d++`, "%s", "", "possessive"},
		{`(\d)\1`, "%s", "", "backreference"},
		{`(?<d>\d)\k<d>`, "%s", "", "named backreference"},
		{`[0-9&&[^5]]+`, "%s", "", "intersection"},
		{`[[0-9][a-f]]+`, "%s", "", "nested character class"},
		{`[a&&b]`, "%s", "", "intersection"},
		{`\v+`, "%s", "", `\v`},
		{`\h+`, "%s", "", `\h`},
		{`\u0041`, "%s", "", `\u`},
		{`\012`, "%s", "", "octal"},
		{`\d{2,1}`, "%s", "", "does not compile"},
		{`(?x) \d+ # digits`, "%s", "", "does not compile"},
		{`[`, "%s", "", "does not compile"},
		// Java's '.' stops at \r, U+0085, U+2028 and U+2029 too; (?s) and
		// a class keep theirs.
		{`PAN: (?<token>.+)`, "PAN: %s", `PAN: (?<token>(?-i:[^\n\r\x{85}\x{2028}\x{2029}])+)`, ""},
		{`\d{4}.\d{4}`, "%s", `\d{4}(?-i:[^\n\r\x{85}\x{2028}\x{2029}])\d{4}`, ""},
		{`(?s)pan=(?<token>.+)`, "pan=%s", `(?s)pan=(?<token>.+)`, ""},
		{`[.]\d+`, "%s", `[.]\d+`, ""},
		// Java's '$' also matches before a final line terminator ((?m):
		// before any); the terminator is matched outside the group.
		{`card=(?<token>\d{16})$`, "card=%s", `(?:card=(?P<token>[0-9]{16}))(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}])?\z`, ""},
		{`\b\d{16}$`, "%s", `(\b[0-9]{16})(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}])?\z`, ""},
		{`(?m)^PAN: (?<token>\d+)$`, "PAN: %s", `(?:(?m:^PAN: (?P<token>[0-9]+)))(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}]|\z)`, ""},
		{`\d{16}\z`, "%s", `\d{16}\z`, ""},
		{`(?<token>\d+$)`, "%s", "", "'$'"},
		{`\d{16}$|x\d+`, "%s", "", "'$'"},
		{`[\s\S]{16}$`, "%s", "", `\r`},
		// Java's \s takes \x0B, RE2's does not.
		{`pan:\s*(?<token>\S+)`, "pan:%s", "", "replacement"},
		{`\S{16}`, "%s", `[^\t\n\x0B\f\r ]{16}`, ""},
		{`[\s,]\d{16}`, "%s", `[\t\n\x0B\f\r ,]\d{16}`, ""},
		{`[^\S]\d{16}`, "%s", `[^\x00-\x08\x0E-\x1F\x21-\x{10FFFF}]\d{16}`, ""},
		{`\Q\s\E\d{16}`, "%s", `\Q\s\E\d{16}`, ""},
		{`\\s\d{16}`, "%s", `\\s\d{16}`, ""},
		// (?U): Unicode classes in Java, lazy quantifiers in RE2.
		{`(?U)card=(?<token>\d+)`, "card=%s", "", "(?U)"},
		{`(?iU)\d+`, "%s", "", "(?U)"},
		{`(?i-U:\d+)`, "%s", `(?i-U:\d+)`, ""},
	}
	for _, tt := range tests {
		got, why := bodyRegex(tt.in, tt.repl)
		if tt.why != "" {
			if !strings.Contains(why, tt.why) {
				t.Errorf("bodyRegex(%q, %q) = %q, %q; want a reason containing %q", tt.in, tt.repl, got, why, tt.why)
			}
			continue
		}
		if got != tt.want || why != "" {
			t.Errorf("bodyRegex(%q, %q) = %q, %q; want %q", tt.in, tt.repl, got, why, tt.want)
			continue
		}
		re := regexp.MustCompile(got)
		if strings.HasSuffix(tt.in, "$") {
			// Where Java's '$' matches: group 1 is the value, the line end
			// stays outside it.
			bodies := []string{"card=4111111111111111", "card=4111111111111111\n", "card=4111111111111111\r\n"}
			if strings.HasPrefix(tt.in, "(?m)") {
				bodies = []string{"PAN: 4111111111111111", "x\r\nPAN: 4111111111111111\r\nPAN: 5555555555554441\r\n"}
			}
			for _, body := range bodies {
				m := re.FindAllStringSubmatch(body, -1)
				if len(m) != strings.Count(body, "PAN")+strings.Count(body, "card") || len(m[0]) != 2 || m[0][1] != "4111111111111111" || len(m) > 1 && m[1][1] != "5555555555554441" {
					t.Errorf("bodyRegex(%q) = %q: %q gives %q", tt.in, got, body, m)
				}
			}
		}
		if strings.Contains(tt.in, `\s`) && !strings.Contains(tt.in, `\Q`) && !strings.Contains(tt.in, `\\s`) && re.MatchString("\x0B4111111111111111") != re.MatchString(" 4111111111111111") {
			t.Errorf("bodyRegex(%q) = %q reads \\x0B other than a space, as Java's \\s does not", tt.in, got)
		}
		replaced := re.FindStringSubmatch("PAN: 4111\r1111\r\n")
		if len(replaced) > 1 {
			replaced = replaced[1:] // a native regex target replaces group 1
		}
		if !strings.Contains(tt.in, "(?s)") && len(replaced) > 0 && strings.Contains(replaced[0], "\r") {
			t.Errorf("bodyRegex(%q) = %q matches a \\r, which Java's '.' does not", tt.in, got)
		}
		if n := re.NumSubexp(); n > 1 || (n == 1 && strings.Contains(tt.in, "token") && re.SubexpNames()[1] != "token") {
			t.Errorf("bodyRegex(%q) = %q: group 1 is not the token (%d groups)", tt.in, got, n)
		}
	}
}

func TestXMLOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/b/c", true},
		{"/a/b/c", "/a/b", true},
		{"/a/b", "/a/c", false},
		{"/a/b", "/x/b", false},
		{"/s:a/b", "/a/b", true},
		{"/a/b", "/s:a/b", true},
		{"/s:a/b", "/t:a/b", true}, // s and t may name one namespace
	}
	for _, tt := range tests {
		if got := xmlOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("xmlOverlap(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestHeaderRegexNamesTheHeader(t *testing.T) {
	tests := []struct{ in, want, why string }{
		{`X-Card-Number: (?<token>.*)`, "X-Card-Number", ""},
		{`^X-Card: (.+)$`, "X-Card", ""},
		{`(?i)x-pan:\s*(.*)`, "X-Pan", ""},
		{`X-Card:(?<token>[^\r\n]+)`, "X-Card", ""},
		{`X-Card: .*`, "X-Card", ""},
		{`Authorization: Bearer (?<token>.+)`, "", "part of the header value"},
		{`X-Card: (?<token>\d+)`, "", "part of the header value"},
		{`X-Card: (?<token>.*);`, "", "past the header value"},
		{`X-Card: (?<other>.*)`, "", `group "other"`},
		{`(?<token>\d{16})`, "", "header it targets is unknown"},
		{`X Card: (.*)`, "", "header it targets is unknown"},
		{`X-Card:`, "", "no value part"},
		{`X-Card: (?<=a)(.*)`, "", "lookbehind"},
	}
	for _, tt := range tests {
		got, why := headerRegex(tt.in, "%s")
		if tt.why != "" {
			if !strings.Contains(why, tt.why) {
				t.Errorf("headerRegex(%q) = %q, %q; want a reason containing %q", tt.in, got, why, tt.why)
			}
			continue
		}
		if got != tt.want || why != "" {
			t.Errorf("headerRegex(%q) = %q, %q; want %q", tt.in, got, why, tt.want)
		}
	}
	if _, why := headerRegex(`X-Card: (.*)`, "tok_%s"); !strings.Contains(why, "replacement") {
		t.Errorf("a custom replacement on a header was accepted: %q", why)
	}
}

// TestJavaDotsFollowsTheText: Java's '.' stops at every line terminator
// outside (?s) mode, and a class [^\n] does not (a \r is in it). RE2
// parses [^\n] into the node of '.' (where the class is a branch of its
// own, as in a group), so the rewrite that read the parse tree made it
// Java's '.': "x(?:[^\n])+" stopped at a \r or a U+2028 where
// VGS goes on to the end of the line, and the rest of the value was sent
// unredacted. The rewrite reads the text now, the (?s) flag followed
// through the groups. Every want is Java 17's match on the same text
// (java.util.regex, converted to byte offsets).
func TestJavaDotsFollowsTheText(t *testing.T) {
	const subject = "x\r\u2028\u0085y\n"
	for _, tt := range []struct {
		pattern    string
		start, end int // -1: no match
	}{
		{`x[^\n]+`, 0, 8},
		{`x(?:[^\n])+`, 0, 8}, // RE2 parses this class into '.'
		{`x([^\n])+`, 0, 8},
		{`x(?:a|[^\n])+`, 0, 8},
		{`x[^\n]|x\n`, 0, 2},
		{`x.+`, -1, -1},
		{`(?i)x.+`, -1, -1},
		{`x(?s:.)+`, 0, 9},
		{`(?s)x.+`, 0, 9},
		{`(x(?s).).+`, -1, -1},   // (?s) ends with its group
		{`x(?s:a|.)(.)`, -1, -1}, // and a scoped one with its own
		{`x(?-s:.)+`, -1, -1},
		{`(?s)x(?-s).+`, -1, -1},
		{`x(?s)(?:.)(.)`, 0, 5},
		{`x\.+`, -1, -1},
		{`x[.]+`, -1, -1},
		{`x\Q.\E+`, -1, -1},
	} {
		got, why := bodyRegex(tt.pattern, defaultReplacement)
		if why != "" {
			t.Errorf("bodyRegex(%q): %s", tt.pattern, why)
			continue
		}
		m := regexp.MustCompile(got).FindStringIndex(subject)
		if m == nil {
			m = []int{-1, -1}
		}
		if m[0] != tt.start || m[1] != tt.end {
			t.Errorf("bodyRegex(%q) = %q matches %v of %q, Java %d-%d", tt.pattern, got, m, subject, tt.start, tt.end)
		}
	}
}

// TestQuantifierOnNothingIsRefused: a quantifier after an inline flag
// group, or after an empty \Q\E, quantifies nothing RE2 can see, and RE2
// applies it to what comes before; Java ignores it after a flag group
// ("\d(?i){16}" matches one digit in Java 17, sixteen in RE2) and after a
// quantifier ("\d+\Q\E{2}": one digit or more in Java, two or more in
// RE2). Such a target found less than VGS's and was kept; it is refused.
func TestQuantifierOnNothingIsRefused(t *testing.T) {
	for _, p := range []string{`\d(?i){16}`, `x\d(?s)+`, `\d+\Q\E{2}`, `\d{4}\Q\E*`} {
		if got, why := bodyRegex(p, defaultReplacement); !strings.Contains(why, "quantifies") {
			t.Errorf("bodyRegex(%q) = %q, %q; want it refused", p, got, why)
		}
	}
	// What Java and RE2 read alike stays.
	for _, p := range []string{`\d(?i:a){2}`, `\Qab\E{2}`, `(?i)\d{2}`, `a\Q\E\d`} {
		if got, why := bodyRegex(p, defaultReplacement); why != "" {
			t.Errorf("bodyRegex(%q) = %q, %q; want it kept", p, got, why)
		}
	}
}
