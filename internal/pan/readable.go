package pan

// MaskShown masks the card numbers of text shown back to a client or a
// person (an error's href or source.pointer, a delivery log's excerpt) in
// every spelling: MaskAll's (escaped digits, exponent notation), then
// MaskReadable's (digit groups apart by a tab, a line break, '_', two
// spaces). The one rule for echoes; MaskAll alone leaves
// "4111_1111_1111_1111" as it is.
func MaskShown(s string) string { return MaskReadable(MaskAll(s)) }

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
