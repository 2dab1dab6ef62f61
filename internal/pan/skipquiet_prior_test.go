package pan

import (
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// skipQuiet and enoughDigits as they were before skipQuiet passed over
// short runs of digits inside its word and both read the digits of a word
// with digitBytes: the oracles of TestSkipQuietSameAsPrior and
// FuzzSkipQuietAgainstPrior. Copied from the commit before the change;
// only the names differ.

// skipQuiet returns the index of the first byte of s from i where the
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
// when b^'0' < 10, b^'$' < 3 ('$', '%', '&'; a '$' is passed over then) or
// b is '\\' or 0xEF (the has-less-than and has-zero-byte tricks); a flag
// may be wrong only above a right one, so the lowest is right.
func priorSkipQuiet[T text](s T, i int, nums *numScan) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	n := len(s)
	for {
		for ; i <= n-8; i += 8 {
			_ = s[i+7]
			v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			d := v ^ '0'*ones // the digits: 0–9
			p := v ^ '$'*ones // '$', '%', '&': 0–2
			b := v ^ '\\'*ones
			e := v ^ 0xEF*ones
			m := (d-10*ones)&^d | (p-3*ones)&^p | (b-ones)&^b | (e-ones)&^e
			if m &= highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				goto found
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

// enoughDigits reports whether s has at least MinLen bytes that are ASCII
// digits or 0xEF: every spelling of a digit holds one (a full-width digit
// starts with 0xEF, every escape of a digit has a decimal digit in it), so
// text with fewer holds no candidate. It spares short log strings the
// scanner's set-up. It counts eight bytes at a time, exactly: b is a digit
// when b^'0' is below 0x80 and (b^'0')+0x76 too, and b is 0xEF when b^0xEF
// is 0 (its low seven bits plus 0x7F, or'ed with it, below 0x80).
func priorEnoughDigits[T text](s T) bool {
	const (
		ones  = 0x0101010101010101
		lows  = 0x7F7F7F7F7F7F7F7F
		highs = 0x8080808080808080
	)
	if len(s) < MinLen {
		return false // every byte counted is one of s's: most header names and values
	}
	n, i := 0, 0
	for ; i <= len(s)-8; i += 8 {
		_ = s[i+7]
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		d := v ^ '0'*ones
		e := v ^ 0xEF*ones
		m := ^(d&lows + (0x80-10)*ones | d) & highs
		m |= ^(e&lows + lows | e) & highs
		if n += bits.OnesCount64(m); n >= MinLen {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c-'0' < 10 || c == 0xEF {
			if n++; n == MinLen {
				return true
			}
		}
	}
	return false
}

// skipQuietSameAsPrior fails when skipQuiet or enoughDigits answers
// otherwise than before from the indexes of b (skipQuietSameAs with
// priorSkipQuiet).
func skipQuietSameAsPrior(t testing.TB, b []byte) {
	t.Helper()
	skipQuietSameAs(t, b, priorSkipQuiet[[]byte], priorSkipQuiet[string])
	if got, want := enoughDigits(b), priorEnoughDigits(b); got != want {
		t.Fatalf("enoughDigits(%q) = %v; before %v", b, got, want)
	}
}

// skipQuietSameAs fails when skipQuiet answers otherwise than an older
// copy of it (wantB and wantS, its two instances) from the indexes of b,
// as bytes and as a string: the index it returns and what it told nums
// (none, a fresh numScan, and one that has read the stops up to the
// index, as FindAll's has). skipQuiet is a function of those alone, so the
// same answers everywhere mean every caller (Find, FindAll, Contains, the
// masks) is unchanged. The indexes are all of them in a short text; in a
// longer one (where each call may read to the end) the first 64, every
// 61st, and each byte after a stop from 0 on, where the scan calls it
// again.
func skipQuietSameAs(t testing.TB, b []byte, wantB func([]byte, int, *numScan) int, wantS func(string, int, *numScan) int) {
	t.Helper()
	s := string(b)
	next := 0
	for i := 0; i <= len(b); i++ {
		if len(b) > 256 && i >= 64 && i%61 != 0 && i != next {
			continue
		}
		if i == next {
			next = wantB(b, i, nil) + 1
		}
		if got, want := skipQuiet(b, i, nil), wantB(b, i, nil); got != want {
			t.Fatalf("skipQuiet(%q, %d, nil) = %d; before %d", b, i, got, want)
		}
		if got, want := skipQuiet(s, i, nil), wantS(s, i, nil); got != want {
			t.Fatalf("skipQuiet(string %q, %d, nil) = %d; before %d", s, i, got, want)
		}
		for _, pos := range []int{0, i} {
			ns, prior := numScan{esc: -1, pos: pos}, numScan{esc: -1, pos: pos}
			got, want := skipQuiet(b, i, &ns), wantB(b, i, &prior)
			if got != want || !reflect.DeepEqual(ns, prior) {
				t.Fatalf("skipQuiet(%q, %d, nums at %d) = %d, %+v; before %d, %+v", b, i, pos, got, ns, want, prior)
			}
		}
	}
}

// quietRunTexts returns texts that put a run of 1 to 9 ASCII digits at
// every place of a word, ended by every byte value, with a second run or
// flagged byte after it: each case of the run skipQuiet passes over in its
// word, and of those it leaves to the chain loop.
func quietRunTexts() []string {
	var texts []string
	afters := []string{"", "1", "12x", "$", "%34", "&#52;", `\u0034`, "\xef\xbc\x94", "'", "]", "\xee", ":", "::", "e5", ".5", " 1", "x"}
	for k := 1; k <= 9; k++ {
		run := "123456789"[:k]
		for shift := 0; shift < 9; shift++ {
			pad := strings.Repeat("a", shift)
			for c := range 256 {
				after := afters[(k+shift+c)%len(afters)]
				texts = append(texts, pad+run+string([]byte{byte(c)})+after+"yyyyyyyy"[:(c+k)%9])
			}
		}
	}
	return texts
}

// TestSkipQuietSameAsPrior: from every index of the texts of the FindAll
// differential test (the long ones and a tenth of the short random ones),
// the committed fuzz inputs and quietRunTexts, skipQuiet answers as
// before.
func TestSkipQuietSameAsPrior(t *testing.T) {
	texts := append(fuzzCorpora(t), quietRunTexts()...)
	for i, s := range findAllTexts(rand.New(rand.NewPCG(89, 97))) {
		if i%10 == 0 || len(s) > 256 { // a tenth of the short random ones: enough, in less time
			texts = append(texts, s)
		}
	}
	for _, s := range texts {
		skipQuietSameAsPrior(t, []byte(s))
	}
	t.Logf("%d texts", len(texts))
}

// TestDigitBytesExact: digitBytes flags exactly the ASCII digits of every
// word of two bytes' values (and random fillers), with no flag borrowed.
func TestDigitBytesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(101, 103))
	for x := range 256 {
		for y := range 256 {
			var w [8]byte
			for k := range w {
				w[k] = byte(rng.IntN(256))
			}
			p := rng.IntN(7)
			w[p], w[p+1] = byte(x), byte(y)
			var v uint64
			for k := range w {
				v |= uint64(w[k]) << (8 * k)
			}
			m := digitBytes(v)
			for k := range w {
				if got, want := m>>(8*k+7)&1 == 1, w[k]-'0' < 10; got != want || m>>(8*k)&0x7F != 0 {
					t.Fatalf("digitBytes(%#016x) = %#016x: byte %d", v, m, k)
				}
			}
		}
	}
}

// FuzzSkipQuietAgainstPrior is TestSkipQuietSameAsPrior on what the fuzzer
// makes.
func FuzzSkipQuietAgainstPrior(f *testing.F) {
	for _, s := range fuzzCorpora(f) {
		f.Add([]byte(s))
	}
	texts := quietRunTexts()
	for i := 0; i < len(texts); i += 97 {
		f.Add([]byte(texts[i]))
	}
	for _, s := range findAllTexts(rand.New(rand.NewPCG(107, 109)))[:600] {
		f.Add([]byte(s))
	}
	f.Add(checkoutBody(visa))
	f.Add(checkoutBody("tok_4f1c2a9b8e7d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<12 {
			return
		}
		skipQuietSameAsPrior(t, b)
	})
}
