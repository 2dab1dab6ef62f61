package rewrite

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// FuzzHeader feeds arbitrary header values (several values of one header,
// separated by NUL in the input) and patterns to a header target. Redact
// never panics, touches only the located part of each value (the bytes
// before and after it are kept exactly), leaves other headers alone, and
// reveal of the result gives the original values back when the target has
// no pattern.
func FuzzHeader(f *testing.F) {
	f.Add("4111111111111111", "")
	f.Add("Card 4111111111111111", `^Card (\d+)$`)
	f.Add("a\x00b\x00\x00c", "")
	f.Add("Bearer tok_x; Card=5555555555554444; q=1", `Card=([0-9]+)`)
	f.Add("x", `(a)|(x)`)
	f.Add("\xff\xfe card", `(?i)CARD`)
	f.Add("Card ", `Card (\d*)`)
	f.Fuzz(func(t *testing.T, values, pattern string) {
		p, err := Compile(Redact, []TargetSpec{{Kind: KindHeader, Path: "X-Card", HeaderPattern: pattern}})
		if err != nil {
			if pattern == "" {
				t.Fatalf("a header target without a pattern was refused: %v", err)
			}
			return
		}
		orig := strings.Split(values, "\x00")
		h := http.Header{"X-Card": append([]string(nil), orig...), "X-Other": {values}}
		tok := newRecordingTokenizer(true)
		changes, err := p.Apply(context.Background(), &Message{Header: h}, tok)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if len(h["X-Other"]) != 1 || h["X-Other"][0] != values {
			t.Fatal("a header that is not a target changed")
		}
		if len(h["X-Card"]) != len(orig) {
			t.Fatalf("%d values, want %d", len(h["X-Card"]), len(orig))
		}
		var re *regexp.Regexp
		if pattern != "" {
			re = regexp.MustCompile(pattern)
		}
		replaced := 0
		for i, v := range orig {
			start, end := 0, len(v)
			if re != nil {
				m := re.FindStringSubmatchIndex(v)
				if m == nil || m[2] < 0 {
					if h["X-Card"][i] != v {
						t.Fatalf("value %d changed without a match", i)
					}
					continue
				}
				start, end = m[2], m[3]
			}
			got := h["X-Card"][i]
			if start == end { // nothing to protect in an empty value
				if got != v {
					t.Fatalf("empty target in value %d changed it", i)
				}
				continue
			}
			replaced++
			if !strings.HasPrefix(got, v[:start]) || !strings.HasSuffix(got, v[end:]) {
				t.Fatalf("value %d: bytes outside the target changed: %q → %q", i, v, got)
			}
			alias := got[start : len(got)-len(v)+end]
			if tok.toValue[alias] != v[start:end] {
				t.Fatalf("value %d: %q is not the alias of the target", i, alias)
			}
		}
		total := 0
		for _, c := range changes {
			total += c.Count
		}
		if total != replaced {
			t.Fatalf("changes count %d values, %d were replaced", total, replaced)
		}
		if re != nil {
			return
		}
		back, err := Compile(Reveal, []TargetSpec{{Kind: KindHeader, Path: "x-card"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := back.Apply(context.Background(), &Message{Header: h}, tok); err != nil {
			t.Fatalf("reveal: %v", err)
		}
		for i, v := range orig {
			if h["X-Card"][i] != v {
				t.Fatalf("value %d: reveal gave %q, want %q", i, h["X-Card"][i], v)
			}
		}
	})
}
