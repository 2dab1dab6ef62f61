package pan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The digit pre-count (enoughDigits) lets find and contains answer "none"
// without running the scanners. It is sound only if every spelling of a
// digit the scanners read holds an ASCII digit byte or 0xEF. These tests
// compare the scanners run with and without the count (findIn and
// containsIn are the scanners alone) on random text built from every
// spelling the package doc lists, with 12 to 14 digits around MinLen, and
// check that the card numbers put into the text are found.

// countSpellings returns the spellings of digit d (0-9) the scanners read.
func countSpellings(d int) []string {
	return append(countSpellingsClosed(d), fmt.Sprintf("&#%d", '0'+d))
}

// countSpellingsClosed is countSpellings without the reference that has no
// ';' (its end depends on what follows it).
func countSpellingsClosed(d int) []string {
	fw := rune(0xFF10 + d) // full-width digit
	fwUTF8 := string(fw)
	pct := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	return []string{
		string(rune('0' + d)),
		fwUTF8,
		fmt.Sprintf(`\u%04x`, '0'+d), fmt.Sprintf(`\u%04X`, '0'+d),
		fmt.Sprintf(`\u%04x`, fw), fmt.Sprintf(`\u%04X`, fw),
		fmt.Sprintf("%%%02x", '0'+d), fmt.Sprintf("%%%02X", '0'+d),
		pct(fwUTF8), strings.ToLower(pct(fwUTF8)),
		fmt.Sprintf("&#%d;", '0'+d), fmt.Sprintf("&#000%d;", '0'+d),
		fmt.Sprintf("&#x%x;", '0'+d), fmt.Sprintf("&#X%X;", '0'+d), fmt.Sprintf("&#x%x;", fw),
		fmt.Sprintf("&#%d;", fw),
	}
}

// countSeparators are the separators of the package doc, raw and
// escaped.
var countSeparators = []string{
	" ", "-", ".", "+", "\u00a0", "\u202f", "\u2007", "\u2009", "\u2010", "\u2013", "\u3000", "\uff0d", "\uff0e",
	"&nbsp;", "%20", `\u0020`, "&#32;", "&#x2d;", "%E3%80%80", `\u3000`, "&#x3000;",
	"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "%E2%80%8B", `\u200b`, "&#8203;", "%C2%AD",
}

var countBreakers = []string{"a", ",", "\t", "*", "/", "%", `\`, "&", "%2C", "&amp;", "x\n"}

// safeBreakers end a number whatever follows them (no '%', '\' or '&'
// that could start an escape with the next digit's spelling, no hex
// letter that could complete one a breaker unit started).
var safeBreakers = []string{"z", ",", "\t", "*", "/", "x\n", "%2C", "&amp;"}

// spellRandom writes the digits of n with random spellings, a separator between
// some of them.
func spellRandom(r *rand.Rand, b *strings.Builder, n string, seps bool) {
	for i := 0; i < len(n); i++ {
		sp := countSpellingsClosed(int(n[i] - '0'))
		b.WriteString(sp[r.IntN(len(sp))])
		if seps && i < len(n)-1 && r.IntN(4) == 0 {
			b.WriteString(countSeparators[r.IntN(len(countSeparators))])
		}
	}
}

// luhnNumber returns a Luhn-valid number of n digits.
func luhnNumber(r *rand.Rand, n int) string {
	d := make([]byte, n-1)
	for i := range d {
		d[i] = byte('0' + r.IntN(10))
	}
	return string(d) + string(CheckDigit(d))
}

func TestDigitCountNeverHidesACandidate(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 0x2c0422))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		var put []string // the card numbers put in, spelled without a breaker
		for range r.IntN(4) + 1 {
			switch k := r.IntN(6); {
			case k < 3:
				n := luhnNumber(r, MinLen+r.IntN(3)-1) // 12 (not a card), 13, 14
				if len(n) >= MinLen {
					put = append(put, n)
				}
				spellRandom(r, &b, n, r.IntN(2) == 0)
			case k == 3:
				b.WriteString(countSeparators[r.IntN(len(countSeparators))])
			default:
				b.WriteString(countBreakers[r.IntN(len(countBreakers))])
			}
			b.WriteString(safeBreakers[r.IntN(len(safeBreakers))])
		}
		s := b.String()
		counted, _ := find(s, -1)
		scanned, _ := findIn(s, -1, nil)
		if !slices.Equal(counted, scanned) {
			t.Fatalf("input %q: with the digit count %v, without %v", s, counted, scanned)
		}
		if contains(s) != containsIn(s) || contains([]byte(s)) != containsIn([]byte(s)) {
			t.Fatalf("input %q: contains %v, the scanner alone %v", s, contains(s), containsIn(s))
		}
		for _, n := range put {
			if !slices.ContainsFunc(scanned, func(c Candidate) bool { return c.Digits() == n }) {
				t.Fatalf("input %q: %s was not found (found %v)", s, n, scanned)
			}
		}
	}
}

// TestDigitCountEverySpellingAtTheBoundary spells a 13-digit card number
// (MinLen, the count's bound) with one spelling for all its digits, for
// every spelling, so that the count sees the fewest digit bytes each
// spelling can give.
func TestDigitCountEverySpellingAtTheBoundary(t *testing.T) {
	const n = "4222222222222" // Visa's 13-digit test number
	if !Valid(n) || len(n) != MinLen {
		t.Fatal("the test number must be a valid card number of MinLen digits")
	}
	for k := range countSpellings(0) {
		var b strings.Builder
		for i := 0; i < len(n); i++ {
			b.WriteString(countSpellings(int(n[i] - '0'))[k])
		}
		s := "x" + b.String() + "y"
		got := FindString(s)
		if !slices.ContainsFunc(got, func(c Candidate) bool { return c.Digits() == n }) {
			t.Errorf("spelling %q: %q not found (found %v)", countSpellings(4)[k], s, got)
		}
		if !ContainsString(s) {
			t.Errorf("spelling %q: ContainsString false", countSpellings(4)[k])
		}
	}
}
