package pan

import (
	"fmt"
	"strings"
	"testing"
)

// spellDigit returns the spellings of digit d the package documents.
func spellDigit(d byte) []string {
	return []string{
		string(rune(d)),
		string(rune(0xFF10 + rune(d-'0'))),
		fmt.Sprintf(`\u%04x`, d),
		fmt.Sprintf(`\u%04X`, d),
		fmt.Sprintf("%%%02X", d),
		fmt.Sprintf("%%EF%%BC%%%02X", 0x90+d-'0'),
		fmt.Sprintf("&#%d;", d),
		fmt.Sprintf("&#00%d", d),
		fmt.Sprintf("&#x%x;", d),
	}
}

// TestFindSkipSplitSpellings spells a card number with its first k digits
// as plain ASCII digits (which skipQuiet may pass over when they are fewer
// than MinLen) and the rest in another spelling, joined by each kind of
// separator, behind 0–8 bytes of filler: the scan must read them as the
// reference loop does and find the number.
func TestFindSkipSplitSpellings(t *testing.T) {
	seps := []string{"", " ", "-", ".", "+", "\u00a0", "\u202f", "\u2007", "\u2009", "\u2010", "\u2013", "\u3000", "\uff0d", "\uff0e", "&nbsp;", "&nbsp", "%20", `\u0020`, "&#32;", "%C2%A0", "%E2%80%AF", "\u200b", "\u00ad", "\ufeff", "%E2%81%A0"}
	cards := []string{"4111111111111111", "378282246310005", "4222222222222", "6011000990139424", "4000000000000000006"}
	for _, card := range cards {
		for k := 1; k < len(card); k++ {
			for si, sep := range seps {
				for _, sp := range spellDigit(card[k]) {
					// The digit right after the split in sp, the rest plain.
					for shift := 0; shift < 9; shift++ {
						if (shift+k+si)%3 != 0 && shift > 1 {
							continue // enough boundaries, less time
						}
						s := strings.Repeat("x", shift) + card[:k] + sep + sp + card[k+1:] + "\"9"
						b := []byte(s)
						sameAsReference(t, b)
						if !Contains(b) && !strings.HasPrefix(sp, "&#00") {
							// "&#0049" followed by digits is not decoded
							// (the ';' is optional): documented.
							t.Fatalf("Contains(%q) = false", s)
						}
					}
				}
			}
		}
	}
}

// TestFindSkipShortThenMore puts short chains (which skipQuiet passes over)
// in front of numbers, with every separator and breaker between.
func TestFindSkipShortThenMore(t *testing.T) {
	shorts := []string{"411111111111", "4111 1111 1111", "4111-1111-111", "1.2.3", "12", "9 9 9 9 9 9 9 9 9 9 9 9"}
	joins := []string{" ", "  ", " -", "\t", "/", ",", ".", "..", "\u00a0", "\u00a0 ", " \u00a0", "$", "$$", "%", "&", `\`, "&amp;", "%2C", "\xef", "\xc2", "\xe2\x80", "é"}
	rests := []string{"4111111111111111", "4111 1111 1111 1111", "1111", "4", "%34111111111111111", "１111111111111111", "&#52;111111111111111"}
	for _, a := range shorts {
		for _, j := range joins {
			for _, r := range rests {
				for shift := 0; shift < 9; shift++ {
					sameAsReference(t, []byte(strings.Repeat("y", shift)+a+j+r))
					sameAsReference(t, []byte(strings.Repeat("y", shift)+a+j+r+j+a))
				}
			}
		}
	}
}
