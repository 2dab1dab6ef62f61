package rewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// regexSpecs makes regex targets; a "!luhn" suffix sets Luhn.
func regexSpecs(patterns ...string) []TargetSpec {
	specs := make([]TargetSpec, len(patterns))
	for i, p := range patterns {
		p, luhn := strings.CutSuffix(p, "!luhn")
		specs[i] = TargetSpec{Kind: KindRegex, Path: p, Luhn: luhn}
	}
	return specs
}

func regexLocate(t testing.TB, media string, body string, patterns ...string) []Span {
	t.Helper()
	idx := make([]int, len(patterns))
	for i := range idx {
		idx[i] = i
	}
	l, err := newRegexLocator(regexSpecs(patterns...), idx)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := l.Locate(&Message{Body: []byte(body), MediaType: media})
	if err != nil {
		t.Fatal(err)
	}
	return spans
}

// regexFound is a located span as a test expects it.
type regexFound struct {
	start  int
	value  string
	target int
}

func TestRegexLocatesMatches(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		body     string
		want     []regexFound
	}{
		{"whole match without groups", []string{`\b[0-9]{13,19}\b`},
			"pan 4111111111111111, other 5555555555554444.",
			[]regexFound{{4, "4111111111111111", 0}, {28, "5555555555554444", 0}}},
		{"first group with groups", []string{`cvc=([0-9]{3,4})(;)`},
			"a cvc=123; b cvc=4567; c cvc=12;",
			[]regexFound{{6, "123", 0}, {17, "4567", 0}}},
		{"non-capturing group is not a group", []string{`(?:cvc|cvv)=[0-9]+`},
			"cvv=123",
			[]regexFound{{0, "cvv=123", 0}}},
		{"group that does not take part is skipped", []string{`pan(?:=([0-9]+))?;`},
			"pan; pan=42;",
			[]regexFound{{9, "42", 0}}},
		{"empty group is skipped", []string{`<([0-9]*)>`},
			"<> <7>",
			[]regexFound{{4, "7", 0}}},
		{"Luhn keeps valid numbers only", []string{`[0-9]{16}!luhn`},
			"4111111111111111 4111111111111112 5555555555554444",
			[]regexFound{{0, "4111111111111111", 0}, {34, "5555555555554444", 0}}},
		{"Luhn drops values that are not all digits", []string{`pan=(\S+)!luhn`},
			"pan=4111-1111-1111-1111 pan=4111111111111111",
			[]regexFound{{28, "4111111111111111", 0}}},
		{"multi-line mode: $ matches before LF, not CR", []string{`(?m)^card: ([0-9]+)$`},
			"card: 1\r\nx card: 2\ncard: 3",
			[]regexFound{{25, "3", 0}}},
		{"binary body keeps byte offsets", []string{`[0-9]{16}!luhn`},
			"\xff\xfe\x00\x80 4111111111111111\x00\xc3(\xe2\x82 5555555555554444",
			[]regexFound{{5, "4111111111111111", 0}, {27, "5555555555554444", 0}}},
		{"pattern over invalid UTF-8", []string{`\x{FFFD}+([0-9]+)`},
			"a\xff\xfe42",
			[]regexFound{{3, "42", 0}}},
		{"no match", []string{`[0-9]{16}`}, "nothing here", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans := regexLocate(t, "text/plain", tt.body, tt.patterns...)
			var got []regexFound
			for _, s := range spans {
				if s.Encoding != Raw || tt.body[s.Start:s.End] != s.Value {
					t.Errorf("span %+v: encoding %d, bytes %q", s, s.Encoding, tt.body[s.Start:s.End])
				}
				got = append(got, regexFound{s.Start, s.Value, s.Target})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("located %#v\nwant    %#v", got, tt.want)
			}
		})
	}
}

func TestRegexOverlapsKeepTheEarliestMatch(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		body     string
		want     []regexFound
	}{
		{"match inside another is dropped", []string{`[0-9]{16}`, `[0-9]{4}`},
			"4111111111111111 1234",
			[]regexFound{{0, "4111111111111111", 0}, {17, "1234", 1}}},
		{"longer match of a later target is dropped", []string{`[0-9]{4}`, `[0-9]{16}`},
			"4111111111111111",
			[]regexFound{{0, "4111", 0}, {4, "1111", 0}, {8, "1111", 0}, {12, "1111", 0}}},
		{"same start: lower target index wins", []string{`41[0-9]*`, `4111`},
			"x4111y",
			[]regexFound{{1, "4111", 0}}},
		{"same start, other order", []string{`4111`, `41[0-9]*`},
			"x41111y",
			[]regexFound{{1, "4111", 0}}},
		{"earlier start wins over lower index", []string{`b[0-9]+`, `ab[0-9]+`},
			"xab12 b3",
			[]regexFound{{1, "ab12", 1}, {6, "b3", 0}}},
		{"partial overlap", []string{`12345`, `45678`},
			"123456789 45678",
			[]regexFound{{0, "12345", 0}, {10, "45678", 1}}},
		{"adjacent spans are both kept", []string{`ab`, `cd`},
			"abcd",
			[]regexFound{{0, "ab", 0}, {2, "cd", 1}}},
		{"groups overlap only by their group", []string{`a(b)c`, `(c)d`},
			"abcd",
			[]regexFound{{1, "b", 0}, {2, "c", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []regexFound
			for _, s := range regexLocate(t, "", tt.body, tt.patterns...) {
				got = append(got, regexFound{s.Start, s.Value, s.Target})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("located %#v\nwant    %#v", got, tt.want)
			}
		})
	}
}

func TestRegexIgnoresMediaType(t *testing.T) {
	for _, media := range []string{"", "application/json", "image/png", formMultipart, "text/html"} {
		spans := regexLocate(t, media, `{"pan":"4111111111111111"}`, `[0-9]{16}!luhn`)
		if len(spans) != 1 || spans[0].Value != "4111111111111111" {
			t.Errorf("%q: %+v", media, spans)
		}
	}
}

func TestRegexTargetsCompile(t *testing.T) {
	tests := []struct {
		name, pattern, want string
	}{
		{"bad syntax", `([0-9]+`, "target 2: bad regular expression"},
		{"Perl lookahead is not RE2", `(?=x)`, "target 2: bad regular expression"},
		{"empty pattern", ``, "target 2: empty regular expression"},
		{"matches the empty string", `[0-9]*`, "target 2: regular expression matches the empty string"},
		{"group matching the empty string", `(x?)`, "target 2: regular expression matches the empty string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs := append(regexSpecs(`ok`), TargetSpec{Kind: KindRegex, Path: tt.pattern})
			_, err := newRegexLocator(specs, []int{1, 2})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRegexRefusesTooManyMatches(t *testing.T) {
	l, err := newRegexLocator(regexSpecs(`a`), []int{0})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("a;"), maxRegexMatches)
	if spans, err := l.Locate(&Message{Body: body}); err != nil || len(spans) != maxRegexMatches {
		t.Fatalf("%d matches: %d spans, %v", maxRegexMatches, len(spans), err)
	}
	body = append(body, 'a')
	if _, err := l.Locate(&Message{Body: body}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d matches: %v, want ErrMalformed", maxRegexMatches+1, err)
	}
	// The cap holds for all targets together.
	l, err = newRegexLocator(regexSpecs(`a`, `b`), []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.Repeat([]byte("ab"), maxRegexMatches/2+1)
	if _, err := l.Locate(&Message{Body: body}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d matches of two targets: %v, want ErrMalformed", maxRegexMatches+2, err)
	}
}

// regexProgram compiles a Program with a header target first, so the
// regex targets' indexes start at 1.
func regexProgram(t testing.TB, op Operation, patterns ...string) *Program {
	t.Helper()
	ts := append([]TargetSpec{{Kind: KindHeader, Path: "X-Card"}}, regexSpecs(patterns...)...)
	p, err := Compile(op, ts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRegexRedactKeepsBytesOutsideTargets(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		in, want string
	}{
		{"Luhn-valid numbers in text", []string{`\b[0-9]{13,19}\b!luhn`},
			"Card 4111111111111111 (not 4111111111111112), order 1234567890123.\n",
			"Card tok_4111111111111111 (not 4111111111111112), order 1234567890123.\n"},
		{"group in JSON", []string{`"cvc":\s*"([0-9]{3,4})"`},
			`{"cvc": "123", "x": "cvc", "n":{"cvc":"9876"}}`,
			`{"cvc": "tok_123", "x": "cvc", "n":{"cvc":"tok_9876"}}`},
		{"two targets, overlap dropped", []string{`[0-9]{16}!luhn`, `exp=([0-9/]+)`, `[0-9]{4}`},
			"pan=4111111111111111&exp=12/30&pin=1234",
			"pan=tok_4111111111111111&exp=tok_12/30&pin=tok_1234"},
		{"binary body", []string{`[0-9]{16}!luhn`},
			"\x00\xff\xfe4111111111111111\r\n\x80",
			"\x00\xff\xfetok_4111111111111111\r\n\x80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newRecordingTokenizer(false)
			h := http.Header{"X-Card": {"5555555555554444"}}
			msg := &Message{Header: h, Body: []byte(tt.in), MediaType: "application/octet-stream"}
			changes, err := regexProgram(t, Redact, tt.patterns...).Apply(context.Background(), msg, tok)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Body) != tt.want {
				t.Fatalf("got  %q\nwant %q", msg.Body, tt.want)
			}
			if h.Get("X-Card") != "tok_5555555555554444" {
				t.Errorf("header %q", h.Get("X-Card"))
			}
			if len(tok.redacts) != 1 || len(tok.reveals) != 0 {
				t.Fatalf("%d Redact and %d Reveal calls, want one Redact", len(tok.redacts), len(tok.reveals))
			}
			n := 0
			for _, c := range changes {
				if c.Kind != KindRegex && c.Kind != KindHeader || c.Target > len(tt.patterns) {
					t.Errorf("change %+v", c)
				}
				n += c.Count
			}
			if n != len(tok.redacts[0]) {
				t.Errorf("changes %+v count %d replacements, the tokenizer made %d", changes, n, len(tok.redacts[0]))
			}
		})
	}
}

func TestRegexRevealReplacesKnownAliasesOnly(t *testing.T) {
	tok := newRecordingTokenizer(true)
	tok.toValue["tok_1_"] = "4111111111111111"
	msg := &Message{Body: []byte("a tok_1_ b tok_2_ c")}
	if _, err := regexProgram(t, Reveal, `tok_[0-9]+_`).Apply(context.Background(), msg, tok); err != nil {
		t.Fatal(err)
	}
	if want := "a 4111111111111111 b tok_2_ c"; string(msg.Body) != want {
		t.Fatalf("got %q, want %q", msg.Body, want)
	}
	if len(tok.reveals) != 1 {
		t.Errorf("%d Reveal calls", len(tok.reveals))
	}
}

// regexRoundTrip redacts body with patterns, then reveals the numbered
// aliases, and reports whether it got body back (and the redacted body).
func regexRoundTrip(t testing.TB, body []byte, patterns ...string) (red, back []byte, redacted int) {
	t.Helper()
	tok := newRecordingTokenizer(true)
	msg := &Message{Body: bytes.Clone(body)}
	changes, err := regexProgram(t, Redact, patterns...).Apply(context.Background(), msg, tok)
	if err != nil {
		t.Fatalf("redact: %v", err)
	}
	if len(tok.redacts) > 1 {
		t.Fatalf("%d Redact calls", len(tok.redacts))
	}
	for _, c := range changes {
		redacted += c.Count
	}
	red = bytes.Clone(msg.Body)
	if _, err := regexProgram(t, Reveal, `tok_[0-9]+_`).Apply(context.Background(), msg, tok); err != nil {
		t.Fatalf("reveal: %v", err)
	}
	if len(tok.reveals) > 1 {
		t.Fatalf("%d Reveal calls", len(tok.reveals))
	}
	return red, msg.Body, redacted
}

func TestRegexRedactThenRevealIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	cards := []string{"4111111111111111", "5555555555554444", "4012888888881881", "4111111111111112", "378282246310005"}
	filler := []string{" ", "\n", "\r\n", "x", "pan=", "cvc=", "\x00", "\xff", "é", "12", ",", "_"}
	total := 0
	for iter := range 500 {
		var b strings.Builder
		for range rng.IntN(20) {
			if rng.IntN(3) == 0 {
				b.WriteString(cards[rng.IntN(len(cards))])
			} else if rng.IntN(4) == 0 {
				fmt.Fprintf(&b, "%d", rng.IntN(100000))
			} else {
				b.WriteString(filler[rng.IntN(len(filler))])
			}
		}
		body := []byte(b.String())
		red, back, n := regexRoundTrip(t, body, `\b[0-9]{13,19}\b!luhn`, `cvc=([0-9]{3,4})`, `[0-9]{5}`)
		if !bytes.Equal(back, body) {
			t.Fatalf("iter %d: round trip differs\n in  %q\n red %q\n out %q", iter, body, red, back)
		}
		total += n
	}
	if total < 500 {
		t.Errorf("only %d values replaced in all", total)
	}
}

var regexFuzzPatterns = []string{
	`\b[0-9]{13,19}\b!luhn`,
	`cvc=([0-9]{3,4})`,
	`[0-9]{4}`,
	`a(b*)c`,
	`(?s)<x>(.*?)</x>`,
}

func FuzzRegex(f *testing.F) {
	for _, s := range []string{
		"pan 4111111111111111 and 4111111111111112, cvc=123",
		"ac abbc <x>4111\n1111</x> 12345678",
		"\x00\xff\xfe4111111111111111\r\n\x80cvc=99999",
		"<x></x><x>a<x>b</x>c</x>",
	} {
		f.Add([]byte(s))
	}
	idx := make([]int, len(regexFuzzPatterns))
	for i := range idx {
		idx[i] = i + 1
	}
	l, err := newRegexLocator(regexSpecs(regexFuzzPatterns...), idx)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		spans, err := l.Locate(&Message{Body: body})
		if err != nil {
			t.Fatalf("locate: %v", err)
		}
		if !bytes.Equal(body, orig) {
			t.Fatal("Locate changed the body")
		}
		formCheckSpans(t, body, spans, len(regexFuzzPatterns)+1)
		for _, s := range spans {
			if s.Target == 0 || string(body[s.Start:s.End]) != s.Value || s.Encoding != Raw {
				t.Fatalf("span %+v over %q", s, body[s.Start:s.End])
			}
		}
		if bytes.Contains(body, []byte("tok_")) {
			return // the reveal pattern would find aliases that are not ours
		}
		red, back, _ := regexRoundTrip(t, body, regexFuzzPatterns...)
		if !bytes.Equal(back, body) {
			t.Fatalf("round trip differs\n in  %q\n red %q\n out %q", body, red, back)
		}
	})
}
