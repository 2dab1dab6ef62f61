package pan

import (
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// skipQuiet as it was before one test (loudBits) passed the words of
// ASCII that hold nothing for it, its digits' flags took a ':' after a
// digit along (wordFlags) and it read the runs of its word from their
// last bytes: the oracle of TestSkipQuietSameAsBefore and
// FuzzSkipQuietAgainstBefore. Copied from the commit before the change;
// only the name differs.

// skipQuietBefore returns the index of the first byte of s from i where the
// decoded reading, with no chain open, has something to do; len(s) when
// there is none. It passes over
//
//   - every byte but an ASCII digit, 0xEF (the lead byte of a full-width
//     digit) and an escape's '%', '\' or '&': where no chain is open, each
//     of them changes nothing (a breaker or a separator leaves no chain
//     open), and no unit that starts at one of them (a UTF-8 separator, an
//     invalid lead byte) holds one of those bytes, so the unit after the
//     bytes passed starts where skipQuiet stops;
//   - a chain of ASCII digits and single ASCII separators that holds fewer
//     than MinLen digits and ends at a breaker byte, at two separators or
//     at the end of s (an id, an amount, a date, a phone number, an IP
//     address): endChain drops it, having found nothing in it.
//
// It looks for those bytes eight at a time: a byte b of the word is flagged
// when it is a digit (digitBytes, exact), b^'$' < 3 ('$', '%', '&'; a '$'
// is passed over then) or b is '\\' or 0xEF (the has-less-than and
// has-zero-byte tricks, whose flag may be wrong only above a right one), so
// the lowest flag is right. A run of digits that ends inside the word at a
// byte of quietEnd is passed over there, as the chain loop below would
// pass it (fewer than MinLen digits, ended by a breaker, nothing for nums),
// and the next flag above it is right too: no byte below it matched one of
// the three other tests (digits, and a breaker that is not '$', borrow in
// none), so none can have lent a wrong flag. Ids, amounts and SKUs cost no
// stop; a run that reaches the end of the word, or ends at a separator, an
// escape, '$', 'e' or 'E', is the chain loop's.
func skipQuietBefore[T text](s T, i int, nums *numScan) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	n := len(s)
	for {
		// i >= 0 always holds: said here, it spares the loads their
		// bounds checks.
		for ; i >= 0 && i <= n-8; i += 8 {
			_ = s[i+7]
			v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			dm := digitBytes(v)
			p := v ^ '$'*ones // '$', '%', '&': 0–2
			b := v ^ '\\'*ones
			e := v ^ 0xEF*ones
			m := dm | ((p-3*ones)&^p|(b-ones)&^b|(e-ones)&^e)&highs
			for m != 0 {
				// low is the lowest flag, a digit or not; past is the
				// lowest byte above it that is no digit (0 when the run
				// of digits from low reaches the end of the word).
				low := m & -m
				if dm&low == 0 {
					i += bits.TrailingZeros64(low) / 8
					goto found
				}
				nd := ^dm & highs & -low
				past := nd & -nd
				if past == 0 || !quietEnd[byte(v>>(bits.TrailingZeros64(past)-7))] {
					i += bits.TrailingZeros64(low) / 8
					goto found
				}
				m &^= past<<1 - 1
			}
		}
		for ; i < n; i++ {
			if c := s[i]; c-'0' < 10 || c == '%' || c == '&' || c == '\\' || c == 0xEF {
				goto found
			}
		}
		return n
	found:
		if c := s[i]; c == '$' {
			i++
			continue
		} else if c-'0' >= 10 {
			return i
		}
		// A chain of plain digits and ASCII separators: passed over
		// when it holds fewer than MinLen digits and surely ends.
		j, digits := i, 0
		for {
			k := j
			for j < n && s[j]-'0' < 10 {
				j++
			}
			if digits += j - k; digits >= MinLen {
				return i
			}
			if j == n {
				break
			}
			if c := class[s[j]]; c == bBreak {
				if s[j]|0x20 == 'e' && nums != nil {
					numbersAfterRun(nums, s, j)
				}
				break
			} else if c != bSep {
				return i // an escape or a UTF-8 digit may go on with it
			} else if s[j] == '.' && nums != nil {
				numbersAfterRun(nums, s, j)
			}
			if j++; j == n {
				break
			}
			if c := class[s[j]]; c == bEsc || c == bHigh {
				return i
			} else if c != bDigit {
				break // a breaker or a second separator ends it
			}
		}
		i = j
	}
}

// wordRunTexts returns texts that put runs of digits of every length up
// to 18 at every place of a word and the next, each ended by each byte
// that matters to skipQuiet (a quiet end or not, a flagged byte, a byte
// past ASCII), several runs to a word, flagged bytes below and above
// them, runs joined at ':' (a time), and random mixes of those bytes of
// every length to 40: each case of the runs skipQuiet reads at once, of
// a run reaching the word's end and of those left to the chain loop.
func wordRunTexts(rng *rand.Rand) []string {
	ends := []string{`"`, ",", "}", ":", "_", ";", ":1", "::", ":1.", ":12 ", "a", "T", "/", "\x00", "\x7f", " ", "-", ".", "+", "e", "E", "$", "%", "&", `\`,
		"\xef", "\xc2", "\xe2", "\x80", "\xff", "'", "#", "%34", "\xef\xbc\x94", " 1", ".5", "e5", "-1-", "1"}
	digits := "012345678901234567890123"
	var texts []string
	for k := 1; k <= 18; k++ {
		for shift := 0; shift < 16; shift++ {
			for e, end := range ends {
				pad := strings.Repeat("ab"[e%2:e%2+1], shift)
				tail := strings.Repeat("x", (k+shift+e)%11)
				texts = append(texts, pad+digits[:k]+end+tail)
				texts = append(texts, pad+digits[:k]+end+"7"+ends[(e+k)%len(ends)]+tail)
			}
		}
	}
	// Two to four runs in a word, each ended by one of ends.
	for range 20000 {
		var b strings.Builder
		b.WriteString(strings.Repeat("z", rng.IntN(9)))
		for range 2 + rng.IntN(3) {
			b.WriteString(digits[:1+rng.IntN(4)])
			b.WriteString(ends[rng.IntN(len(ends))])
		}
		b.WriteString(strings.Repeat("z", rng.IntN(9)))
		texts = append(texts, b.String())
	}
	// Random mixes of the bytes that matter.
	alphabet := []byte("0123456789012345678901234567890123456789\",}:_aT -.+eE$%&\\\xef\xbc\x94\xc2\xa0\xe2\x80")
	for range 20000 {
		b := make([]byte, rng.IntN(41))
		for k := range b {
			b[k] = alphabet[rng.IntN(len(alphabet))]
		}
		texts = append(texts, string(b))
	}
	return texts
}

// TestSkipQuietSameAsBefore: from every index of the texts of
// TestSkipQuietSameAsPrior (the committed fuzz inputs, quietRunTexts, a
// tenth of the short texts of the FindAll differential test and its long
// ones) and of wordRunTexts, skipQuiet answers as its copy before
// (skipQuietBefore).
func TestSkipQuietSameAsBefore(t *testing.T) {
	texts := append(fuzzCorpora(t), quietRunTexts()...)
	texts = append(texts, wordRunTexts(rand.New(rand.NewPCG(113, 127)))...)
	for i, s := range findAllTexts(rand.New(rand.NewPCG(89, 97))) {
		if i%10 == 0 || len(s) > 256 {
			texts = append(texts, s)
		}
	}
	texts = append(texts, string(checkoutBody(checkoutAlias)), string(realisticJSON(4096)))
	for _, s := range texts {
		skipQuietSameAs(t, []byte(s), skipQuietBefore[[]byte], skipQuietBefore[string])
	}
	t.Logf("%d texts", len(texts))
}

// FuzzSkipQuietAgainstBefore is TestSkipQuietSameAsBefore on what the
// fuzzer makes.
func FuzzSkipQuietAgainstBefore(f *testing.F) {
	for _, s := range fuzzCorpora(f) {
		f.Add([]byte(s))
	}
	texts := wordRunTexts(rand.New(rand.NewPCG(131, 137)))
	for i := 0; i < len(texts); i += 67 {
		f.Add([]byte(texts[i]))
	}
	f.Add(checkoutBody(checkoutAlias))
	f.Add(realisticJSON(1024))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<12 {
			return
		}
		skipQuietSameAs(t, b, skipQuietBefore[[]byte], skipQuietBefore[string])
	})
}
