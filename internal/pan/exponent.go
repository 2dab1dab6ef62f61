package pan

import (
	"math/bits"
	"strconv"
	"strings"
)

// FindExponent returns the card numbers b spells as numbers in exponent
// notation, in the order they appear: "4111111111111111000e-3" and
// "41111111111111110000000E-7" are one group of digits each, which Find
// reads only whole (as a group of 20+ digits or a Luhn-invalid run), while
// JSON.parse, parseFloat or Jackson (into a long) read them as the integer
// 4111111111111111. A number here is a mantissa of ASCII digits with at most
// one '.', then 'e' or 'E', an optional sign and one to three exponent
// digits; it is returned when its value is a whole number of MinLen to
// MaxLen significant digits that passes the Luhn check. The returned
// strings are the digits of the value, which no longer appear in b as
// such: a caller cannot mask them in place. Linear in the length of b,
// passing over text without an 'e' or 'E' eight bytes at a time; it
// allocates only for a number it looks at closely (a digit or '.' before
// the 'e', one to three exponent digits after it).
func FindExponent(b []byte) []string { return findExponent(b) }

// FindExponentString is FindExponent over a string.
func FindExponentString(s string) []string { return findExponent(s) }

func findExponent[T text](b T) []string {
	var out []string
	for i := 1; ; i++ {
		if i = skipToExponent(b, i); i+1 >= len(b) {
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
		if k == start || k-start > 3 || dots > 1 {
			continue
		}
		exp, _ := strconv.Atoi(string(b[start:k]))
		if neg {
			exp = -exp
		}
		if d, ok := wholeValue(string(b[j:i]), exp); ok {
			out = append(out, d)
		}
		i = k - 1
	}
}

// skipToExponent returns the index of the first 'e' or 'E' of s at or
// after i, or len(s): eight bytes at a time, as skipQuiet does, since most
// of a body is not part of a number.
func skipToExponent[T text](s T, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	n := len(s)
	for ; i <= n-8; i += 8 {
		_ = s[i+7]
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		x := (v | 0x20*ones) ^ 'e'*ones // 0 where the byte is 'e' or 'E'
		if m := (x - ones) &^ x & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < n; i++ {
		if s[i]|0x20 == 'e' {
			return i
		}
	}
	return n
}

// wholeValue returns the digits of mant×10^exp (mant digits with at most
// one '.') when it is a whole number of MinLen to MaxLen significant digits
// passing the Luhn check. The concatenation is as long as the mantissa, so
// a body's numbers cost allocations linear in its length.
func wholeValue(mant string, exp int) (string, bool) {
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return "", false // zero: "0e18" is no run of 18 zeros
	}
	exp -= len(frac)
	switch {
	case exp < 0 && (len(digits) < -exp || strings.Trim(digits[len(digits)+exp:], "0") != ""):
		return "", false // not a whole number
	case exp < 0:
		digits = digits[:len(digits)+exp]
	case len(digits)+exp > MaxLen:
		return "", false
	default:
		digits += strings.Repeat("0", exp)
	}
	return digits, len(digits) >= MinLen && len(digits) <= MaxLen && Valid(digits)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
