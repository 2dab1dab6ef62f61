package pan

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The exponent and fraction readers as they were before findNumbers read a
// text in one pass (nextNumberByte, exponentAt, roundedAt) and
// unescapeNumber started at the first escape that pass found: the oracle of
// the differential tests below (TestFindExponentSameAsPrevious,
// FuzzFindExponentAgainstPrevious). Copied from the commit before the
// change; only the names differ.

func prevFindExponentEsc[T text](s T) []string {
	found := prevFindNumbers(s, nil)
	var more []number
	if d := prevUnescapeNumber(s, nil); d != nil {
		more = prevFindNumbers(d, nil)
	}
	if len(found) == 0 && len(more) == 0 {
		return nil
	}
	out := make([]string, 0, len(found)+len(more))
	for _, n := range found {
		out = append(out, n.digits)
	}
	if len(more) == 0 {
		return out
	}
	seen := make(map[string]bool, len(out))
	for _, n := range out {
		seen[n] = true
	}
	for _, n := range more {
		if !seen[n.digits] {
			seen[n.digits] = true
			out = append(out, n.digits)
		}
	}
	return out
}

func prevFindNumbers[T text](s T, out []number) []number {
	return prevFindRounded(s, prevFindExponent(s, out))
}

func prevUnescapeNumber[T text](s T, at *[]int) []byte {
	var out []byte
	last := 0
	for i := 0; ; i++ {
		if i = nextEscape(s, i); i >= len(s) {
			break
		}
		cp, n := escape(s, i)
		c := byte(cp)
		switch {
		case n > 0 && numberChar(cp):
		case n > 0 && !wordRune(cp) && numberFollows(s, i+n):
			c = ' '
		case n == 0 && i+1 < len(s) && s[i] == '\\' && strings.IndexByte("bfnrtv", s[i+1]) >= 0 && numberFollows(s, i+2):
			n, c = 2, ' '
		default:
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(s))
		}
		if at != nil {
			for k := last; k <= i; k++ {
				*at = append(*at, k)
			}
		}
		out = append(append(out, s[last:i]...), c)
		i += n - 1
		last = i + 1
	}
	if out == nil {
		return nil
	}
	if at != nil {
		for k := last; k <= len(s); k++ {
			*at = append(*at, k)
		}
	}
	return append(out, s[last:]...)
}

func prevFindExponent[T text](b T, out []number) []number {
	for i := 1; ; i++ {
		if i = prevNextByte(b, i, 'e', 0x20); i+1 >= len(b) {
			return out
		}
		if !isDigit(b[i-1]) && b[i-1] != '.' {
			continue
		}
		j, dots := i, 0
		for j > 0 && (isDigit(b[j-1]) || b[j-1] == '.') {
			j--
			if b[j] == '.' {
				dots++
			}
		}
		if inWord(b, j) {
			continue
		}
		k := i + 1
		neg := false
		if b[k] == '+' || b[k] == '-' {
			neg = b[k] == '-'
			k++
		}
		start := k
		for k < len(b) && isDigit(b[k]) {
			k++
		}
		if k == start || dots > 1 {
			continue
		}
		sig := start
		for sig < k-1 && b[sig] == '0' {
			sig++
		}
		if k-sig > 9 {
			i = k - 1
			continue
		}
		exp, _ := strconv.Atoi(string(b[sig:k]))
		if neg {
			exp = -exp
		}
		if !cardMagnitude(b[j:i], exp) {
			i = k - 1
			continue
		}
		if d, ok := wholeValue(string(b[j:i]), exp); ok {
			out = append(out, number{start: j, end: i, digits: d})
		} else if d, ok := roundedValue(string(b[j:i]), exp); ok {
			out = append(out, number{start: j, end: i, digits: d})
		}
		i = k - 1
	}
}

func prevFindRounded[T text](b T, out []number) []number {
	for i := 1; ; i++ {
		if i = prevNextByte(b, i, '.', 0); i+1 >= len(b) {
			return out
		}
		if !isDigit(b[i-1]) || !isDigit(b[i+1]) {
			continue
		}
		j := i
		for j > 0 && isDigit(b[j-1]) {
			j--
		}
		k := i + 1
		for k < len(b) && isDigit(b[k]) {
			k++
		}
		if inWord(b, j) {
			i = k - 1
			continue
		}
		if j > 0 && b[j-1] == '.' || k < len(b) && (b[k] == 'e' || b[k] == 'E' || b[k] == '.') {
			i = k - 1
			continue
		}
		z := j
		for z < i && b[z] == '0' {
			z++
		}
		if i-z < MinLen-1 || i-z > 17 {
			i = k - 1
			continue
		}
		if d, ok := roundedValue(string(b[j:k]), 0); ok && d != string(b[z:i]) {
			out = append(out, number{start: j, end: k, digits: d})
		}
		i = k - 1
	}
}

func prevNextByte[T text](s T, i int, c, fold byte) int {
	n := len(s)
	for ; i <= n-8; i += 8 {
		if m := zeroByte((load8(s, i) | uint64(fold)*swarOnes) ^ uint64(c)*swarOnes); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < n; i++ {
		if s[i]|fold == c {
			return i
		}
	}
	return n
}

func prevMaskNumbers(s string) string {
	found := prevFindNumbers(s, nil)
	var at []int
	var more []number
	if d := prevUnescapeNumber(s, &at); d != nil {
		more = prevFindNumbers(d, nil)
	}
	if len(found) == 0 && len(more) == 0 {
		return s
	}
	b := []byte(s)
	for _, n := range found {
		maskMantissa(b, s, n.start, n.end)
	}
	for _, n := range more {
		maskMantissa(b, s, at[n.start], at[n.end])
	}
	return string(b)
}

func prevContainsNumber[T text](s T) bool {
	if len(prevFindNumbers(s, nil)) > 0 {
		return true
	}
	d := prevUnescapeNumber(s, nil)
	return d != nil && len(prevFindNumbers(d, nil)) > 0
}

// sameAsPrevious fails when any reader of numbers in exponent notation or
// rounded fractions answers s otherwise than before the one-pass change:
// FindExponent (bytes and string), the numbers with their offsets and the
// decoded text with its offset map (unescapeNumber from the first escape
// against from 0), MaskNumbers, ContainsAll's half (containsNumber), and
// the leak guard's header pre-test (MayHoldNumber against the
// strings.ContainsAny it replaced).
func sameAsPrevious(t *testing.T, s string) {
	t.Helper()
	if got, want := FindExponentString(s), prevFindExponentEsc(s); !slices.Equal(got, want) {
		t.Fatalf("FindExponentString(%q) = %q, before %q", s, got, want)
	}
	if got, want := FindExponent([]byte(s)), prevFindExponentEsc([]byte(s)); !slices.Equal(got, want) {
		t.Fatalf("FindExponent(%q) = %q, before %q", s, got, want)
	}
	got, esc := findNumbers(s, nil)
	if want := prevFindNumbers(s, nil); !slices.Equal(got, want) {
		t.Fatalf("findNumbers(%q) = %v, before %v", s, got, want)
	}
	var at, prevAt []int
	d, prevD := unescapeNumber(s, &at, esc), prevUnescapeNumber(s, &prevAt)
	if string(d) != string(prevD) || (d == nil) != (prevD == nil) || !slices.Equal(at, prevAt) {
		t.Fatalf("unescapeNumber(%q, from %d) = %q %v, before %q %v", s, esc, d, at, prevD, prevAt)
	}
	if got, want := MaskNumbers(s), prevMaskNumbers(s); got != want {
		t.Fatalf("MaskNumbers(%q) = %q, before %q", s, got, want)
	}
	if got, want := containsNumber(s), prevContainsNumber(s); got != want || containsNumber([]byte(s)) != want {
		t.Fatalf("containsNumber(%q) = %v, before %v", s, got, want)
	}
	if got, want := MayHoldNumber(s), strings.ContainsAny(s, "eE.%\\&"); got != want {
		t.Fatalf("MayHoldNumber(%q) = %v, strings.ContainsAny %v", s, got, want)
	}
}

// prevTexts returns the adversarial texts of the differential test: card
// numbers in exponent notation and as fractions that round to one, at both
// ends of the text and at every offset of an eight-byte word (so each
// escape, 'e' and '.' falls on every side of a word boundary), in texts of
// MinLen-1 to MinLen+1 bytes, spelled with escapes of every kind (split
// across words), next to high-bit bytes, UTF-8 digits and letters that
// make a word of them.
func prevTexts(rng *rand.Rand) []string {
	numbers := []string{
		"4111111111111111000e-3", "4111111111111111e0", "4.111111111111111e15", "4111111111111110.9",
		"4111111111111110.99", ".4111111111111111e16", "41111111111111110E-1", "4111111111111111000e-0003",
		"4111111111111111000%65-3", "4111111111111111000\\u0065-3", "4111111111111111000&#101;-3",
		"4111111111111111000&#x65;-3", "4111111111111111000%2565-3", "4111111111111110%2E9",
		"4111111111111110\\u002e9", "4111111111111110&#46;9", "411111111111111%31e0", "%34111111111111111e0",
		"4111111111111111000e%2D3", "4111111111111111000e\\u002d3", "4111111111111111000e-3.5",
		"4111111111111111e", "4111111111111111.", "4111111111111111e+", "1e", "-0", "-0e0", "0.0e0",
		"9007199254740993e0", "4111111111111111e0000000001", "4111111111111111e1000000000",
		"4111111111111111\u00a0e0", "４111111111111111e0", "x4111111111111111e0", "_4111111111111110.9",
		"\xff4111111111111111000e-3", "4111111111111111000e-3\xff", "é4111111111111110.9",
		"\\t4111111111111111000e-3", "\\n4111111111111110.9", "%204111111111111111000e-3",
		"4111111111111111000e-3%", "4111111111111111000e-3\\", "4111111111111111000e-3&",
		"4111111111111110.9.1", "1.4111111111111110.9", "4111111111111110.9e",
	}
	var texts []string
	for _, n := range numbers {
		for pad := 0; pad < 9; pad++ {
			p := strings.Repeat(" ", pad)
			texts = append(texts, n, p+n, n+p, p+n+p, "x"+p+n, n+p+"x", n+","+p+n, `{"a":`+p+n+`}`)
		}
		// The number cut to every length: a text that ends within it.
		for i := 0; i <= len(n); i++ {
			texts = append(texts, n[:i], n[i:])
		}
	}
	// Texts of MinLen-1 to MinLen+1 bytes, every byte of them every special
	// byte once.
	for n := MinLen - 1; n <= MinLen+1; n++ {
		for _, base := range []string{strings.Repeat("4", n), strings.Repeat("1", n-3) + "e15", "4" + strings.Repeat("1", n-2) + "."} {
			for i := 0; i < n; i++ {
				for _, c := range []byte("eE.%\\&\x00\x80\xff9-+") {
					b := []byte(base)
					b[i] = c
					texts = append(texts, string(b))
				}
			}
		}
	}
	texts = appendRandomTexts(texts, rng, 4000, 70, "eE.%\\&#;xu0+-0123456789411111111111111_a \xff\xc2\xa0\xef\xbc\x94")
	for p := int64(4111111111110000); len(texts) < 40000; p++ {
		if d := strconv.FormatInt(p, 10); Valid(d) {
			texts = append(texts,
				fmt.Sprintf("%d.%d", p-1, 5+rng.IntN(5)),
				fmt.Sprintf("%s%d%%65-3", strings.Repeat("%", rng.IntN(3)), p*1000),
				fmt.Sprintf("%d\\u0065%d", p, rng.IntN(2)),
				fmt.Sprintf("%s%de-0%s", strings.Repeat("x", rng.IntN(8)), p, strings.Repeat(".", rng.IntN(3))))
		}
	}
	return texts
}

// TestFindExponentSameAsPrevious: the one-pass findNumbers and
// unescapeNumber from the first escape read every adversarial text exactly
// as the readers they replaced did.
func TestFindExponentSameAsPrevious(t *testing.T) {
	plain, escaped, masked := 0, 0, 0
	for _, s := range prevTexts(rand.New(rand.NewPCG(31, 37))) {
		sameAsPrevious(t, s)
		if found, esc := findNumbers(s, nil); len(found) > 0 {
			plain++
		} else if d := unescapeNumber(s, nil, esc); d != nil {
			if more, _ := findNumbers(d, nil); len(more) > 0 {
				escaped++
			}
		}
		if MaskNumbers(s) != s {
			masked++
		}
	}
	// The texts reach every reader: numbers found as written, found only
	// once their escapes are decoded, and masked.
	if plain < 1000 || escaped < 1000 || masked < 2000 {
		t.Fatalf("texts with numbers: %d as written, %d decoded, %d masked", plain, escaped, masked)
	}
}

// FuzzFindExponentAgainstPrevious is TestFindExponentSameAsPrevious on
// what the fuzzer makes.
func FuzzFindExponentAgainstPrevious(f *testing.F) {
	for _, s := range prevTexts(rand.New(rand.NewPCG(41, 43)))[:400] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1<<14 {
			return
		}
		sameAsPrevious(t, s)
	})
}
