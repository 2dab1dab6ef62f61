package pan

// MaskReadable masks, in text shown to people (a log line, a delivery
// log's excerpt), the card numbers a reader sees there though Find does
// not: groups of digits apart by two separators or by any other character
// that is neither an ASCII letter nor a digit ("4539\t\t5787…", "4539  5787…",
// "4539\uFFFD5787…", a zero-width space). s is read with every run of bytes
// that are not ASCII letters or digits as one space; the digits Mask masks
// in that reading are masked in s ('*'), so the length is kept. It masks
// more than Mask (a number only this reading finds) and reads no escapes
// or exponent notation: callers run MaskAll first.
func MaskReadable(s string) string {
	if !enoughASCIIDigits(s) {
		return s // fewer digits than a card number has: nothing to read
	}
	view := make([]byte, 0, len(s))
	at := make([]int, 0, len(s)) // at[i]: the index in s of view[i]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			view, at = append(view, c), append(at, i)
		} else if len(view) > 0 && view[len(view)-1] != ' ' {
			view, at = append(view, ' '), append(at, i)
		}
	}
	if !contains(view) {
		return s
	}
	masked := maskText(nil, view)
	out := []byte(s)
	for i, c := range view {
		if c >= '0' && c <= '9' && (len(masked) != len(view) || masked[i] != c) {
			out[at[i]] = '*' // a masked length that differs cannot be mapped: every digit
		}
	}
	return string(out)
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

// enoughASCIIDigits reports whether s holds at least 13 ASCII digits, the
// fewest a card number has; MaskReadable reads no others.
func enoughASCIIDigits(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			if n++; n >= 13 {
				return true
			}
		}
	}
	return false
}
