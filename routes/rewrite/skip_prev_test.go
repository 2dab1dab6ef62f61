package rewrite

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// skipContainer as it was before it read plain strings and integers in
// its own loop (and called itself for a nested container), with the
// skipValue that recursed into it: the oracle of
// TestSkipContainerSameAsPrevious and FuzzSkipContainerAgainstPrevious.
// Copied from the commit before the change; only the names differ.

func prevSkipValue(b []byte, i, depth int) (int, error) {
	switch c := b[i]; {
	case c == '"':
		return skipStringErr(b, i)
	case c == '{' || c == '[':
		return prevSkipContainer(b, i, depth)
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, malformedAt("unexpected character", i)
}

func prevSkipContainer(b []byte, i, depth int) (int, error) {
	if depth >= MaxDepth {
		return i, errTooDeep
	}
	obj := b[i] == '{'
	closing := byte(']')
	if obj {
		closing = '}'
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closing {
		return i + 1, nil
	}
	var err error
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, malformedAt("expected a key", i)
			}
			end := skipString(b, i)
			if end < 0 {
				return skipStringErr(b, i)
			}
			i = skipWS(b, end)
			if i >= len(b) || b[i] != ':' {
				return i, malformedAt("expected ':'", i)
			}
			i = skipWS(b, i+1)
		}
		if i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		switch c := b[i]; {
		case c == '"':
			end := skipString(b, i)
			if end < 0 {
				return skipStringErr(b, i)
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end := skipNumber(b, i)
			if end < 0 {
				return scanNumber(b, i)
			}
			i = end
		default:
			if i, err = prevSkipValue(b, i, depth+1); err != nil {
				return i, err
			}
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, malformedAt("unexpected end", i)
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case closing:
			return i + 1, nil
		default:
			return i, malformedAt("expected ',' or a closing bracket", i)
		}
	}
}

// skipSameAsPrevious fails when skipContainer answers otherwise than
// before (the index it stops at, the error and its message, which a
// refused body's response and log line carry) for the first container of
// b, or with every for each container of b, at the depths around MaxDepth
// too. skipContainer is a pure function of (b, i, depth): the same
// answers everywhere mean every caller (the locator's walk past
// untargeted values, and so what the filters find and replace) is
// unchanged. It also checks the answer for a body that is one container
// against encoding/json.Valid, unless the body nests deeper than MaxDepth.
func skipSameAsPrevious(t *testing.T, b []byte, every bool) {
	t.Helper()
	for i, c := range b {
		if c != '{' && c != '[' {
			continue
		}
		if !every && i > skipWS(b, 0) {
			break
		}
		for _, depth := range []int{0, 1, MaxDepth - 2, MaxDepth - 1, MaxDepth} {
			got, err := skipContainer(b, i, depth)
			want, prevErr := prevSkipContainer(b, i, depth)
			if got != want || fmt.Sprint(err) != fmt.Sprint(prevErr) || errClass(err) != errClass(prevErr) {
				t.Fatalf("skipContainer(%q, %d, %d) = %d, %v; before %d, %v", b, i, depth, got, err, want, prevErr)
			}
		}
	}
	if i := skipWS(b, 0); i < len(b) && (b[i] == '{' || b[i] == '[') {
		end, err := skipContainer(b, i, 0)
		accepted := err == nil && skipWS(b, end) == len(b)
		if valid := json.Valid(b); valid != accepted && !errors.Is(err, ErrTooDeep) {
			t.Fatalf("%q: json.Valid %v, skipContainer %d, %v", b, valid, end, err)
		}
	}
}

// skipValues returns the adversarial JSON values (valid or not) of the
// differential tests: strings with every escape (\u0000, \", \\, lone and
// paired surrogates, bad hex), invalid UTF-8 and control characters placed
// on both sides of an eight-byte word; numbers with leading zeros, -0,
// bare exponents and fractions, digits runs longer than any integer type;
// literals cut short; nested containers with duplicate keys.
func skipValues() []string {
	var values []string
	for n := 0; n <= 17; n++ {
		plain := strings.Repeat("a", n)
		for _, ins := range []string{`\u0000`, `\"`, `\\`, `\/`, `\ud800`, `\udc00`, `\ud83d\ude00`, `\ud800\u0041`, `\u12`, `\u12g4`, `\U0041`,
			`\a`, `\`, `"`, "\x00", "\x1f", "\x7f", "\xff", "\xc3", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\t", "\n", "\u2028"} {
			for pos := 0; pos <= n; pos += max(1, n/3) {
				values = append(values, `"`+plain[:pos]+ins+plain[pos:]+`"`)
			}
		}
		values = append(values, `"`+plain+`"`, `"`+plain)
	}
	for _, num := range []string{"0", "-0", "-0.0", "00", "01", "-01", "0e", "1e", "1E+", "1e-", "1e5", "1E05", "1.", "1.e1", ".5", "-", "--1", "+1",
		"1.5", "1.5e", "1.5e+3", "0x10", "1_000", "9", "123456789", "12345678901234567890123456789012345678901234567890",
		"4111111111111111", "4111111111111111.0e0", "1e999999999", "-1e-999", "1.2.3", "1e2e3", "Infinity", "NaN", "1 2", "1x", "1/", "1e5x", "12345678"} {
		values = append(values, num)
	}
	values = append(values, "true", "tru", "false", "fals", "null", "nul", "nulll", "{}", "[]", "{", "[", "}", "]", `{"a":1,"a":2}`,
		`{"a":{"a":[1,{"a":"x","a":"y"}]}}`, `[1,]`, `[,1]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `{"a":}`, `{:1}`, `[1 2]`, `[[[]]]`, `{"":""}`,
		strings.Repeat("[", MaxDepth-2)+strings.Repeat("]", MaxDepth-2), strings.Repeat("[", MaxDepth+1)+strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"a":`, MaxDepth-1)+"1"+strings.Repeat("}", MaxDepth-1), strings.Repeat(`[1,`, 200)+"2"+strings.Repeat("]", 200))
	return values
}

// skipBodies wraps each value as a member, an element, a key, next to a
// second value, with every white space (and some that JSON does not allow)
// around it.
func skipBodies(values []string) []string {
	var bodies []string
	for k, v := range values {
		ws := []string{"", " ", "\t\n\r ", "\f", "\v", "\u00a0"}[k%6]
		bodies = append(bodies,
			`{"k":`+ws+v+ws+`}`, `[`+ws+v+ws+`,`+v+`]`, `{`+ws+v+ws+`:1}`, `[{"a":`+v+`,"b":2}]`, ws+`[`+v+`]`+ws,
			`{"a":[`+v+`],"a":{"b":`+v+`}}`, `[`+v+`{}]`, `{"a":`+v+`"b":1}`)
	}
	return bodies
}

// TestSkipContainerSameAsPrevious: skipContainer reads every adversarial
// body, and every prefix of it (truncated input), exactly as it did before
// its fast paths, and agrees with encoding/json.Valid; a locator walking a
// body to its target agrees with encoding/json.Valid too.
func TestSkipContainerSameAsPrevious(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	bodies := skipBodies(skipValues())
	rng := rand.New(rand.NewSource(7))
	for range 3000 {
		bodies = append(bodies, randomJSONish(rng, 60))
	}
	valid := 0
	for _, body := range bodies {
		skipSameAsPrevious(t, []byte(body), true)
		for n := 0; n < len(body); n++ {
			skipSameAsPrevious(t, []byte(body[:n]), false)
		}
		wrapped := `{"t":"x","o":` + body + `}`
		if _, err := p.body.Locate(&Message{Body: []byte(wrapped)}); json.Valid([]byte(wrapped)) != (err == nil) && !errors.Is(err, ErrTooDeep) {
			t.Fatalf("%q: json.Valid %v, Locate error %v", wrapped, err != nil, err)
		}
		if json.Valid([]byte(body)) {
			valid++
		}
	}
	// The bodies reach both answers.
	if valid < 500 || len(bodies)-valid < 500 {
		t.Fatalf("%d valid bodies of %d", valid, len(bodies))
	}
}

// randomJSONish returns up to n bytes drawn from JSON's tokens and the
// bytes the fast paths treat specially.
func randomJSONish(rng *rand.Rand, n int) string {
	tokens := []string{"{", "}", "[", "]", ",", ":", `"`, `"a"`, `"abcdefgh"`, `\`, `\u00`, `\"`, "0", "1", "9", "-", ".", "e", "E", "+",
		" ", "\t", "\x00", "\x1f", "\xff", "true", "null", "123456789"}
	var b strings.Builder
	for range rng.Intn(n) {
		b.WriteString(tokens[rng.Intn(len(tokens))])
	}
	return b.String()
}

// FuzzSkipContainerAgainstPrevious is TestSkipContainerSameAsPrevious on
// what the fuzzer makes.
func FuzzSkipContainerAgainstPrevious(f *testing.F) {
	for _, body := range skipBodies(skipValues())[:300] {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<12 {
			return
		}
		skipSameAsPrevious(t, b, true)
	})
}
