package pan

import (
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
// such: a caller cannot mask them in place. Linear in the length of b; it
// allocates only for a number it returns.
func FindExponent(b []byte) []string { return findExponent(b) }

// FindExponentString is FindExponent over a string.
func FindExponentString(s string) []string { return findExponent(s) }

func findExponent[T string | []byte](b T) []string {
	var out []string
	for i := 1; i+1 < len(b); i++ {
		if b[i] != 'e' && b[i] != 'E' || !isDigit(b[i-1]) && b[i-1] != '.' {
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
	return out
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
