package pan

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestFindExponent(t *testing.T) {
	zeros := strings.Repeat("0", 990)
	tests := []struct {
		in   string
		want []string
	}{
		{`{"pan":4111111111111111000e-3}`, []string{"4111111111111111"}},
		{`41111111111111110000000E-7`, []string{"4111111111111111"}},
		{`4.111111111111111e15`, []string{"4111111111111111"}},
		{`4.111111111111111E+15`, []string{"4111111111111111"}},
		{`.4111111111111111e16`, []string{"4111111111111111"}},
		{`411111111111111.1e1`, []string{"4111111111111111"}},
		{`4111111111111111` + zeros + `e-990`, []string{"4111111111111111"}},
		{`37828224631e4 and 378282246310005e0`, []string{"378282246310005"}}, // 378282246310000 fails the Luhn check
		{`4111111111111111e0,5555555555554444e0`, []string{"4111111111111111", "5555555555554444"}},
		{`4111111111111112000e-3`, nil},                             // Luhn-invalid
		{`4111111111111111001e-3`, []string{"4111111111111111"}},    // 4111111111111111.001: a double rounds it to a whole number
		{`4111111111111111400e-3`, []string{"4111111111111111"}},    // 4111111111111111.4: its whole part, to a cast into a long
		{`41111111111111115e-1`, []string{"4111111111111111"}},      // 4111111111111111.5: Jackson into a long (ACCEPT_FLOAT_AS_INT)
		{`4.1111111111111115E15`, []string{"4111111111111111"}},     // the same as Java's Double.toString writes it
		{`4111111111111111.5e0`, []string{"4111111111111111"}},      // a fraction with an exponent
		{`-4111111111111111.9e0`, []string{"4111111111111111"}},     // truncated toward zero; the sign is no digit
		{`4.111111111111111e14`, nil},                               // 411111111111111.1
		{`4111111111111111e4`, nil},                                 // 20 digits
		{`0e18`, nil},                                               // zero, not eighteen zeros
		{`4111111111111111e`, nil},                                  // no exponent digits
		{`4111111111111111e-`, nil},                                 // no exponent digits
		{`41111111111111110e-1000`, nil},                            // not a whole number
		{`4111111111111111000e-0003`, []string{"4111111111111111"}}, // JSON allows leading zeros in the exponent
		{`4111111111111111` + zeros + `0000000000e-1000`, []string{"4111111111111111"}},
		{`4111111111111111e-9999999999`, nil},                                // ten exponent digits
		{`n=4111111111111111000%65-3`, []string{"4111111111111111"}},         // a form's percent-encoding
		{`"4111111111111111000\u0045\u002d3"`, []string{"4111111111111111"}}, // a JSON string's escapes
		{`4111111111111111000&#101;-3`, []string{"4111111111111111"}},        // an XML character reference
		{`4111111111111111000e-3 %41`, []string{"4111111111111111"}},         // once, however many readings
		{`4111111111111110999e-3`, []string{"4111111111111111"}},             // 4111111111111110.999: a double rounds it up
		{`{"n":4111111111111110.9}`, []string{"4111111111111111"}},           // without an exponent too
		{`{"n":5555555555554443.5}`, []string{"5555555555554444"}},           // a tie, to even
		{`{"n":4111111111111111.3}`, nil},                                    // the whole part: Find's
		{`{"n":4111111111111110.3,"amount":12.5,"t":1733485000000.25}`, nil},
		{`411111111111111.0000000001`, nil},                                                // rounds to its whole part, Find's
		{`1.2.4111111111111110.9`, nil},                                                    // not one number
		{`4.1.11111111111111e15`, nil},                                                     // two points
		{`e15 E-3 e+ .e5 1e1`, nil},                                                        // nothing of card length
		{`4111111111111111`, nil},                                                          // no exponent: Find's business
		{`4111 1111 1111 1111e0`, nil},                                                     // a mantissa is one run of digits
		{`=4111111111111111000e-3y`, []string{"4111111111111111"}},                         // a lenient parser (parseFloat, strtod) stops at the letter after it
		{`x4111111111111111000e-3y`, nil},                                                  // a word, not a number: no parser starts one after a letter
		{`"ffeb618aaa81c9c94da3c6a535997e8e"`, nil},                                        // a hex trace id (535997e8 is 53599700000000, Luhn-valid)
		{`id_4111111111111111000e-3 é4111111111111110.9`, nil},                             // '_' and a non-ASCII letter continue a word too
		{`a-4111111111111111000e-3 -4111111111111111000e-3`, []string{"4111111111111111"}}, // a sign belongs to the number; a letter before it does not
		// What a parser skips before a number starts a token, spelled by
		// an escape that ends in a letter or digit, or a character that is
		// not a letter, digit or mark (JavaScript's Number skips U+00A0,
		// U+3000 and a BOM as white space).
		{`n=%204111111111111111000e-3`, []string{"4111111111111111"}},
		{`n=%0A4111111111111111000e-3&m=%09-4111111111111111000e-3`, []string{"4111111111111111"}},
		{`n=%C2%A04111111111111111000e-3`, []string{"4111111111111111"}},
		{`n=&nbsp4111111111111111000e-3`, []string{"4111111111111111"}},
		{`{"n":"\t4111111111111111000e-3"}`, []string{"4111111111111111"}},
		{`{"n":"\u00204111111111111111000e-3"}`, []string{"4111111111111111"}},
		{`{"n":"\u00A0\u002d4111111111111111000e-3"}`, []string{"4111111111111111"}},
		{"\u00a04111111111111111000e-3 \u30004111111111111111000e-3 \ufeff4111111111111111000e-3", []string{"4111111111111111", "4111111111111111", "4111111111111111"}},
		{"«4111111111111111000e-3", []string{"4111111111111111"}},
		{`n=%204111111111111110.9`, []string{"4111111111111111"}},
		{`%41%42%434111111111111111000e-3 \u00414111111111111111000e-3`, nil}, // escaped letters continue a word
	}
	for _, tt := range tests {
		got := FindExponent([]byte(tt.in))
		if !slices.Equal(got, tt.want) {
			t.Errorf("FindExponent(%.60q) = %q, want %q", tt.in, got, tt.want)
		}
		if gs := FindExponentString(tt.in); !slices.Equal(gs, got) {
			t.Errorf("FindExponentString(%.60q) = %q, FindExponent %q", tt.in, gs, got)
		}
	}
}

// refExponent is FindExponent's rule computed with exact rationals, for
// one number (mant digits with at most one '.', exp): the value's whole
// part (truncated toward zero).
func refExponent(mant string, exp int) (string, bool) {
	r, ok := new(big.Rat).SetString(mant + "e" + big.NewInt(int64(exp)).String())
	if !ok {
		return "", false
	}
	whole := new(big.Int).Quo(r.Num(), r.Denom())
	if whole.Sign() == 0 {
		return "", false
	}
	d := whole.String()
	return d, len(d) >= MinLen && len(d) <= MaxLen && Valid(d)
}

// refRounded is the rounding rule computed with exact rationals: the
// double nearest to mant×10^exp, when it is a whole number below 2^53 of
// card length passing the Luhn check.
func refRounded(mant string, exp int) (string, bool) {
	r, ok := new(big.Rat).SetString(mant + "e" + big.NewInt(int64(exp)).String())
	if !ok {
		return "", false
	}
	f, _ := r.Float64() // the nearest double, ties to even
	if f != math.Trunc(f) || f >= 1<<53 || f < 1e12 {
		return "", false
	}
	d := new(big.Float).SetFloat64(f).Text('f', 0)
	return d, len(d) >= MinLen && len(d) <= MaxLen && Valid(d)
}

func FuzzFindExponent(f *testing.F) {
	for _, s := range []string{"4111111111111111000e-3", "4.111111111111111e15", "0e18", "1.e5", ".5e1", "4111111111111111e0e0", "9e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := FindExponentString(s)
		if b := FindExponent([]byte(s)); !slices.Equal(b, got) {
			t.Fatalf("bytes %q, string %q", b, got)
		}
		checkOnePass(t, s)
		for _, d := range got {
			if len(d) < MinLen || len(d) > MaxLen || !Valid(d) || d[0] == '0' {
				t.Fatalf("%q: returned %q, no card number", s, d)
			}
		}
		// A whole input that is one number: the reference decides.
		mant, e, ok := strings.Cut(strings.ToLower(s), "e")
		if !ok || mant == "" || strings.Trim(mant, "0123456789.") != "" || strings.Count(mant, ".") > 1 {
			return
		}
		digits := strings.TrimPrefix(strings.TrimPrefix(e, "+"), "-")
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			return
		}
		if digits = strings.TrimLeft(digits, "0"); digits == "" {
			digits = "0" // leading zeros count for nothing
		}
		if len(digits) > 4 {
			return
		}
		exp := 0
		for _, c := range digits {
			exp = exp*10 + int(c-'0')
		}
		if strings.HasPrefix(e, "-") {
			exp = -exp
		}
		want, card := refExponent(mant, exp)
		if !card {
			// Not a whole card number: perhaps the double nearest to it is.
			want, card = refRounded(mant, exp)
		}
		switch {
		case card && !slices.Equal(got, []string{want}):
			t.Fatalf("%q: got %q, want [%q]", s, got, want)
		case !card && len(got) != 0:
			t.Fatalf("%q: got %q, want none", s, got)
		}
	})
}

// distinctNumbersText returns a text of n distinct numbers FindExponent
// finds (a double rounds each to a card number), each spelled twice: as a
// fraction and with an escaped 'e', so that both readings find it.
func distinctNumbersText(n int) (string, []string) {
	var b strings.Builder
	var want []string
	for p := int64(4111111111110000); len(want) < n; p++ {
		d := strconv.FormatInt(p, 10)
		if !Valid(d) {
			continue
		}
		// The fraction rounds up to p, which Find does not read there; the
		// escaped 'e' adds a second reading of the same numbers.
		fmt.Fprintf(&b, "%d.9 %d%%65-3,", p-1, p*1000)
		want = append(want, d)
	}
	return b.String(), want
}

// TestFindExponentDistinctNumbers: a text of many distinct numbers found
// by both readings returns each once (the readings are merged through a set: they were merged, and the
// rounded results checked, by a search of the list so far, quadratic in
// it; BenchmarkFindExponentDistinct measures the cost per number at two
// sizes, which stays flat).
func TestFindExponentDistinctNumbers(t *testing.T) {
	s, want := distinctNumbersText(40000)
	got := FindExponentString(s)
	seen := make(map[string]int, len(got))
	for _, d := range got {
		seen[d]++
	}
	for _, d := range want {
		if seen[d] == 0 {
			t.Fatalf("%s not found", d)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("found %d distinct numbers, want %d", len(seen), len(want))
	}
	// The text as it is spells each number once (its fraction); the
	// escaped reading's numbers are all repeats of those.
	for d, n := range seen {
		if n != 1 {
			t.Fatalf("%s returned %d times, want once", d, n)
		}
	}
}

// TestSkipsFindWhatALoopFinds compares nextNumberByte, nextDigit and nextEscape, which read
// eight bytes at a time, with loops reading one, at every start of many
// texts holding every byte value at every place of a word.
func TestSkipsFindWhatALoopFinds(t *testing.T) {
	loop := func(s string, i int, hit func(byte) bool) int {
		for ; i < len(s); i++ {
			if hit(s[i]) {
				return i
			}
		}
		return len(s)
	}
	isEsc := func(c byte) bool { return c == '%' || c == '\\' || c == '&' }
	isNum := func(c byte) bool { return c == 'e' || c == 'E' || c == '.' }
	isNumEsc := func(c byte) bool { return isNum(c) || isEsc(c) }
	isDigitEsc := func(c byte) bool { return isDigit(c) || isEsc(c) }
	rng := rand.New(rand.NewPCG(1, 2))
	var texts []string
	for c := range 256 {
		for pos := range 19 {
			b := []byte(strings.Repeat("x", 19))
			b[pos] = byte(c)
			texts = append(texts, string(b))
			// Every byte before an 'e', a '.' and a digit, at every
			// place of a word.
			for _, next := range []byte("e.9") {
				if pos+1 < len(b) {
					b[pos+1] = next
					texts = append(texts, string(b))
				}
			}
		}
	}
	texts = appendRandomTexts(texts, rng, 2000, 40, "eE.%\\&$#'0123456789xyz\x00\xff\x0e\x05\x06/:\x7f\xb0\xae")
	for _, s := range texts {
		for i := 0; i <= len(s); i++ {
			if got, want := nextNumberByte(s, i, false), loop(s, i, isNum); got != want {
				t.Fatalf("nextNumberByte(%q, %d, false) = %d, want %d", s, i, got, want)
			}
			if got, want := nextNumberByte([]byte(s), i, true), loop(s, i, isNumEsc); got != want {
				t.Fatalf("nextNumberByte(%q, %d, true) = %d, want %d", s, i, got, want)
			}
			if got, want := nextDigit(s, i, false), loop(s, i, isDigit); got != want {
				t.Fatalf("nextDigit(%q, %d, false) = %d, want %d", s, i, got, want)
			}
			if got, want := nextDigit([]byte(s), i, true), loop(s, i, isDigitEsc); got != want {
				t.Fatalf("nextDigit(%q, %d, true) = %d, want %d", s, i, got, want)
			}
			if got, want := nextEscape(s, i), loop(s, i, isEsc); got != want {
				t.Fatalf("nextEscape(%q, %d) = %d, want %d", s, i, got, want)
			}
		}
	}
}

// findNumbersSeparately is what findNumbers did before its one pass: every
// 'e' or 'E' read by exponentAt, then every '.' by roundedAt, and the first
// escape looked for on its own.
func findNumbersSeparately(s string) ([]number, int) {
	var out, rounded []number
	for i := 1; i+1 < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			out = exponentAt(s, i, out)
		}
	}
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '.' {
			rounded = roundedAt(s, i, rounded)
		}
	}
	esc := strings.IndexAny(s, "%\\&")
	if esc < 0 {
		esc = len(s)
	}
	return append(out, rounded...), esc
}

// checkOnePass fails when findNumbers's one pass reads s otherwise than
// the separate passes it replaced (numbers, their order, the first escape).
func checkOnePass(t *testing.T, s string) {
	t.Helper()
	got, gotEsc := findNumbers(s, nil)
	want, wantEsc := findNumbersSeparately(s)
	if !slices.Equal(got, want) || gotEsc != wantEsc {
		t.Fatalf("findNumbers(%q) = %v, %d; separate passes %v, %d", s, got, gotEsc, want, wantEsc)
	}
}

// TestFindNumbersOnePass: the one pass of findNumbers finds what the
// separate passes found, in their order, on texts dense with numbers,
// points, exponents and escapes at every place of a word.
func TestFindNumbersOnePass(t *testing.T) {
	texts := []string{
		"", "e", ".", "%", "1e", "1.", "4111111111111111000e-3", "4111111111111110.9",
		"4111111111111110.9 4111111111111111000e-3 %65 4111111111111111000%65-3",
		"\\u00204111111111111111000e-3,4111111111111110.9e0,.4111111111111111e16",
		`{"sku":"SKU-00042","qty":1,"price":1999,"ok":true}`,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	texts = appendRandomTexts(texts, rng, 3000, 60, "eE.%\\&+-0123456789411111111111111xyz\x00\xff")
	for p := int64(4111111111110000); len(texts) < 3200; p++ {
		if d := strconv.FormatInt(p, 10); Valid(d) {
			texts = append(texts, fmt.Sprintf("%d.9 %d%%65-3 %de-0", p-1, p*1000, p), fmt.Sprintf("x%d.%de%d", p/10, p%10, rng.IntN(3)))
		}
	}
	for _, s := range texts {
		checkOnePass(t, s)
		if !MayHoldNumber(s) && (len(FindExponentString(s)) > 0 || strings.ContainsAny(s, "eE.%\\&")) {
			t.Fatalf("MayHoldNumber(%q) is false", s)
		}
	}
}

// appendRandomTexts appends n texts of up to max-1 bytes drawn from
// alphabet.
func appendRandomTexts(texts []string, rng *rand.Rand, n, max int, alphabet string) []string {
	for range n {
		b := make([]byte, rng.IntN(max))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		texts = append(texts, string(b))
	}
	return texts
}
