package pan

import (
	"bufio"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// findNumbers as it was before FindAll read the numbers in Find's pass
// (numScan) and numbersTo read them from the runs of digits, with the
// scan it stopped at every 'e', 'E' and '.' with: the oracle of the
// differential tests below (TestFindAllSameAsTwoCalls,
// FuzzFindAllAgainstTwoCalls). Copied from the commit before the change,
// but for its fractions, read by the older reading (prevFindRounded) and
// not by roundedAt, whose shortcut (shortWhole) came with the change.
func prevOnePassFindNumbers[T text](s T, out []number) ([]number, int) {
	esc := -1
	for i := 0; ; i++ {
		if i = prevNextNumberStart(s, i, esc < 0); i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '%' || c == '\\' || c == '&':
			esc = i
		case i == 0 || i+1 >= len(s):
			// A number's 'e' or '.' has a digit before it and something
			// after it.
		case c == '.':
			// A fraction: read below by the reading of fractions before
			// roundedAt (prevFindRounded), which has no shortcut
			// (shortWhole) to share with the code checked.
		default: // 'e', 'E'
			out = exponentAt(s, i, out)
		}
	}
	if esc < 0 {
		esc = len(s)
	}
	return prevFindRounded(s, out), esc
}

func prevNextNumberStart[T text](s T, i int, esc bool) int {
	n := len(s)
	for ; i <= n-8; i += 8 {
		for m := numberBytes(load8(s, i), esc); m != 0; m &= m - 1 {
			if k := i + bits.TrailingZeros64(m)/8; prevNumberStartAt(s, k, esc) {
				return k
			}
		}
	}
	for ; i < n; i++ {
		if prevNumberStartAt(s, i, esc) {
			return i
		}
	}
	return n
}

func prevNumberStartAt[T text](s T, i int, esc bool) bool {
	switch c := s[i]; {
	case c|0x20 == 'e' || c == '.':
		return i > 0 && (isDigit(s[i-1]) || s[i-1] == '.')
	case c == '%' || c == '\\' || c == '&':
		return esc
	}
	return false
}

// sameAsTwoCalls fails t when FindAll reads b otherwise than FindMax and
// the exponent reader before the change, or findNumbers otherwise than
// before.
func sameAsTwoCalls(t *testing.T, b []byte) {
	t.Helper()
	found, esc := prevOnePassFindNumbers(b, nil)
	want := prevNumberDigits(b, found, esc)
	if got, gotEsc := findNumbers(b, nil); !slices.Equal(got, found) || gotEsc != esc {
		t.Fatalf("findNumbers(%q) = %v %d, before %v %d", b, got, gotEsc, found, esc)
	}
	if got := FindExponent(b); !slices.Equal(got, want) {
		t.Fatalf("FindExponent(%q) = %q, before %q", b, got, want)
	}
	all := Find(b)
	for _, max := range []int{-1, 0, 1, 2, len(all) / 2, len(all), maxFoundOfTheLeakGuard} {
		cs, more := FindMax(b, max)
		gcs, gmore, nums := FindAll(b, max)
		if !slices.Equal(gcs, cs) || gmore != more {
			t.Fatalf("FindAll(%q, %d) = %v %v, FindMax %v %v", b, max, spans(gcs), gmore, spans(cs), more)
		}
		if !slices.Equal(nums, want) {
			t.Fatalf("FindAll(%q, %d) numbers %q, before %q", b, max, nums, want)
		}
	}
	// Find's pass alone (numScan) reads the numbers of the text as it is,
	// and its first escape, exactly as before.
	if enoughDigits(b) {
		ns := numScan{esc: -1}
		findIn(b, -1, &ns)
		if got, gotEsc := ns.result(len(b)); !slices.Equal(got, found) || gotEsc != esc {
			t.Fatalf("Find's pass over %q read numbers %v %d, before %v %d", b, got, gotEsc, found, esc)
		}
	}
}

// prevNumberDigits is numberDigits with the oracle's reading of the
// unescaped text (prevOnePassFindNumbers), not findNumbers: the digits of
// found, then those of the unescaped text's numbers not among them.
func prevNumberDigits(b []byte, found []number, esc int) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ns []number) {
		for _, n := range ns {
			if !seen[n.digits] || len(out) < len(found) {
				seen[n.digits] = true
				out = append(out, n.digits)
			}
		}
	}
	add(found)
	if d := unescapeNumber(b, nil, esc); d != nil {
		more, _ := prevOnePassFindNumbers(d, nil)
		add(more)
	}
	return out
}

// maxFoundOfTheLeakGuard is the bound the proxies' leak guard passes
// (proxy's maxFound).
const maxFoundOfTheLeakGuard = 64

// findAllTexts returns the texts of the differential test: the exponent
// tests' adversarial texts, the scan's boundary units in pairs and triples
// around numbers, the bodies of the benchmarks, and random mixes of the
// bytes that matter to either reading.
func findAllTexts(rng *rand.Rand) []string {
	texts := prevTexts(rng)
	numbers := []string{"4111111111111111000e-3", "4111111111111110.9", "5.e15", "4111111111111110.e0",
		"4111111111111111000%65-3", "41111111111111110E-1", "12.5", "1e5", "3.4e1"}
	for _, a := range skipUnits {
		for _, n := range numbers {
			for shift := 0; shift < 9; shift++ {
				p := strings.Repeat("x", shift)
				texts = append(texts, p+a+n, p+n+a, p+a+" "+n, p+n+"."+a, p+a+"."+n+a)
			}
		}
		for _, b := range skipUnits {
			texts = append(texts, a+b, a+"."+b, a+"e"+b, a+".e"+b, a+"e5"+b, a+".5"+b)
		}
	}
	// A mantissa whose digits end in a unit Find decodes (a character
	// reference of 7 significant digits, leading zeros allowed), the '.'
	// and 'e' after it: "&#00000004111111.e9" is 4111111e9 to a reader
	// of the text as it is.
	for m := 4111111; m < 4112111; m++ {
		for e := 6; e <= 12; e++ {
			if d := strconv.Itoa(m) + strings.Repeat("0", e); Valid(d) {
				texts = append(texts, "&#000000"+strconv.Itoa(m)+".e"+strconv.Itoa(e), "x&#000000"+strconv.Itoa(m)+"e"+strconv.Itoa(e)+" ")
			}
		}
	}
	// A mantissa that starts in a unit Find decodes and ends a few digits
	// after it, then its '.' and 'e': the '.' and the 'e' fall on every
	// side of the end of the bytes read with the unit ("%340.e13" is
	// 3400000000000000, found only as "%340" ".e13").
	for _, u := range []string{"%34", "&#52", "&#x34", "\\u0034", "%u0034", "\uff14", "&#52;"} {
		for _, tail := range []string{"", "0", "00", "000", "0000"} {
			for _, e := range []string{".e", "e", ".E", "."} {
				for exp := 8; exp <= 17; exp++ {
					texts = append(texts, "xxxxxxxxxx "+u+tail+e+strconv.Itoa(exp), "xxxxxxxxxx "+u+tail+e+strconv.Itoa(exp)+" "+u+"1")
				}
			}
		}
	}
	// A short mantissa, its '.' and 'e' after it, in a text with digits
	// enough for Find's reading: a chain that reading passes over whole.
	for m := 411111; m < 413111; m++ {
		for e := 7; e <= 13; e++ {
			if d := strconv.Itoa(m) + strings.Repeat("0", e); Valid(d) {
				texts = append(texts, `{"id":"1234567890123","n":`+strconv.Itoa(m)+".e"+strconv.Itoa(e)+"}",
					`{"id":"1234567890123","n":`+strconv.Itoa(m)+"e"+strconv.Itoa(e)+"}")
			}
		}
	}
	for _, b := range [][]byte{realisticJSON(16 << 10), denseCards(50), checkoutBody(visa), checkoutBody("tok_4f1c2a9b8e7d")} {
		texts = append(texts, string(b))
	}
	for range 3000 {
		var b strings.Builder
		for k := rng.IntN(30); k > 0; k-- {
			if rng.IntN(3) == 0 {
				b.WriteString(numbers[rng.IntN(len(numbers))])
			} else {
				b.WriteString(skipUnits[rng.IntN(len(skipUnits))])
			}
		}
		texts = append(texts, b.String())
	}
	texts = append(texts, spelledNumberTexts(rng, 20000)...)
	return appendRandomTexts(texts, rng, 20000, 40, "0123456789411111111111111 ..eE+-%\\&#;xu$a\"\xef\xbc\x94\xc2\xa0")
}

// spelledNumberTexts returns n texts of card numbers written as numbers
// (trailing zeros and a negative exponent, a shifted point, a fraction a
// parser rounds, a short mantissa, a leading point, a sign or leading
// zeros), each character spelled at random as itself or in one of the
// escapes Find decodes (%34, \u0034, &#52;, &#x34;, %u0034, &#0000052, a
// full-width digit, %2534) or followed by an invisible character or a
// separator, among fillers that end or start runs of digits, escapes and
// units, some cut anywhere: a number's digits, point and exponent fall on
// every side of the units FindAll's pass hands on. Random texts of bytes
// make a number of a card's value too rarely to test that.
func spelledNumberTexts(rng *rand.Rand, n int) []string {
	fillers := []string{"x", " ", `"`, ":", ",", `{"a":`, "e", "E", ".", "..", "-", "+", "%", `\`, "&", "&#", `\u`, "%3",
		"1", "12", "12345678901", "123456789012", "1234567890123", "4111111111111111", "\uff14", "\u00a0", "\u200b", "\xff",
		"000000000000", "price", "5.0", "203.0.113.7", "1e5", "%2E", "%65", "&#46;", `\u002e`, `\u0065`, "%2D"}
	texts := make([]string, 0, n)
	var b strings.Builder
	for range n {
		b.Reset()
		for k := 1 + rng.IntN(6); k > 0; k-- {
			if rng.IntN(2) == 0 {
				for _, c := range []byte(cardAsNumber(rng)) {
					b.WriteString(spellNumberByte(rng, c))
				}
			}
			for m := rng.IntN(4); m > 0; m-- {
				b.WriteString(fillers[rng.IntN(len(fillers))])
			}
		}
		t := b.String()
		if rng.IntN(5) == 0 && len(t) > 0 {
			i := rng.IntN(len(t))
			t = t[i : i+rng.IntN(len(t)-i+1)]
		}
		texts = append(texts, t)
	}
	return texts
}

// cardAsNumber returns a Luhn-valid number of 13 to 19 digits (some with
// trailing zeros) written as a number whose value is it or rounds to it.
func cardAsNumber(rng *rand.Rand) string {
	d := make([]byte, 12+rng.IntN(7))
	d[0] = "3456"[rng.IntN(4)]
	for i := 1; i < len(d); i++ {
		d[i] = byte('0' + rng.IntN(10))
	}
	if rng.IntN(3) == 0 {
		for i := 1 + rng.IntN(len(d)-1); i < len(d); i++ {
			d[i] = '0'
		}
	}
	c := string(d) + string(CheckDigit(d))
	p := 1 + rng.IntN(len(c)-1)
	var s string
	switch rng.IntN(6) {
	case 0:
		k := rng.IntN(5)
		s = c + strings.Repeat("0", k) + "e-" + strconv.Itoa(k)
	case 1:
		s = c[:p] + "." + c[p:] + "e" + strconv.Itoa(len(c)-p)
	case 2:
		if last := c[len(c)-1]; last > '0' {
			s = c[:len(c)-1] + string(last-1) + "." + strconv.Itoa(5+rng.IntN(5))
		} else {
			s = c + ".0" + strconv.Itoa(rng.IntN(5))
		}
	case 3:
		t := strings.TrimRight(c, "0")
		s = t + []string{"e", ".e", "E", ".E", "e+", ".0e"}[rng.IntN(6)] + strconv.Itoa(len(c)-len(t))
	case 4:
		s = "." + c + "e" + strconv.Itoa(len(c))
	default:
		s = c[:p] + "." + c[p:]
	}
	if rng.IntN(4) == 0 {
		s = []string{"-", "+", "0", "00", "-0"}[rng.IntN(5)] + s
	}
	return s
}

// spellNumberByte returns c as itself, in an escape Find decodes, or
// followed by an invisible character or a separator.
func spellNumberByte(rng *rand.Rand, c byte) string {
	if rng.IntN(3) != 0 {
		return string(c)
	}
	switch rng.IntN(9) {
	case 0:
		return fmt.Sprintf("%%%02X", c)
	case 1:
		return fmt.Sprintf("\\u%04x", c)
	case 2:
		return fmt.Sprintf("&#%d;", c)
	case 3:
		return fmt.Sprintf("&#x%x;", c)
	case 4:
		return fmt.Sprintf("%%u%04X", c)
	case 5:
		if isDigit(c) {
			return string(rune(0xff10 + int(c-'0')))
		}
		return string(c)
	case 6:
		return fmt.Sprintf("&#%07d", c)
	case 7:
		return fmt.Sprintf("%%25%02X", c)
	}
	return string(c) + []string{"\u200b", "\u00ad", " ", "-", "\u00a0"}[rng.IntN(5)]
}

// TestFindAllSameAsTwoCalls: FindAll finds what FindMax and the exponent
// reader before it found, in every text of findAllTexts.
func TestFindAllSameAsTwoCalls(t *testing.T) {
	numbers := 0
	for _, s := range findAllTexts(rand.New(rand.NewPCG(51, 53))) {
		sameAsTwoCalls(t, []byte(s))
		if _, _, nums := FindAll([]byte(s), -1); len(nums) > 0 {
			numbers++
		}
	}
	for _, s := range fuzzCorpora(t) {
		sameAsTwoCalls(t, []byte(s))
	}
	if numbers < 3000 {
		t.Fatalf("only %d texts with numbers", numbers)
	}
}

// fuzzCorpora returns the strings of the committed fuzz inputs of this
// package and of the log scrubber (internal/obs), which read card numbers
// in the same texts.
func fuzzCorpora(t testing.TB) []string {
	var out []string
	for _, dir := range []string{"testdata/fuzz/*/*", "../obs/testdata/fuzz/*/*", "../../proxy/testdata/fuzz/*/*"} {
		files, err := filepath.Glob(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				line := sc.Text()
				for _, prefix := range []string{"string(", "[]byte("} {
					if q, ok := strings.CutPrefix(line, prefix); ok {
						if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
							out = append(out, s)
						}
					}
				}
			}
			f.Close()
		}
	}
	if len(out) == 0 {
		t.Fatal("no fuzz inputs found")
	}
	return out
}

// FuzzFindAllAgainstTwoCalls is TestFindAllSameAsTwoCalls on what the
// fuzzer makes.
func FuzzFindAllAgainstTwoCalls(f *testing.F) {
	for _, s := range fuzzCorpora(f) {
		f.Add([]byte(s))
	}
	for _, s := range findAllTexts(rand.New(rand.NewPCG(61, 67)))[:600] {
		f.Add([]byte(s))
	}
	for _, s := range spelledNumberTexts(rand.New(rand.NewPCG(79, 83)), 600) {
		f.Add([]byte(s))
	}
	f.Add(checkoutBody(visa))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<14 {
			return
		}
		sameAsTwoCalls(t, b)
	})
}

// TestNumbersToInPieces: numbersTo reads a text cut anywhere into pieces,
// read one after the other, as findNumbers before the change read it
// whole (FindAll reads the bytes of each unit so, and the two after it).
func TestNumbersToInPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 73))
	for _, s := range findAllTexts(rand.New(rand.NewPCG(51, 53)))[:30000] {
		want, wantEsc := prevOnePassFindNumbers(s, nil)
		ns := numScan{esc: -1}
		for end := 0; end < len(s); end += 1 + rng.IntN(4) {
			numbersTo(&ns, s, end)
		}
		numbersTo(&ns, s, len(s))
		if got, esc := ns.result(len(s)); !slices.Equal(got, want) || esc != wantEsc {
			t.Fatalf("numbersTo(%q) in pieces = %v %d, whole %v %d", s, got, esc, want, wantEsc)
		}
	}
}
