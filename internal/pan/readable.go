package pan

import (
	"unicode"
	"unicode/utf8"
)

// MaskReadable masks, in text shown to people (a log line, a delivery
// log's excerpt), the card numbers a reader sees there though Find does
// not: groups of digits apart by two separators or by any other character
// that is neither an ASCII letter nor a digit ("4539\t\t5787…", "4539  5787…",
// "4539\uFFFD5787…", a zero-width space). s is read with every run of
// characters that are not ASCII letters or digits as one space; the digits
// Mask masks in that reading are masked in s ('*' for each of their bytes),
// so the length is kept. A character is read as a reader decoding s sees
// it: any script's decimal digit (Unicode Nd: "٤١١١…", "𝟒𝟏𝟏𝟏…") is that
// digit, and an escape Find decodes (`%2F`, `\u0034`, `&#52;`), a percent
// escape encoded again (`%252F`, `%2534`) or a named character reference
// (`&amp;`) is the character it spells, so "4111%252F1111%252F…" is a
// number; s is also read with its escapes as they are (their '%', '\' and
// '&' separators, their hex digits digits), as Find reads text around an
// escape: "%37828_2246_310005" is the number 378282246310005 to a reader
// who does not decode it. It masks more than Mask (a number only these
// readings find) and reads no exponent notation: callers run MaskAll first.
func MaskReadable(s string) string {
	if !enoughDigitBytes(s) {
		return s // fewer digits than a card number has: nothing to read
	}
	return maskReading(maskReading(s, false), true)
}

// maskReading masks the card numbers of one reading of s (MaskReadable),
// escapes decoded or as they are; s itself when there is none.
func maskReading(s string, decode bool) string {
	view := make([]byte, 0, len(s))
	at := make([]int, 0, len(s))    // at[i]: the index in s of view[i]
	width := make([]int, 0, len(s)) // width[i]: its length in s
	for i := 0; i < len(s); {
		c, n := readableAt(s, i, decode)
		if c != ' ' {
			view, at, width = append(view, c), append(at, i), append(width, n)
		} else if len(view) > 0 && view[len(view)-1] != ' ' {
			view, at, width = append(view, ' '), append(at, i), append(width, n)
		}
		i += n
	}
	if !contains(view) {
		return s
	}
	masked := maskText(nil, view)
	out := []byte(s)
	for i, c := range view {
		if c >= '0' && c <= '9' && (len(masked) != len(view) || masked[i] != c) {
			// A masked length that differs cannot be mapped: every digit.
			for k := at[i]; k < at[i]+width[i]; k++ {
				out[k] = '*'
			}
		}
	}
	return string(out)
}

// readableAt returns the character at s[i] as MaskReadable reads it (an
// ASCII letter or digit, or ' ' for any other) and its length in s; an
// escape is read as what it spells only when decode.
func readableAt(s string, i int, decode bool) (byte, int) {
	c := s[i]
	if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return c, 1
	}
	var cp rune
	n := 0
	switch {
	case !decode && c < utf8.RuneSelf:
	case c == '%':
		cp, n = percentAgain(s, i)
		if n == 0 {
			cp, n = escape(s, i)
		}
	case c == '\\':
		cp, n = escape(s, i)
	case c == '&':
		if cp, n = escape(s, i); n == 0 {
			n = namedRef(s, i) // a separator, whatever it names
		}
	case c >= utf8.RuneSelf:
		cp, n = utf8.DecodeRuneInString(s[i:])
	}
	if n == 0 {
		return ' ', 1
	}
	switch {
	case cp >= '0' && cp <= '9' || cp >= 'a' && cp <= 'z' || cp >= 'A' && cp <= 'Z':
		return byte(cp), n
	case cp >= utf8.RuneSelf:
		if d, ok := decimalDigit(cp); ok {
			return '0' + d, n
		}
	}
	return ' ', n
}

// percentAgain decodes a percent escape encoded again ("%252F", "%25252F":
// '%' then "25"s then two hex digits) to the ASCII character a reader
// decoding it as often as it takes sees; n is 0 when s[i:] is not one.
func percentAgain(s string, i int) (cp rune, n int) {
	j := i + 1
	for j+3 < len(s) && s[j] == '2' && s[j+1] == '5' && unhex(s[j+2]) >= 0 && unhex(s[j+3]) >= 0 {
		j += 2
	}
	if j == i+1 {
		return 0, 0 // not encoded again: escape reads it
	}
	return rune(unhex(s[j])<<4 | unhex(s[j+1])), j + 2 - i
}

// namedRef returns the length of a named character reference at s[i]
// ("&amp;": '&', letters, ';'), 0 when there is none.
func namedRef(s string, i int) int {
	j := i + 1
	for j < len(s) && j-i <= 32 && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
		j++
	}
	if j == i+1 || j >= len(s) || s[j] != ';' {
		return 0
	}
	return j + 1 - i
}

// decimalDigit returns the value of cp when it is a decimal digit of any
// script (Unicode Nd, whose digits come in runs of ten from zero, each run
// or several in a row one range of the table), found by binary search.
func decimalDigit(cp rune) (byte, bool) {
	r16 := unicode.Nd.R16
	if lo, hi := 0, len(r16); cp <= rune(r16[hi-1].Hi) {
		for lo < hi {
			m := (lo + hi) / 2
			switch r := r16[m]; {
			case cp < rune(r.Lo):
				hi = m
			case cp > rune(r.Hi):
				lo = m + 1
			default:
				return byte((cp - rune(r.Lo)) % 10), true
			}
		}
		return 0, false
	}
	r32 := unicode.Nd.R32
	for lo, hi := 0, len(r32); lo < hi; {
		m := (lo + hi) / 2
		switch r := r32[m]; {
		case cp < rune(r.Lo):
			hi = m
		case cp > rune(r.Hi):
			lo = m + 1
		default:
			return byte((cp - rune(r.Lo)) % 10), true
		}
	}
	return 0, false
}

// MaskShown masks every card number in text shown to people (a log line,
// an error's href, an excerpt) as package pan reads it (MaskAll: plain,
// in groups, full-width, escaped, in exponent notation) and then as a
// reader sees it (MaskReadable: groups apart by any other character, '_'
// and '/' included). It is the one mask of client-controlled text the
// gateway writes: the access log's method, host and path, obs.Untrusted,
// the inspector's request lines and notes, the vault API's error href and
// source.pointer, the Card Management API's echoed names and webhook
// delivery excerpts. MaskAll alone leaves "4111_1111_1111_1111" as it is.
// The length is
// kept; s itself is returned when it holds nothing to mask.
func MaskShown(s string) string { return MaskReadable(MaskAll(s)) }

// enoughDigitBytes reports whether s may spell at least 13 digits, the
// fewest a card number has: its ASCII digits and the lead bytes of its
// other characters (each maybe another script's digit) number 13 or more.
// Each escape of a digit holds an ASCII digit. MaskReadable reads no
// text with fewer.
func enoughDigitBytes(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		n += int(digitByte[s[i]])
	}
	return n >= 13
}

// digitByte is 1 for the bytes enoughDigitBytes counts.
var digitByte = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 0xC0; c < 256; c++ {
		t[c] = 1
	}
	return t
}()
