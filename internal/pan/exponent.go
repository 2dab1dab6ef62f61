package pan

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FindExponent returns the card numbers b spells as numbers in exponent
// notation, in the order they appear: "4111111111111111000e-3" and
// "41111111111111110000000E-7" are one group of digits each, which Find
// reads only whole (as a group of 20+ digits or a Luhn-invalid run), while
// JSON.parse, parseFloat or Jackson (into a long) read them as the integer
// 4111111111111111. A number here is a mantissa of ASCII digits with at most
// one '.', then 'e' or 'E', an optional sign and the exponent's digits
// (leading zeros allowed, as JSON allows them); it is returned when its
// whole part (its value truncated toward zero) is a number of MinLen to
// MaxLen significant digits that passes the Luhn check ("4.1111111111111115e15"
// is 4111111111111111 to Java's (long) cast and to Jackson reading it into a
// long, which its default ACCEPT_FLOAT_AS_INT allows), or when a parser into
// a double rounds it to one ("4111111111111110999e-3", and
// "4111111111111110.9" without an exponent: 4111111111111111 to JavaScript;
// roundedValue). A number read
// is a token of its own: one that continues a word (a letter, digit or '_'
// before it or its sign, not spelled by an escape: inWord) is no number to
// a parser, as in a hex id. The returned
// strings are the digits of the value, which no longer appear in b as
// such: a caller cannot mask them in place. Escapes of the characters of
// a number are read decoded as well (findExponentEsc). Linear in the
// length of b; it allocates for a number it returns, and one copy of b
// when b escapes a character of a number.
func FindExponent(b []byte) []string { return findExponentEsc(b) }

// FindExponentString is FindExponent over a string.
func FindExponentString(s string) []string { return findExponentEsc(s) }

// FindAll returns what FindMax(b, max) and FindExponent(b) return, reading
// b once: Find's reading (skipQuiet, run) hands the reading of numbers
// (numScan) the byte after each run of digits it meets and the units it
// decodes, the only places a number can be found, where FindExponent alone
// reads all of b again. The leak guard reads each body with it.
func FindAll(b []byte, max int) (c []Candidate, more bool, nums []string) {
	if max < 0 {
		max = 0
	}
	// A text of MinLen bytes or more is read by Find's scanner without
	// counting its digits first (enoughDigits): with fewer than MinLen it
	// finds no candidate, and reads the numbers all the same.
	ns := numScan{esc: -1}
	read := len(b) >= MinLen
	if read {
		c, more = findIn(b, max, &ns)
	}
	var found []number
	var esc int
	if read && !more {
		found, esc = ns.result(len(b))
	} else {
		// Too short for Find's reading, or it stopped early: the numbers
		// are read on their own.
		found, esc = findNumbers(b, nil)
	}
	return c, more, numberDigits(b, found, esc)
}

// MayHoldNumber reports whether s has a byte FindExponentString starts a
// number from: 'e', 'E', '.', or an escape ('%', '\\', '&'). When it is
// false FindExponentString finds nothing in s. A quick test for the many
// short strings (header values) most of which have none.
func MayHoldNumber(s string) bool { return nextNumberByte(s, 0, true) < len(s) }

// MayHoldNumberBytes is MayHoldNumber over bytes.
func MayHoldNumberBytes(b []byte) bool { return nextNumberByte(b, 0, true) < len(b) }

// findExponentEsc reads s as it is and, when it spells a character of a
// number with an escape (the percent-encoding of a form or a URL, a JSON
// string's \u0065, an XML character reference: "4111111111111111000%65-3"
// is "4111111111111111000e-3" to the app that decodes it), with those
// escapes decoded too. The numbers of the second reading that the first
// did not find are added after the first's. A number may be returned more
// than once (as often as the text spells it).
func findExponentEsc[T text](s T) []string {
	found, esc := findNumbers(s, nil)
	return numberDigits(s, found, esc)
}

// numberDigits is findExponentEsc past the reading of s as it is: found
// are its numbers and esc its first escape (findNumbers's results).
func numberDigits[T text](s T, found []number, esc int) []string {
	var more []number
	if d := unescapeNumber(s, nil, esc); d != nil {
		more, _ = findNumbers(d, nil)
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
	seen := make(map[string]bool, len(out)) // a set: a body may spell thousands
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

// number is a number in exponent notation or a decimal fraction whose
// value is a card number: the digits of that value, and where the number's
// mantissa (its digits and point, before any 'e') is in the text read.
type number struct {
	start, end int
	digits     string
}

// findNumbers appends to out the numbers in exponent notation of s whose
// value is a card number or rounds to one (exponentAt, at each 'e' or 'E'),
// then the decimal fractions a parser rounds to one (roundedAt, at each
// '.'), and returns the offset of the first escape of s ('%', '\\', '&';
// len(s) when none), where unescapeNumber starts. One pass finds the three
// (nextNumberStart): a body is read once instead of three times.
func findNumbers[T text](s T, out []number) ([]number, int) {
	ns := numScan{esc: -1, out: out}
	numbersTo(&ns, s, len(s))
	return ns.result(len(s))
}

// numScan is findNumbers's pass over a text, read in pieces: numbersTo
// reads the stops of nextNumberStart up to an offset, and FindAll's
// reading of the text for Find (skipQuiet) hands it the places where it
// passes over bytes that hold none that matters (numbersQuiet,
// numbersAfterRun), so that one pass over the text reads both.
type numScan struct {
	pos  int // the stops before pos are read
	esc  int // the first escape, -1 before one is read
	out  []number
	frac []number // roundedAt's, after out's in the result
}

// result returns findNumbers's results once every stop of a text of n
// bytes has been read.
func (ns *numScan) result(n int) ([]number, int) {
	esc := ns.esc
	if esc < 0 {
		esc = n
	}
	return append(ns.out, ns.frac...), esc
}

// numbersTo reads the stops of s from ns.pos to end: the '.', 'e' and 'E'
// right after an ASCII digit or a '.', and the first escape ('%', '\\',
// '&'). Only those after a digit, and an 'e' after such a '.', may find a
// number ("4111111111111111.e0"); a '.' or 'e' after a '.' that follows
// no digit finds none (roundedAt wants a digit before its point, and
// exponentAt a mantissa of digits with one point at most). So numbersTo
// looks for digits and escapes (nextDigit) and reads the byte after each
// run of digits (numbersAfterRun), instead of stopping at every 'e' of the
// text's words; a run that ends at ns.pos is read first.
func numbersTo[T text](ns *numScan, s T, end int) {
	i := ns.pos
	if i > 0 && i < end && isDigit(s[i-1]) && numberByte(s[i]) {
		numbersAfterRun(ns, s, i)
	}
	for {
		p := nextDigit(s[:end], i, ns.esc < 0)
		if p >= end {
			break
		}
		if !isDigit(s[p]) {
			numberStop(ns, s, p) // the first escape
			i = p + 1
			continue
		}
		j := p + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j >= end {
			break
		}
		if numberByte(s[j]) {
			numbersAfterRun(ns, s, j)
		}
		i = j
	}
	ns.pos = max(ns.pos, end)
}

// numberStop reads the stop s[i] of nextNumberStart.
func numberStop[T text](ns *numScan, s T, i int) {
	switch c := s[i]; {
	case c == '%' || c == '\\' || c == '&':
		ns.esc = i
	case i == 0 || i+1 >= len(s):
		// A number's 'e' or '.' has a digit before it and something
		// after it.
	case c == '.':
		ns.frac = roundedAt(s, i, ns.frac)
	default: // 'e', 'E'
		ns.out = exponentAt(s, i, ns.out)
	}
}

// numbersIn reads the stops of s[i:next], a unit of Find's reading that
// is no plain digit, separator or breaker (an escape, a UTF-8 character),
// and of the two bytes after it: a number may start or end in an escape
// ("%34.e15" is 34e15 to the app that decodes it).
func numbersIn[T text](ns *numScan, s T, i, next int) {
	ns.pos = max(ns.pos, i)
	numbersTo(ns, s, min(next+2, len(s)))
}

// numbersAfterRun reads the stops after a run of ASCII digits that ends
// at s[j] ('.', 'e' or 'E': numberByte), unless read already (j < ns.pos):
// s[j], and s[j+1] when s[j] is a '.' ("4111111111111111.e0"), read with
// it even past the end of the bytes a caller reads (numbersTo's end), so
// that the next reading, which starts there, need not look back. These are
// the stops that may find something: FindAll's hooks in Find's reading
// call it after each run of digits that reading meets, and numbersIn reads
// the escapes and UTF-8 characters it reads as units, in which a run may
// end unseen.
func numbersAfterRun[T text](ns *numScan, s T, j int) {
	if j < ns.pos {
		return
	}
	if pointOnly(ns, s, j) {
		ns.pos = j + 1
		return
	}
	if s[j] != '.' || !shortWhole(s, j) {
		numberStop(ns, s, j)
	}
	ns.pos = j + 1
	if s[j] == '.' && j+1 < len(s) && s[j+1]|0x20 == 'e' {
		numberStop(ns, s, j+1)
		ns.pos = j + 2
	}
}

// pointOnly reports whether numbersAfterRun(ns, s, j) reads no stop but
// moves ns.pos past s[j]: a '.' after fewer than MinLen-1 digits (a whole
// part roundedAt does not read), not read yet, with no 'e' or 'E' after
// it. Its callers set ns.pos themselves then: the common amount ("12.99")
// and address ("203.0.113.7") cost no call.
func pointOnly[T text](ns *numScan, s T, j int) bool {
	return j >= ns.pos && s[j] == '.' && shortWhole(s, j) && (j+1 == len(s) || s[j+1]|0x20 != 'e')
}

// shortWhole reports whether fewer than MinLen-1 ASCII digits come right
// before s[i] ("203.0.113.7", "5.0"): a '.' there is no fraction roundedAt
// reads. A run of MinLen-1 or more reaches s[i-(MinLen-1)].
func shortWhole[T text](s T, i int) bool { return i < MinLen-1 || !isDigit(s[i-(MinLen-1)]) }

// numberByte reports whether c is '.', 'e' or 'E': a stop of numbersTo
// after an ASCII digit.
func numberByte(c byte) bool { return c == '.' || c|0x20 == 'e' }

// unescapeNumber returns s with every escape Find decodes ('%', '\', '&')
// that spells an ASCII character of a number (a digit, '.', 'e', 'E', '+',
// '-') replaced by that character; nil when s has none (no allocation).
// When at is not nil, *at is set to the offset in s of each byte of the
// result, and one more: len(s) (so a span [i, j) of the result is
// [(*at)[i], (*at)[j]) of s). from is where s's first escape is, or any
// offset before it (findNumbers returns it).
func unescapeNumber[T text](s T, at *[]int, from int) []byte {
	var out []byte
	last := 0
	for i := from; ; i++ {
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
			n, c = 2, ' ' // a JSON or JavaScript string's \t, \n…
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

// numberFollows reports whether s[i] may start a number, or an escape of
// one of its characters.
func numberFollows[T text](s T, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return isDigit(c) || c == '+' || c == '-' || c == '.' || c == '%' || c == '\\' || c == '&'
}

// numberChar reports whether cp is an ASCII character of a number in
// exponent notation.
func numberChar(cp rune) bool {
	return cp >= '0' && cp <= '9' || cp == '.' || cp == 'e' || cp == 'E' || cp == '+' || cp == '-'
}

// exponentAt appends to out the number in exponent notation whose 'e' or
// 'E' is b[i] (0 < i < len(b)-1) when its whole part is a card number
// (wholeValue) or its value rounds to one (roundedValue). The two are never
// two card numbers: a value below 2^53 rounds to its whole part or the next
// integer, and two consecutive integers never both pass the Luhn check.
func exponentAt[T text](b T, i int, out []number) []number {
	if !isDigit(b[i-1]) && b[i-1] != '.' {
		return out
	}
	j, dots := i, 0
	for j > 0 && (isDigit(b[j-1]) || b[j-1] == '.') {
		j--
		if b[j] == '.' {
			dots++
		}
	}
	if inWord(b, j) {
		return out
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
		return out
	}
	// Leading zeros count for nothing ("e-0003" is e-3 to every parser);
	// an exponent of ten or more significant digits is too large for a
	// whole card number of any mantissa a body can hold.
	sig := start
	for sig < k-1 && b[sig] == '0' {
		sig++
	}
	if k-sig > 9 {
		return out
	}
	exp, _ := strconv.Atoi(string(b[sig:k]))
	if neg {
		exp = -exp
	}
	if !cardMagnitude(b[j:i], exp) {
		return out // of no card's length: no allocation
	}
	if d, ok := wholeValue(string(b[j:i]), exp); ok {
		out = append(out, number{start: j, end: i, digits: d})
	} else if d, ok := roundedValue(string(b[j:i]), exp); ok {
		out = append(out, number{start: j, end: i, digits: d})
	}
	return out
}

// inWord reports whether a number whose mantissa starts at b[j] (after an
// optional sign) continues a word: a letter, a digit or '_' comes first
// (an ASCII one, or a Unicode letter, digit or mark). No parser reads a
// number there ("c6a535997e8" in a hex trace id is not 535997e8 to anyone),
// unlike a card number written in text, which Find reads wherever it is.
// A character that is not a letter, digit or mark (U+00A0, U+3000, a BOM:
// JavaScript's Number and parseFloat skip them as white space) starts a
// token; so does an escape of one, which unescapeNumber decodes to a space
// before a number (an escape's spelling ends in a letter or digit: "%20",
// "\t").
func inWord[T text](b T, j int) bool {
	if j > 0 && (b[j-1] == '+' || b[j-1] == '-') {
		j--
	}
	if j == 0 {
		return false
	}
	if c := b[j-1]; c < utf8.RuneSelf {
		return wordRune(rune(c))
	}
	r, _ := utf8.DecodeLastRuneInString(string(b[max(0, j-utf8.UTFMax):j]))
	return wordRune(r)
}

// wordRune reports whether r continues a word: an ASCII letter, digit or
// '_', or a Unicode letter, digit or mark. An invalid encoding (RuneError,
// or -1 from escape) does not: it is read as the start of a token.
func wordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_'
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
}

// cardMagnitude reports whether mant×10^exp (mant digits with at most one
// '.') may be a number of MinLen to MaxLen digits, rounded or not: its
// whole part has about that many digits. It spares the allocations of
// wholeValue and roundedValue for every ordinary number ("1.5e3").
func cardMagnitude[T text](mant T, exp int) bool {
	i := 0
	for i < len(mant) && mant[i] == '0' {
		i++
	}
	n := 0 // digits of the whole part after leading zeros
	for i < len(mant) && isDigit(mant[i]) {
		i++
		n++
	}
	if n == 0 && i < len(mant) && mant[i] == '.' {
		// 0.000ddd: the zeros after the point count against the exponent.
		i++
		for i < len(mant) && mant[i] == '0' {
			i++
			n--
		}
	}
	mag := n + exp
	return mag >= MinLen-1 && mag <= MaxLen+1
}

// roundedAt appends to out the card number a parser into a double
// (JSON.parse, parseFloat, Number) rounds the decimal fraction without an
// exponent whose point is b[i] (0 < i < len(b)-1) to ("4111111111111110.9"
// is 4111111111111111 to JavaScript), when that whole number is not the
// fraction's integer part, which Find reads.
func roundedAt[T text](b T, i int, out []number) []number {
	if !isDigit(b[i-1]) || !isDigit(b[i+1]) {
		return out
	}
	if shortWhole(b, i) {
		return out // the test below, made before the scans
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
		return out
	}
	if j > 0 && b[j-1] == '.' || k < len(b) && (b[k] == 'e' || b[k] == 'E' || b[k] == '.') {
		// Not one decimal fraction: two points, or an exponent
		// (exponentAt's).
		return out
	}
	z := j
	for z < i && b[z] == '0' {
		z++
	}
	if i-z < MinLen-1 || i-z > 17 {
		return out // of no card's length: no allocation
	}
	if d, ok := roundedValue(string(b[j:k]), 0); ok && d != string(b[z:i]) {
		out = append(out, number{start: j, end: k, digits: d})
	}
	return out
}

// roundedValue returns the digits of the double nearest to mant×10^exp
// (as JavaScript's Number and Go's ParseFloat round) when it is a whole
// number below 2^53 (where every whole number is a double: the digits are
// the value's) of MinLen to MaxLen digits passing the Luhn check. Only a
// value of about card length is parsed.
func roundedValue(mant string, exp int) (string, bool) {
	whole, frac, _ := strings.Cut(mant, ".")
	mag := exp // the number of digits of the whole part, about
	if w := strings.TrimLeft(whole, "0"); w != "" {
		mag += len(w)
	} else {
		mag -= len(frac) - len(strings.TrimLeft(frac, "0"))
	}
	if mag < MinLen-1 || mag > 17 {
		return "", false
	}
	f, err := strconv.ParseFloat(mant+"e"+strconv.Itoa(exp), 64)
	if err != nil || f != math.Trunc(f) || f >= 1<<53 {
		return "", false
	}
	d := strconv.FormatFloat(f, 'f', 0, 64)
	return d, len(d) >= MinLen && len(d) <= MaxLen && Valid(d)
}

// wholeValue returns the digits of the whole part of mant×10^exp (mant
// digits with at most one '.'; the value truncated toward zero, as a cast
// to an integer type reads it) when it has MinLen to MaxLen significant
// digits and passes the Luhn check. The concatenation is as long as the mantissa, so
// a body's numbers cost allocations linear in its length.
func wholeValue(mant string, exp int) (string, bool) {
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return "", false // zero: "0e18" is no run of 18 zeros
	}
	exp -= len(frac)
	switch {
	case exp < 0 && len(digits) <= -exp:
		return "", false // below 1: its whole part is 0
	case exp < 0:
		digits = digits[:len(digits)+exp] // the fraction's digits dropped
	case len(digits)+exp > MaxLen:
		return "", false
	default:
		digits += strings.Repeat("0", exp)
	}
	return digits, len(digits) >= MinLen && len(digits) <= MaxLen && Valid(digits)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// The scans above pass over the bytes that cannot start what they look
// for eight at a time, as skipQuiet does: most of a body is no number.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// load8 returns s[i:i+8] as a little-endian word.
func load8[T text](s T, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// zeroByte returns the bits of the high bit of the lowest zero byte of x
// and of bytes above it (only the lowest is exact), 0 when x has none.
func zeroByte(x uint64) uint64 { return (x - swarOnes) &^ x & swarHighs }

// numberBytes flags the bytes of v that nextNumberByte looks for ('e',
// 'E', '.', and with esc '%', '\\', '&') with their high bit: zeroByte of
// each byte looked for, its mask of high bits applied once to their union
// (the same bits; exact for the lowest flagged byte only).
func numberBytes(v uint64, esc bool) uint64 {
	e, d := (v|0x20*swarOnes)^'e'*swarOnes, v^'.'*swarOnes
	m := (e-swarOnes)&^e | (d-swarOnes)&^d
	if esc {
		p, b, a := v^'%'*swarOnes, v^'\\'*swarOnes, v^'&'*swarOnes
		m |= (p-swarOnes)&^p | (b-swarOnes)&^b | (a-swarOnes)&^a
	}
	return m & swarHighs
}

// nextNumberByte returns the index of the first 'e', 'E' or '.' of s at or
// after i, or with esc of the first '%', '\\' or '&' too; len(s) when
// there is none.
func nextNumberByte[T text](s T, i int, esc bool) int {
	n := len(s)
	for ; i <= n-8; i += 8 {
		if m := numberBytes(load8(s, i), esc); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < n; i++ {
		if c := s[i]; c|0x20 == 'e' || c == '.' || esc && (c == '%' || c == '\\' || c == '&') {
			return i
		}
	}
	return n
}

// nextDigit returns the index of the first ASCII digit of s at or after
// i, or with esc of the first '%', '\\' or '&' too; len(s) when there is
// none. Eight bytes at a time: a byte b is flagged when b^'0' < 10, or
// with esc b^'$' < 3 ('$', '%', '&'; a '$' is passed over then) or b is
// '\\' (skipQuiet's tests); the lowest flag is right.
func nextDigit[T text](s T, i int, esc bool) int {
	n := len(s)
	for i <= n-8 {
		v := load8(s, i)
		d := v ^ '0'*swarOnes
		m := (d - 10*swarOnes) &^ d
		if esc {
			p, b := v^'$'*swarOnes, v^'\\'*swarOnes
			m |= (p-3*swarOnes)&^p | (b-swarOnes)&^b
		}
		if m &= swarHighs; m == 0 {
			i += 8
			continue
		}
		if k := i + bits.TrailingZeros64(m)/8; s[k] != '$' {
			return k
		} else {
			i = k + 1
		}
	}
	for ; i < n; i++ {
		if c := s[i]; isDigit(c) || esc && (c == '%' || c == '\\' || c == '&') {
			return i
		}
	}
	return n
}

// nextEscape returns the index of the first '%', '\\' or '&' of s at or
// after i, or len(s).
func nextEscape[T text](s T, i int) int {
	n := len(s)
	for ; i <= n-8; i += 8 {
		v := load8(s, i)
		if m := zeroByte(v^'%'*swarOnes) | zeroByte(v^'\\'*swarOnes) | zeroByte(v^'&'*swarOnes); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < n; i++ {
		if c := s[i]; c == '%' || c == '\\' || c == '&' {
			return i
		}
	}
	return n
}

// MaskNumbers returns s with every number FindExponentString finds in it
// masked in place: the digits of its mantissa (the digits and point before
// the 'e', or the whole decimal fraction) but the first 6 become '*' (a
// mantissa of 6 digits or fewer keeps all but its last: "41111*e10"), every
// byte of each one's spelling (an escaped digit, "%34", becomes "***"), so
// the length is kept and the text no longer spells the card number to a
// parser. Such a number is not a candidate of Find, so Mask leaves it;
// MaskAll masks both. s itself is returned when it holds none.
func MaskNumbers(s string) string {
	found, esc := findNumbers(s, nil)
	var at []int
	var more []number
	if d := unescapeNumber(s, &at, esc); d != nil {
		more, _ = findNumbers(d, nil)
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

// maskMantissa masks in b, a copy of s, the spelling of every digit of
// s[start:end] but the first 6, and always at least the last one: a
// mantissa of 6 digits or fewer ("411116e10", 4111160000000000) kept
// whole would still spell the card number (a digit is an ASCII digit or
// an escape of one, as escape reads it).
func maskMantissa(b []byte, s string, start, end int) {
	keep := -1 // digits of the mantissa, then how many of them are kept
	for i := start; i < end; {
		n, digit := mantissaUnit(s, i)
		if digit {
			keep++
		}
		i += n
	}
	keep = min(keep, 6)
	kept := 0
	for i := start; i < end; {
		n, digit := mantissaUnit(s, i)
		if digit && kept < keep {
			kept++
		} else if digit {
			for k := i; k < min(i+n, end); k++ {
				b[k] = '*'
			}
		}
		i += n
	}
}

// mantissaUnit reads the character of a mantissa at s[i]: its length and
// whether it is a digit (an ASCII digit or an escape of one).
func mantissaUnit(s string, i int) (n int, digit bool) {
	n, digit = 1, isDigit(s[i])
	if c := s[i]; c == '%' || c == '\\' || c == '&' {
		if cp, m := escape(s, i); m > 0 {
			n, digit = m, cp >= '0' && cp <= '9'
		}
	}
	return n, digit
}

// containsNumber reports whether s spells a card number as a number in
// exponent notation or a fraction that rounds to one (FindExponent finds
// one). It allocates only when s escapes a character of a number.
func containsNumber[T text](s T) bool {
	found, esc := findNumbers(s, nil)
	if len(found) > 0 {
		return true
	}
	d := unescapeNumber(s, nil, esc)
	if d == nil {
		return false
	}
	found, _ = findNumbers(d, nil)
	return len(found) > 0
}

// MaskAll returns s with every card number in every spelling this package
// reads masked: Find's candidates as Mask masks them and the numbers of
// FindExponent as MaskNumbers masks them, until neither finds anything
// (masking only turns digits into '*'; a few rounds at most). It is the
// mask of text that is kept or shown: logs, the inspector's captures.
// s itself is returned when it holds nothing to mask.
func MaskAll(s string) string {
	for range 8 {
		if !ContainsAllString(s) {
			break
		}
		m := Mask(MaskNumbers(s))
		if m == s {
			break
		}
		s = m
	}
	return s
}

// ContainsAll reports whether b holds a card number in any spelling this
// package reads: a candidate of Find (Contains) or a number of
// FindExponent. It allocates only when b escapes a character of a number.
func ContainsAll(b []byte) bool { return contains(b) || containsNumber(b) }

// ContainsAllString is ContainsAll over a string: whether MaskAll would
// change s.
func ContainsAllString(s string) bool { return contains(s) || containsNumber(s) }
