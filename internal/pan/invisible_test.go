package pan

import (
	"strings"
	"testing"
)

// TestInvisibleSeparatorsNeverEndANumber: a character shown as nothing,
// raw or escaped, next to a separator or several in a row, leaves the
// number a reader sees; two visible separators still end it.
func TestInvisibleSeparatorsNeverEndANumber(t *testing.T) {
	const card = "4012888888881881"
	spell := func(sep string) string {
		return card[:4] + sep + card[4:8] + sep + card[8:12] + sep + card[12:]
	}
	for _, sep := range []string{
		"\u200b", "-\u200b", "\u200b-", "\u200b\u200b", " \u00ad", "\u200e", "\u200f\u200e", "\u202a", "\u2066",
		"\u2069", "\u2063", "\u180e", "\u034f", "\u061c", "\ufe0f", "\ufe00", "\U000e0020", "\U000e0100", "\u3164",
		"\uffa0", "\u115f", "\u17b4", "&#x200e;", "&#8206;", `\u200e`, "%E2%80%8E", "%F3%A0%80%A0", "-%E2%80%8B",
		"&#x200b;&#x200b;", `\u200b.`, `\udb40\udc20`, `\uDB40\uDD00`, `-\udb40\udc7f`,
	} {
		s := "x " + spell(sep) + " y"
		if !ContainsString(s) {
			t.Errorf("%+q: not found", s)
			continue
		}
		if m := Mask(s); strings.Contains(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m), card) {
			t.Errorf("Mask(%+q) = %+q", s, m)
		}
	}
	for _, sep := range []string{" \u200b ", "-\u200b-", "\u200b  ", "\u200b,", `\udb40`, `\udc20`,
		`\udc20\udb40`, `\ud83d\ude00`, `\udb40\u0020`} {
		if s := spell(sep); ContainsString(s) {
			t.Errorf("%+q: found; two visible separators or a breaker end a number", s)
		}
	}
}
