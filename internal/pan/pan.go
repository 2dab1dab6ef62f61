// Package pan recognises payment card numbers: the Luhn check digit and the
// search for card-like digit runs in text. It is shared by the vault (alias
// formats), the log scrubber and the leak guard, so that they agree on what a
// card number looks like.
package pan

// Valid reports whether s is all ASCII digits and passes the Luhn check.
// The empty string is not valid.
func Valid(s string) bool {
	if s == "" {
		return false
	}
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// CheckDigit returns the Luhn check digit that, appended to the digits in
// payload, makes a valid number. payload must be ASCII digits.
func CheckDigit(payload []byte) byte {
	sum := 0
	double := true // the check digit takes position 0, so the last payload digit is doubled
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// Candidate is a card-like run found in text: the half-open byte range
// [Start, End) of 13 to 19 consecutive digits that pass the Luhn check.
type Candidate struct {
	Start, End int
}

// MinLen and MaxLen bound the length of a card number (ISO/IEC 7812).
const (
	MinLen = 13
	MaxLen = 19
)

// Find returns every maximal run of 13–19 ASCII digits in b that passes the
// Luhn check and is not part of a longer run of digits. It looks at digits
// only; separators such as spaces or dashes end a run.
func Find(b []byte) []Candidate {
	var out []Candidate
	for c, ok := next(b, 0); ok; c, ok = next(b, c.End) {
		out = append(out, c)
	}
	return out
}

// Contains reports whether b holds at least one card-like run (see Find).
func Contains(b []byte) bool {
	_, ok := next(b, 0)
	return ok
}

// next returns the first card-like run of b at or after from.
func next(b []byte, from int) (Candidate, bool) {
	for i := from; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if n := j - i; n >= MinLen && n <= MaxLen && Valid(string(b[i:j])) {
			return Candidate{Start: i, End: j}, true
		}
		i = j
	}
	return Candidate{}, false
}

// Mask returns s with every card-like run replaced by its first 6 and last 4
// digits around asterisks, the PCI DSS display limit. Other text is kept.
func Mask(s string) string {
	c := Find([]byte(s))
	if len(c) == 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	last := 0
	for _, r := range c {
		out = append(out, s[last:r.Start]...)
		out = append(out, s[r.Start:r.Start+6]...)
		for k := r.Start + 6; k < r.End-4; k++ {
			out = append(out, '*')
		}
		out = append(out, s[r.End-4:r.End]...)
		last = r.End
	}
	return string(append(out, s[last:]...))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
