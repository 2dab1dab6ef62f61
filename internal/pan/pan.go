// Package pan recognises payment card numbers: the Luhn check digit and the
// search for card numbers in text, in whatever spelling. It is the one card
// number finder of the gateway: the vault (alias formats, stored free text),
// the log scrubber (internal/obs), the inspector's masks and the leak guard
// all use it, so that they agree on what a card number looks like.
//
// # What Find finds
//
// A card number is 13 to 19 digits (MinLen, MaxLen) that pass the Luhn
// check. Find reads text as a sequence of units, each the spelling of one
// character:
//
//   - a digit: an ASCII digit, a full-width digit (U+FF10–U+FF19, raw
//     UTF-8), or either of them escaped once: a JSON/JavaScript escape
//     `\u0034` (hex in either case; a character past U+FFFF as its
//     surrogate pair `\udb40\udc20`), percent-encoding `%34` (hex in either
//     case; a full-width digit as its percent-encoded UTF-8 bytes
//     `%EF%BC%94`), the non-standard `%u0034` that ASP.NET's
//     HttpUtility.UrlDecode (System.Web's Request.Form) and JavaScript's
//     unescape() decode (as `\u0034` is read), or an XML/HTML character
//     reference `&#52;`, `&#x34;`,
//     `&#X34;` (any number of leading zeros, the `;` optional as HTML
//     allows);
//   - a separator: space, '-', '.', '+' (a space in forms), U+00A0 and
//     U+202F (no-break spaces), every other space separator of Unicode
//     (Zs: U+1680, U+2000–U+200A — en, em, figure, thin, hair… spaces —,
//     U+205F, U+3000 the ideographic space), U+2010–U+2013 (hyphens and
//     dashes),
//     U+FF0D and U+FF0E (full-width '-' and '.'), raw or escaped as above,
//     also as HTML's named references (`&nbsp;`, `&ndash;`, `&thinsp;`,
//     `&emsp;`…: namedChars);
//   - an invisible separator: a character shown as nothing, Unicode's
//     default ignorables (U+00AD soft hyphen, U+034F combining grapheme
//     joiner, U+061C Arabic letter mark, U+115F, U+1160, U+3164 and U+FFA0
//     Hangul fillers, U+17B4, U+17B5, U+180B–U+180F Mongolian selectors and
//     vowel separator, U+200B–U+200F zero-width space, non-joiner, joiner
//     and direction marks, U+202A–U+202E embeddings and overrides,
//     U+2060–U+206F word joiner, invisible operators and isolates,
//     U+FE00–U+FE0F variation selectors, U+FEFF BOM, U+E0000–U+E0FFF tags
//     and variation selectors), raw or escaped as above (`&shy;` and
//     `&ZeroWidthSpace;` too): "4\u200b111…" and
//     "4111-\u200b1111-…" read as the card number on any screen. Such a
//     character joins groups as a separator does, but it is never the
//     second separator that ends a chain (nor is a separator next to it);
//   - anything else (a letter, a comma, a tab, a '*', an escape of another
//     character, a lone '%' or '\') is a breaker.
//
// Digits in a row form a group, whatever the spelling of each. Groups joined
// by exactly one separator (and any number of invisible ones) form a chain;
// two separators in a row, a breaker,
// or the end of the text end a chain, and a chain does not start or end
// with a separator. Separators of different kinds may be mixed. A candidate
// is every window of whole consecutive groups of one chain holding 13 to 19
// digits that pass the Luhn check: in "4111 1111 1111 1111 5" and in
// "12 4111 1111 1111 1111" the window "4111 1111 1111 1111" is found (and
// any other Luhn-valid window: overlapping windows are all reported, at
// most 7 per group). A group of more than 19 digits (a long numeric id, in
// any spelling) is never part of a candidate, as before; the groups on
// either side of it are searched separately.
//
// The text is read in two ways: with the escapes decoded, and as it is
// (every '%', '\' and '&' a breaker). The second reading finds the digits an
// escape would swallow when decoded ("%37" + "8282246310005" is the Amex
// number 378282246310005 to a reader who does not decode). The readings
// differ only in the chains that hold or touch an escape, so the second one
// reads only those. Candidates of both readings are returned, sorted by
// Start then End, without duplicates.
//
// Not found: a number split by two separators or any other character
// (comma, slash, tab, newline, '*'); escapes nested twice (`%2534`,
// `\u0026#52;`); JavaScript's `\x34` and `\u{34}`; escapes of other
// scripts' digits (Arabic-Indic, Devanagari, …); a numeric character
// reference with more than 7 significant decimal (6 hex) digits, which is
// not decoded (its digits are then read as digits). A backslash escaped
// itself (`\\u0034`) is still read as the escape `\u0034`: more is found,
// never less.
//
// Find is one pass (the chains around escapes are read twice) in time
// linear in the length of the text, with a fixed amount of state: a window
// holds at most 19 digits, so the work per group is bounded. Where no chain
// is open it passes over the bytes that cannot start a digit (eight at a
// time) and over chains of plain digits too short for a candidate; the
// loop that read them one by one is kept in the tests as the reference of
// FuzzFindAgainstReference. It allocates only slices of candidates;
// Contains and ContainsString do not allocate.
//
// FindBase64String reads base64 runs decoded (base64.go).
//
// FindExponent reads another spelling, numbers in exponent notation
// ("4111111111111111000e-3"), whose value is a card number that is not
// written in the text: see its doc.
//
// FindAll returns what FindMax and FindExponent return in one pass: where
// Find's reading passes over bytes it tells the reading of numbers that
// they hold none (numScan), and the numbers are read only after a run of
// digits and in the escapes and UTF-8 characters Find reads as units. The
// leak guard reads each body with it; FuzzFindAllAgainstTwoCalls compares
// it with the two calls.
//
// CharAt and Classify read one character as Find reads it (an escape
// decoded; a digit, separator or invisible character), and InvisibleAt
// skips an invisible one: other searches of text shown to people (the
// inspector's free-text CVC rule) read digits and separators with them.
//
// # Masking
//
// Mask and AppendMask keep the first 6 and last 4 digits of every candidate
// and replace every byte of the spelling of each other digit by '*': a plain
// digit becomes "*", `%34` "***", `\u0034` "******", `&#52;` "*****", a
// full-width digit (3 bytes) "***". Separators and all other bytes are kept,
// so the result has the length of the input, byte offsets stay valid, and
// JSON strings, URLs, forms, XML and HTML stay well formed. Where masking
// leaves digits that form a new candidate (the kept digits of one window
// joining the groups in front of it), those candidates' digits are masked
// whole (up to 8 rounds, each linear), so the result holds no candidate;
// FuzzFind checks it.
//
// Mask leaves the numbers of FindExponent, whose digits are no candidate.
// Text that is kept or shown (logs, the inspector's captures) is masked
// with MaskAll, which masks both: the numbers keep the first 6 digits of
// their mantissa (MaskNumbers: "411111*************e-3"), a mantissa of 6
// digits or fewer all but its last ("41111*e10": kept whole, 411116e10
// still spelled 4111160000000000), and ContainsAll says whether it would
// change anything.
package pan

import "math/bits"

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

// MinLen and MaxLen bound the length of a card number (ISO/IEC 7812).
const (
	MinLen = 13
	MaxLen = 19
)

// Candidate is a card number found in text (see the package doc): the
// half-open byte range [Start, End) of its whole spelling, from the first
// byte of its first digit to the last byte of its last digit, escapes and
// separators included, and its digits.
type Candidate struct {
	Start, End int

	digits [MaxLen]byte // ASCII digits, n of them
	n      uint8
	raw    bool // found in the reading that does not decode escapes
}

// Digits returns the candidate's digits as ASCII ("4111111111111111" for
// "4111 1111 1111 1111" or `\u0034\u0031…`). It allocates the string.
func (c Candidate) Digits() string { return string(c.digits[:c.n]) }

// AppendDigits appends the candidate's ASCII digits to dst.
func (c Candidate) AppendDigits(dst []byte) []byte { return append(dst, c.digits[:c.n]...) }

// Len returns the number of digits of the candidate (13–19).
func (c Candidate) Len() int { return int(c.n) }

// Find returns every candidate of b (see the package doc), sorted by Start
// then End. Candidates may overlap. Only slices of candidates are allocated
// (one per reading, merged into a third when both found some).
//
// The slice can be much larger than b: text made to hold as many windows
// as possible ("1 2 3 4 …", one-digit groups) yields a few candidates per
// byte, about 40 bytes each. Where b comes from an untrusted peer, bound
// the memory with FindMax.
func Find(b []byte) []Candidate { c, _ := find(b, -1); return c }

// FindString is Find for a string.
func FindString(s string) []Candidate { c, _ := find(s, -1); return c }

// FindMax is Find with at most max candidates, for bounded memory. When
// more is false the result is Find's; when it is true the search stopped
// with max candidates found (sorted as Find's, not necessarily the first by
// position) and b may hold more: fail closed, treat b as holding card data.
func FindMax(b []byte, max int) (c []Candidate, more bool) {
	if max < 0 {
		max = 0
	}
	return find(b, max)
}

// Contains reports whether b holds at least one candidate (see Find). It
// does not allocate.
func Contains(b []byte) bool { return contains(b) }

// ContainsString reports whether s holds at least one candidate (see Find).
// It does not allocate.
func ContainsString(s string) bool { return contains(s) }

// Mask returns s with the digits of every candidate but the first 6 and the
// last 4 masked (see the package doc: every byte of a masked digit's
// spelling becomes '*', so the length is kept). Other text is kept. s itself
// is returned when it holds no candidate. Candidates are masked as they are
// found, so memory stays a small multiple of len(s) whatever their number.
func Mask(s string) string {
	if !contains(s) {
		return s
	}
	return string(maskText(nil, s))
}

// AppendMask appends src to dst with its candidates masked as by Mask, and
// returns the extended slice. src and dst must not overlap.
func AppendMask(dst, src []byte) []byte { return maskText(dst, src) }

// MaskExcept returns a copy of b with its candidates masked as by Mask,
// except those whose digits keep accepts (nil keeps none: the result is
// Mask's). A candidate that the kept digits of neighbouring windows make
// is masked whole, as Mask does. The proxies' leak guard masks the card
// numbers of a message this way, leaving its aliases alone.
func MaskExcept(b []byte, keep func(digits string) bool) []byte {
	out := append([]byte(nil), b...)
	mask := func(src []byte, all bool) int {
		return each(src, func(c Candidate) {
			if keep == nil || !keep(c.Digits()) {
				maskSpan(out, src, c, all)
			}
		})
	}
	if mask(b, false) == 0 {
		return out
	}
	var prev []byte
	for pass := 0; pass < 8 && contains(out); pass++ {
		prev = append(prev[:0], out...)
		mask(prev, true)
	}
	return out
}

// text is what the scanner reads.
type text interface{ ~string | ~[]byte }

// find finds the candidates of s, at most max of them when max >= 0 (more
// then reports that there were more).
func find[T text](s T, max int) (c []Candidate, more bool) {
	if !enoughDigits(s) {
		return nil, false
	}
	return findIn(s, max, nil)
}

// findIn is find past its digit count. The scanners are ~1.7 KiB of
// stack each: kept out of find's frame, so that the many short strings
// with too few digits (hosts, header values, log attributes) do not make
// a goroutine grow its stack (a copy, repeated after each collection
// shrinks it again), which showed in the outbound proxy's profile. The
// reading as it is reads only around escapes: its scanner is made (and
// zeroed) at the first escape the main reading decodes (lazyRaw,
// findInRaw), not for the many texts with none.
//
//go:noinline
func findIn[T text](s T, max int, nums *numScan) (c []Candidate, more bool) {
	var dec scanner
	dec.lazyRaw = true
	if max >= 0 {
		dec.bounded, dec.left = true, max
	}
	if nums != nil {
		dec.numbers, dec.nums = true, *nums // a copy in the scanner's frame: nums itself stays on its caller's stack
	}
	if i := run(&dec, s, 0, -1, nil); dec.rawEnd > 0 {
		return findInRaw(&dec, s, i, max, nums)
	}
	if nums != nil {
		*nums = dec.nums
	}
	return dec.out, dec.more
}

// findInRaw is findIn from the first escape the main reading decoded,
// s[i:dec.rawEnd], where run returned: what run does after each escape it
// decodes (region), then the rest of s, with the reading as it is.
//
//go:noinline
func findInRaw[T text](dec *scanner, s T, i, max int, nums *numScan) (c []Candidate, more bool) {
	var raw scanner
	raw.raw, raw.bounded = true, max >= 0
	next := dec.rawEnd
	raw.left = dec.left
	region(&raw, s, i, next)
	dec.left = raw.left
	if !raw.found && !dec.found {
		run(dec, s, next, -1, &raw)
	}
	if nums != nil {
		*nums = dec.nums
	}
	return merge(dec.out, raw.out), dec.more || raw.more
}

func contains[T text](s T) bool {
	if !enoughDigits(s) {
		return false
	}
	return containsIn(s)
}

// containsIn is contains past its digit count (see findIn for why it is
// a function of its own).
//
//go:noinline
func containsIn[T text](s T) bool {
	var dec, raw scanner
	dec.first, raw.first, raw.raw = true, true, true
	scanText(&dec, s, &raw)
	return dec.found || raw.found
}

// enoughDigits reports whether s has at least MinLen bytes that are ASCII
// digits or 0xEF: every spelling of a digit holds one (a full-width digit
// starts with 0xEF, every escape of a digit has a decimal digit in it), so
// text with fewer holds no candidate. It spares short log strings the
// scanner's set-up. It counts eight bytes at a time, exactly: the digits
// are digitBytes's, and b is 0xEF when b^0xEF is 0 (its low seven bits
// plus 0x7F, or'ed with it, below 0x80).
func enoughDigits[T text](s T) bool {
	const (
		ones  = 0x0101010101010101
		lows  = 0x7F7F7F7F7F7F7F7F
		highs = 0x8080808080808080
	)
	if len(s) < MinLen {
		return false // every byte counted is one of s's: most header names and values
	}
	n, i := 0, 0
	for ; i <= len(s)-8; i += 8 {
		_ = s[i+7]
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		e := v ^ 0xEF*ones
		m := digitBytes(v)
		m |= ^(e&lows + lows | e) & highs
		if n += bits.OnesCount64(m); n >= MinLen {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c-'0' < 10 || c == 0xEF {
			if n++; n == MinLen {
				return true
			}
		}
	}
	return false
}

// digitBytes flags (high bit) each byte of the little-endian word v that
// is an ASCII digit, exactly (no flag is borrowed from a byte below): b is
// a digit when b^'0' is below 0x80 and (b^'0')+0x76 too; the low seven
// bits plus 0x76 never carry into the next byte.
func digitBytes(v uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		lows  = 0x7F7F7F7F7F7F7F7F
		highs = 0x8080808080808080
	)
	d := v ^ '0'*ones
	return ^(d&lows + (0x80-10)*ones | d) & highs
}

// merge merges two lists sorted by (Start, End), dropping b's duplicates
// of a's candidates. A span found in both readings holds no escape (the
// reading as it is stops at '%', '\' and '&'), so its digits are the same.
func merge(a, b []Candidate) []Candidate {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]Candidate, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch x, y := a[i], b[j]; {
		case x.Start == y.Start && x.End == y.End:
			out = append(out, x)
			i++
			j++
		case x.Start < y.Start || x.Start == y.Start && x.End < y.End:
			out = append(out, x)
			i++
		default:
			out = append(out, y)
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Unit kinds.
const (
	kBreak = iota
	kDigit
	kSep
	kSoft // a character shown as nothing: a separator that adds none (invisible)
)

// Byte classes: the first byte of a unit.
const (
	bBreak = iota // a one-byte breaker
	bDigit        // '0'–'9'
	bSep          // ' ', '-', '.', '+'
	bEsc          // '%', '\', '&': maybe an escape
	bHigh         // lead byte of a UTF-8 digit or separator
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = bDigit
	}
	for _, c := range []byte(" -.+") {
		t[c] = bSep
	}
	for _, c := range []byte(`%\&`) {
		t[c] = bEsc
	}
	// 0xCD, 0xD8, 0xE1 and 0xF3 lead only invisible characters' units.
	for _, c := range []byte{0xC2, 0xCD, 0xD8, 0xE1, 0xE2, 0xE3, 0xEF, 0xF3} {
		t[c] = bHigh
	}
	return t
}()

// quietEnd marks the bytes at which skipQuiet passes over a run of digits
// in its word: a breaker (class bBreak) that is not '$' (one of its word's
// flags) nor 'e' or 'E' (after which nums reads a number).
var quietEnd = func() (t [256]bool) {
	for c := range t {
		t[c] = class[c] == bBreak && c != '$' && c|0x20 != 'e'
	}
	return t
}()

// classify returns the kind of a code point and, for a digit, its value.
func classify(cp rune) (kind uint8, d byte) {
	switch {
	case cp >= '0' && cp <= '9':
		return kDigit, byte(cp - '0')
	case cp >= 0xFF10 && cp <= 0xFF19:
		return kDigit, byte(cp - 0xFF10)
	}
	switch cp {
	case ' ', '-', '.', '+', 0xA0, 0x1680, 0x202F, 0x205F, 0x2010, 0x2011, 0x2012, 0x2013, 0x3000, 0xFF0D, 0xFF0E:
		return kSep, 0
	}
	if cp >= 0x2000 && cp <= 0x200A { // the en, em, figure, thin, hair … spaces
		return kSep, 0
	}
	if Invisible(cp) {
		return kSoft, 0
	}
	return kBreak, 0
}

// Invisible reports whether cp is shown as nothing (or as a blank that
// takes no part in the text, the Hangul fillers): Unicode's default
// ignorable code points, the invisible separators of "What Find finds".
// Other searches of text shown to people leave them out the same way.
func Invisible(cp rune) bool {
	switch {
	case cp == 0xAD, cp == 0x34F, cp == 0x61C, cp == 0x115F, cp == 0x1160, cp == 0x17B4, cp == 0x17B5,
		cp >= 0x180B && cp <= 0x180F, cp >= 0x200B && cp <= 0x200F, cp >= 0x202A && cp <= 0x202E,
		cp >= 0x2060 && cp <= 0x206F, cp == 0x3164, cp >= 0xFE00 && cp <= 0xFE0F, cp == 0xFEFF, cp == 0xFFA0,
		cp >= 0xE0000 && cp <= 0xE0FFF:
		return true
	}
	return false
}

// InvisibleAt returns the length of the spelling of an invisible character
// (Invisible) at s[i], raw or escaped as Find reads escapes (`\u200b`, a
// surrogate pair `\udb40\udc20`, `%E2%80%8B`, `&#x200b;`), or 0 when
// there is none. Other searches of text shown to people (the inspector's
// CVC rule) skip invisible characters with it, as Find does.
func InvisibleAt(s string, i int) int {
	var cp rune
	var n int
	switch c := s[i]; {
	case c >= 0xC0:
		cp, n = rawRune(s, i)
	case c == '%' || c == '\\' || c == '&':
		cp, n = escape(s, i)
	}
	if n > 0 && Invisible(cp) {
		return n
	}
	return 0
}

// Kinds of a character to Find (Classify).
const (
	Breaker   = kBreak // ends a chain: a letter, a comma, a tab, an escape of another character
	Digit     = kDigit
	Separator = kSep
	Hidden    = kSoft // shown as nothing (Invisible): joins groups, adds no separator
)

// Classify returns what Find reads cp as (Breaker, Digit, Separator or
// Hidden) and, for a digit, its value: the one list of the digits and
// separators of "What Find finds", for other searches of text shown to
// people (the inspector's CVC rule).
func Classify(cp rune) (kind uint8, d byte) { return classify(cp) }

// CharAt reads the character at s[i] (i < len(s)) as Find's decoding
// reading does: a UTF-8 character, or one escape decoded (`\u0037`, a
// surrogate pair, `%37`, `%EF%BC%97`, `%u0037`, `&#55;`, `&#x37;`, a named
// reference of namedChars such as `&emsp;` or `&nbsp`). It returns the code
// point, -1 for an escape of no character (`%C3` alone, `&#x110000;`), and
// the length of its spelling, at least 1: a byte that starts no character
// (a lone '%', '&' or '\') is read as itself, a stray UTF-8 byte as
// U+FFFD.
func CharAt(s string, i int) (cp rune, n int) {
	switch c := s[i]; {
	case c >= 0xC0:
		if cp, n = rawRune(s, i); n > 0 {
			return cp, n
		}
	case class[c] == bEsc:
		if cp, n = escape(s, i); n > 0 {
			return cp, n
		}
	}
	if s[i] >= 0x80 {
		return 0xFFFD, 1
	}
	return rune(s[i]), 1
}

// unit reads the unit at s[i] (i < len(s)): its kind, its digit value and
// where it ends. esc reports that an escape was decoded (only when decode).
func unit[T text](s T, i int, decode bool) (kind uint8, d byte, next int, esc bool) {
	c := s[i]
	switch class[c] {
	case bDigit:
		return kDigit, c - '0', i + 1, false
	case bSep:
		return kSep, 0, i + 1, false
	case bHigh:
		cp, n := rawRune(s, i)
		if n == 0 {
			return kBreak, 0, i + 1, false
		}
		kind, d = classify(cp)
		return kind, d, i + n, false
	case bEsc:
		if !decode {
			return kBreak, 0, i + 1, false
		}
		cp, n := escape(s, i)
		if n == 0 {
			return kBreak, 0, i + 1, false
		}
		kind, d = classify(cp)
		return kind, d, i + n, true
	}
	return kBreak, 0, i + 1, false
}

// rawRune decodes the 2-, 3- or 4-byte UTF-8 sequence at s[i], whose lead
// byte is one of class bHigh; n is 0 when it is not one.
func rawRune[T text](s T, i int) (cp rune, n int) {
	c := s[i]
	if c >= 0xF0 {
		if i+3 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 && s[i+3]&0xC0 == 0x80 {
			return rune(c&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F), 4
		}
		return 0, 0
	}
	if c < 0xE0 {
		if i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			return rune(c&0x1F)<<6 | rune(s[i+1]&0x3F), 2
		}
		return 0, 0
	}
	if i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
		return rune(c&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
	}
	return 0, 0
}

// escape decodes the escape at s[i] ('%', '\' or '&'): its code point and
// length, n 0 when it is not one. A recognised escape of something that is
// neither digit nor separator has cp -1.
func escape[T text](s T, i int) (cp rune, n int) {
	switch s[i] {
	case '\\':
		return uEscape(s, i)
	case '%':
		b, ok := pct(s, i)
		if !ok {
			return uEscape(s, i) // "%u0034"
		}
		var more int
		switch {
		case b < 0x80:
			return rune(b), 3
		case b >= 0xC2 && b <= 0xDF:
			more, cp = 1, rune(b&0x1F)
		case b >= 0xE0 && b <= 0xEF:
			more, cp = 2, rune(b&0x0F)
		case b >= 0xF0 && b <= 0xF4:
			more, cp = 3, rune(b&0x07)
		default:
			return -1, 3
		}
		for k := 1; k <= more; k++ {
			c, ok := pct(s, i+3*k)
			if !ok || c&0xC0 != 0x80 {
				return -1, 3
			}
			cp = cp<<6 | rune(c&0x3F)
		}
		return cp, 3 * (more + 1)
	case '&':
		if i+1 < len(s) && s[i+1] == '#' {
			return charRef(s, i)
		}
		return namedChar(s, i)
	}
	return 0, 0
}

// namedChars are HTML's named character references of the separators and
// invisible characters Find reads (classify), as browsers and
// html.unescape decode them and rich-text editors write them; legacy: HTML
// also reads the name without its ';' (&nbsp, &shy).
var namedChars = [...]struct {
	name   string
	cp     rune
	legacy bool
}{
	{"nbsp", 0xA0, true}, {"NonBreakingSpace", 0xA0, false}, {"shy", 0xAD, true},
	{"period", '.', false}, {"plus", '+', false}, {"hyphen", 0x2010, false}, {"dash", 0x2010, false}, {"ndash", 0x2013, false},
	{"ensp", 0x2002, false}, {"emsp", 0x2003, false}, {"emsp13", 0x2004, false}, {"emsp14", 0x2005, false},
	{"numsp", 0x2007, false}, {"puncsp", 0x2008, false}, {"thinsp", 0x2009, false}, {"ThinSpace", 0x2009, false},
	{"hairsp", 0x200A, false}, {"VeryThinSpace", 0x200A, false}, {"MediumSpace", 0x205F, false},
	{"ZeroWidthSpace", 0x200B, false}, {"NegativeVeryThinSpace", 0x200B, false}, {"NegativeThinSpace", 0x200B, false},
	{"NegativeMediumSpace", 0x200B, false}, {"NegativeThickSpace", 0x200B, false},
	{"zwnj", 0x200C, false}, {"zwj", 0x200D, false}, {"lrm", 0x200E, false}, {"rlm", 0x200F, false},
	{"NoBreak", 0x2060, false}, {"af", 0x2061, false}, {"ApplyFunction", 0x2061, false},
	{"it", 0x2062, false}, {"InvisibleTimes", 0x2062, false}, {"ic", 0x2063, false}, {"InvisibleComma", 0x2063, false},
}

// namedFirst marks the first letters of namedChars: a form's "&amount="
// is passed over at once.
var namedFirst = func() (t [256]bool) {
	for _, r := range namedChars {
		t[r.name[0]] = true
	}
	return t
}()

// namedChar decodes a named character reference of namedChars at s[i]
// ('&'); n is 0 when there is none.
func namedChar[T text](s T, i int) (cp rune, n int) {
	if i+1 >= len(s) || !namedFirst[s[i+1]] {
		return 0, 0
	}
next:
	for _, r := range namedChars {
		if r.name[0] != s[i+1] || i+1+len(r.name) > len(s) {
			continue
		}
		for k := 1; k < len(r.name); k++ {
			if s[i+1+k] != r.name[k] {
				continue next
			}
		}
		end := i + 1 + len(r.name)
		switch {
		case end < len(s) && s[end] == ';':
			return r.cp, end + 1 - i
		case r.legacy:
			return r.cp, end - i
		}
	}
	return 0, 0
}

// uEscape decodes the escape of a UTF-16 code unit at s[i]: JSON's and
// JavaScript's `\u0034`, or the non-standard `%u0034` that ASP.NET's
// HttpUtility.UrlDecode (System.Web's Request.Form and Request.QueryString)
// and JavaScript's unescape() decode (a lower-case 'u' and four hex digits
// in either case, as they read it). A surrogate pair, written with either
// escape, is one character (the tags and variation selectors past U+FFFF).
// n is 0 when s[i:] is not one.
func uEscape[T text](s T, i int) (cp rune, n int) {
	if i+5 >= len(s) || s[i+1] != 'u' {
		return 0, 0
	}
	h1, h2, h3, h4 := unhex(s[i+2]), unhex(s[i+3]), unhex(s[i+4]), unhex(s[i+5])
	if h1|h2|h3|h4 < 0 {
		return 0, 0
	}
	cp = rune(h1<<12 | h2<<8 | h3<<4 | h4)
	if cp >= 0xD800 && cp <= 0xDBFF && i+6 < len(s) && (s[i+6] == '\\' || s[i+6] == '%') {
		if lo, m := uEscape(s, i+6); m == 6 && lo >= 0xDC00 && lo <= 0xDFFF {
			return 0x10000 + (cp-0xD800)<<10 + (lo - 0xDC00), 12
		}
	}
	return cp, 6
}

// charRef decodes the numeric character reference at s[i] ("&#…").
func charRef[T text](s T, i int) (cp rune, n int) {
	j := i + 2
	base, limit := rune(10), 7
	if j < len(s) && (s[j] == 'x' || s[j] == 'X') {
		base, limit = 16, 6
		j++
	}
	digits := 0
	for j < len(s) && s[j] == '0' {
		j++
		digits++
	}
	sig := 0
	for ; j < len(s); j++ {
		h := unhex(s[j])
		if h < 0 || base == 10 && h > 9 {
			break
		}
		if sig == limit {
			return 0, 0 // too long: not decoded
		}
		cp = cp*base + rune(h)
		sig++
	}
	if digits+sig == 0 {
		return 0, 0
	}
	if j < len(s) && s[j] == ';' {
		j++
	}
	if cp > 0x10FFFF {
		cp = -1
	}
	return cp, j - i
}

// pct decodes "%XX" at s[i].
func pct[T text](s T, i int) (byte, bool) {
	if i+2 >= len(s) || s[i] != '%' {
		return 0, false
	}
	h, l := unhex(s[i+1]), unhex(s[i+2])
	if h|l < 0 {
		return 0, false
	}
	return byte(h<<4 | l), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// ringSize holds the groups of a chain that may still start or end a
// window: at most MaxLen of them plus the one being read.
const ringSize = 32

// group is one group of digits of a chain.
type group struct {
	start, end int
	n          int // digits; MaxLen+1 stands for "more than MaxLen"
	d          [MaxLen]byte
}

// scanner finds candidates in one reading of a text. The groups of the
// current chain that may still start a window wait in a ring; a group
// leaves it once the groups after it hold more than MaxLen digits with it,
// or the chain ends, and the windows starting at it are reported then, so
// candidates come out sorted by (Start, End).
type scanner struct {
	raw   bool // read escapes as they are
	first bool // stop at the first candidate
	found bool
	more  bool // stopped with the budget spent
	// left is how many more candidates may be reported when bounded
	// (FindMax); the readings hand it to each other around a region.
	bounded bool
	left    int
	pos     int // raw: where the last region stopped
	// emit, when set, gets each candidate instead of out.
	emit    func(Candidate)
	emitted int
	out     []Candidate
	// With numbers, nums is told where the main reading passes over
	// bytes (skipQuiet): FindAll reads the numbers of FindExponent with it.
	numbers bool
	nums    numScan
	// lazyRaw: the main reading, run without the reading as it is,
	// returns right after it has read the first escape it decodes, with
	// rawEnd where that escape ends, so that its caller makes that
	// reading's scanner there, has it read around the escape and reads on
	// (findIn, findInRaw).
	lazyRaw bool
	rawEnd  int

	ring       [ringSize]group
	head, size int // the waiting groups: ring[head], … (mod ringSize)
	digits     int // digits in the waiting groups
	inGroup    bool
	sep        bool // the last unit was a separator after a group
	hard       bool // with sep: a separator that is not invisible came since the group
	active     bool // inGroup, sep or size > 0
}

// scanText reads all of s with the escapes decoded (sc); around each escape
// it has raw read s as it is (see region).
func scanText[T text](sc *scanner, s T, raw *scanner) {
	run(sc, s, 0, -1, raw)
}

// run reads s from i (where no chain is open) with sc's reading. It stops
// at the end of s or, when stop >= 0, at the first unit at or after stop
// where no chain is open, and returns where it stopped. When raw is not nil
// every decoded escape has raw read its neighbourhood.
//
// Where no chain is open, the main reading (decoded, no stop) passes over
// the bytes that change nothing there with skipQuiet. ASCII separators are
// handled in place.
func run[T text](sc *scanner, s T, i, stop int, raw *scanner) int {
	decode := !sc.raw
	skip := decode && stop < 0
	n := len(s)
	var nums *numScan
	if sc.numbers {
		nums = &sc.nums
	}
	for i < n {
		if !sc.active {
			if stop >= 0 && i >= stop {
				return i
			}
			if skip {
				if i = skipQuiet(s, i, nums); i >= n {
					break
				}
			}
		}
		c := s[i]
		switch class[c] {
		case bBreak:
			if sc.active {
				sc.endChain()
				if sc.found {
					return i
				}
				if skip {
					i++
					continue // skipQuiet passes the breakers
				}
			}
			i++
			for i < n && class[s[i]] == bBreak {
				i++
			}
			continue
		case bDigit:
			// A run of ASCII digits, the common case, at once.
			j := i + 1
			for j < n && s[j]-'0' < 10 {
				j++
			}
			g := &sc.ring[(sc.head+sc.size)%ringSize]
			if !sc.inGroup {
				g.start, g.n = i, 0
				sc.inGroup, sc.active, sc.sep = true, true, false
			}
			if k := g.n; k+j-i > MaxLen {
				g.n = MaxLen + 1
			} else {
				for p := i; p < j; p++ { // short runs: cheaper than copy
					g.d[k] = s[p]
					k++
				}
				g.n = k
			}
			g.end = j
			if nums != nil && j < n && numberByte(s[j]) {
				if pointOnly(nums, s, j) {
					nums.pos = j + 1
				} else {
					numbersAfterRun(nums, s, j)
				}
			}
			i = j
			continue
		case bSep:
			// An ASCII separator: unit's kSep below, without the call.
			sc.separator()
			if sc.found {
				return i
			}
			i++
			continue
		}
		kind, d, next, esc := unit(s, i, decode)
		if nums != nil {
			numbersIn(nums, s, i, next)
		}
		switch kind {
		case kDigit:
			g := &sc.ring[(sc.head+sc.size)%ringSize]
			if !sc.inGroup {
				g.start, g.n = i, 0
				sc.inGroup, sc.active, sc.sep = true, true, false
			}
			if g.n < MaxLen {
				g.d[g.n] = '0' + d
			}
			if g.n <= MaxLen {
				g.n++
			}
			g.end = next
		case kSep:
			sc.separator()
		case kSoft:
			if sc.inGroup {
				sc.closeGroup()
				sc.sep, sc.hard = true, false
			}
		default:
			if sc.active {
				sc.endChain()
			}
		}
		if esc && raw != nil {
			raw.left = sc.left
			region(raw, s, i, next)
			sc.left = raw.left
			if raw.found {
				return i
			}
		} else if esc && sc.lazyRaw {
			sc.rawEnd = next // findIn makes the reading as it is here
			return i
		}
		if sc.found {
			return i
		}
		i = next
	}
	if sc.active {
		sc.endChain()
	}
	return n
}

// skipQuiet returns the index of the first byte of s from i where the
// decoded reading, with no chain open, has something to do; len(s) when
// there is none. It passes over
//
//   - every byte but an ASCII digit, 0xEF (the lead byte of a full-width
//     digit) and an escape's '%', '\' or '&': where no chain is open, each
//     of them changes nothing (a breaker or a separator leaves no chain
//     open), and no unit that starts at one of them (a UTF-8 separator, an
//     invalid lead byte) holds one of those bytes, so the unit after the
//     bytes passed starts where skipQuiet stops;
//   - a chain of ASCII digits and single ASCII separators that holds fewer
//     than MinLen digits and ends at a breaker byte, at two separators or
//     at the end of s (an id, an amount, a date, a phone number, an IP
//     address): endChain drops it, having found nothing in it.
//
// It looks for those bytes eight at a time. One test passes a word of
// ASCII that holds none of them (loudBits); in a word that does, the
// digits are flagged (wordFlags: with a ':' that follows one, the borrow
// of the test) and the other bytes ('$', '%', '&', '\\', 0xEF) too, whose
// lowest flag is right (the has-less-than and has-zero-byte tricks, whose
// flag may be wrong only above a right one). Every run of flagged digits
// below it is read at once: the last byte of each, and the byte after it.
// A run that ends inside the word at a byte of quietEnd is passed over
// there, as the chain loop below would pass it and each run of digits in
// it split at ':', a byte of quietEnd too (fewer than MinLen digits, ended
// by a breaker, nothing for nums); the first that does not is the chain
// loop's, from the first digit of its last run of digits alone (the
// digits without the ':', colonBytes): the runs before it end at ':'. The
// chain loop starts past that run's digits in the word (known) when the
// run ends at the run of flags' last byte.
// Ids, amounts, SKUs and times cost no stop; a run that reaches the end
// of the word, or ends at a separator, an escape, '$', 'e' or 'E', is the
// chain loop's.
func skipQuiet[T text](s T, i int, nums *numScan) int {
	const highs = 0x8080808080808080
	n := len(s)
	for {
		known := 0 // digits from i on the word loop read (the chain loop need not)
		// i >= 0 always holds: said here, it spares the loads their
		// bounds checks.
		for ; i >= 0 && i <= n-8; i += 8 {
			_ = s[i+7]
			v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if loudBits(v)&highs == 0 {
				continue
			}
			dm, m := wordFlags(v)
			m |= fullWidthFlags(v)
			// The last digits of the runs below the lowest flag of m
			// (all of them when there is none), lowest first.
			for ends := dm &^ (dm >> 8) & (m&-m - 1); ends != 0; ends &= ends - 1 {
				t := bits.TrailingZeros64(ends)
				if t < 63 && quietEnd[byte(v>>(t+1))] {
					continue
				}
				// The chain loop's, from the first digit of its last run
				// of digits alone: the highest first digit at or below
				// its end, of the digits without dm's ':' (colonBytes).
				dx := dm &^ colonBytes(v)
				k := bits.Len64(dx&^(dx<<8)&(2<<t-1))>>3 - 1
				if dx>>t&1 != 0 {
					// The run ends at its last byte: the chain loop
					// starts past its digits.
					known = t>>3 + 1 - k
				}
				i += k
				goto found
			}
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				goto found
			}
		}
		for ; i < n; i++ {
			if c := s[i]; c-'0' < 10 || c == '%' || c == '&' || c == '\\' || c == 0xEF {
				goto found
			}
		}
		return n
	found:
		if c := s[i]; c == '$' {
			i++
			continue
		} else if c-'0' >= 10 {
			return i
		}
		// A chain of plain digits and ASCII separators: passed over
		// when it holds fewer than MinLen digits and surely ends.
		j, digits := i+known, known
		for {
			k := j
			for j < n && s[j]-'0' < 10 {
				j++
			}
			if digits += j - k; digits >= MinLen {
				return i
			}
			if j == n {
				break
			}
			if c := class[s[j]]; c == bBreak {
				if s[j]|0x20 == 'e' && nums != nil {
					numbersAfterRun(nums, s, j)
				}
				break
			} else if c != bSep {
				return i // an escape or a UTF-8 digit may go on with it
			} else if s[j] == '.' && nums != nil {
				if pointOnly(nums, s, j) {
					nums.pos = j + 1
				} else {
					numbersAfterRun(nums, s, j)
				}
			}
			if j++; j == n {
				break
			}
			if c := class[s[j]]; c == bEsc || c == bHigh {
				return i
			} else if c != bDigit {
				break // a breaker or a second separator ends it
			}
		}
		i = j
	}
}

// loudBits returns the union of wordFlags's tests of the word v before
// the flags past ASCII are cleared, and v: its high bits are all clear
// when v is all ASCII and holds no byte wordFlags flags (nor 0xEF).
func loudBits(v uint64) uint64 {
	const ones = 0x0101010101010101
	d := v ^ '0'*ones
	p := v ^ '$'*ones
	b := v ^ '\\'*ones
	return (d - 10*ones) | (p - 3*ones) | (b - ones) | v
}

// wordFlags flags (high bit) the ASCII bytes of the word v that skipQuiet
// stops at or reads: in dm the digits, and ':' right after a flag of dm
// (the borrow of b^'0' < 10 out of a digit), which changes nothing
// skipQuiet reads of the runs of dm (a run that ends at ':' is passed over
// there); in m '$', '%', '&' (b^'$' < 3) and '\\', each test's flag wrong
// only above a right one, so the lowest is right. Each test's borrow out
// of a byte past ASCII is none, and its flag there is cleared.
func wordFlags(v uint64) (dm, m uint64) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	nv := ^v & highs
	d := v ^ '0'*ones // the digits: 0–9
	p := v ^ '$'*ones // '$', '%', '&': 0–2
	b := v ^ '\\'*ones
	return (d - 10*ones) & nv, ((p - 3*ones) | (b - ones)) & nv
}

// colonBytes flags (high bit) the bytes ':' of the word v, and maybe ';'
// right after one (the has-zero-byte trick's borrow): dm &^ colonBytes(v)
// is the digits of v alone, dm being wordFlags's.
func colonBytes(v uint64) uint64 {
	const ones = 0x0101010101010101
	c := v ^ ':'*ones
	return (c - ones) &^ c
}

// fullWidthFlags flags the bytes 0xEF of the word v (the lead byte of a
// full-width digit): the has-zero-byte trick, whose flag may be wrong only
// above a right one; none in a word of ASCII.
func fullWidthFlags(v uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	e := v ^ 0xEF*ones
	return (e - ones) &^ e & highs
}

// region has rs read s as it is (escapes not decoded) around the escape
// s[es:ee]: from the start of the chain of plain digits and separators that
// ends at es, to the end of the chain that holds or follows the escape's
// last bytes. Elsewhere both readings see the same chains, so their
// candidates are the same. rs.pos is where the last region stopped: no
// byte is read twice.
func region[T text](rs *scanner, s T, es, ee int) {
	if ee <= rs.pos {
		return
	}
	p := es
	for p > rs.pos && plainChainByte(s[p-1]) {
		p--
	}
	if p < rs.pos {
		p = rs.pos
	}
	rs.pos = run(rs, s, p, ee, nil)
}

// plainChainByte reports whether c may be part of a chain read as it is: an
// ASCII digit or separator, or a byte of a UTF-8 digit or separator.
func plainChainByte(c byte) bool {
	return class[c] == bDigit || class[c] == bSep || c >= 0x80 && (class[c] == bHigh || c < 0xC0)
}

// separator reads a separator: it closes the group being read; a second
// one (invisible ones not counted) ends the chain.
func (sc *scanner) separator() {
	switch {
	case sc.inGroup:
		sc.closeGroup()
		sc.sep, sc.hard = true, true
	case sc.sep && sc.hard:
		sc.endChain()
	case sc.sep:
		sc.hard = true
	}
}

// closeGroup ends the group being read.
func (sc *scanner) closeGroup() {
	sc.inGroup = false
	g := &sc.ring[(sc.head+sc.size)%ringSize]
	if g.n > MaxLen {
		sc.flush() // no window crosses a long group
		return
	}
	sc.size++
	sc.digits += g.n
	for sc.digits > MaxLen && !sc.found {
		sc.pop()
	}
}

// endChain ends the chain: every waiting group is done.
func (sc *scanner) endChain() {
	if sc.inGroup {
		if sc.size == 0 && sc.ring[sc.head].n < MinLen {
			// A lone short group (an id, an amount): nothing to report.
			sc.inGroup, sc.sep, sc.active = false, false, false
			sc.head, sc.digits = 0, 0
			return
		}
		sc.closeGroup()
	}
	sc.flush()
	sc.sep, sc.active = false, false
}

func (sc *scanner) flush() {
	if sc.digits < MinLen {
		sc.head, sc.size, sc.digits = 0, 0, 0
		return
	}
	for sc.size > 0 && !sc.found {
		sc.pop()
	}
	sc.head, sc.size, sc.digits = 0, 0, 0
}

// pop reports the windows starting at the oldest waiting group and drops
// it.
func (sc *scanner) pop() {
	first := &sc.ring[sc.head]
	if sc.digits >= MinLen {
		var c Candidate
		n := 0
		sumEven, sumOdd := 0, 0 // Luhn sums doubling the even / odd positions from the left
		for k := 0; k < sc.size; k++ {
			g := &sc.ring[(sc.head+k)%ringSize]
			if n+g.n > MaxLen {
				break
			}
			for _, ch := range g.d[:g.n] {
				d := int(ch - '0')
				dd := 2 * d
				if dd > 9 {
					dd -= 9
				}
				if n%2 == 0 {
					sumEven += dd
					sumOdd += d
				} else {
					sumEven += d
					sumOdd += dd
				}
				c.digits[n] = ch
				n++
			}
			if n < MinLen {
				continue
			}
			// The rightmost digit is not doubled: with n digits the
			// doubled positions from the left are those of n's parity.
			sum := sumOdd
			if n%2 == 0 {
				sum = sumEven
			}
			if sum%10 != 0 {
				continue
			}
			if sc.first {
				sc.found = true
				return
			}
			if sc.bounded {
				if sc.left == 0 {
					sc.found, sc.more = true, true // stop
					return
				}
				sc.left--
			}
			c.Start, c.End, c.n, c.raw = first.start, g.end, uint8(n), sc.raw
			if sc.emit != nil {
				sc.emit(c)
				sc.emitted++
				continue
			}
			sc.out = append(sc.out, c)
		}
	}
	sc.digits -= first.n
	sc.head = (sc.head + 1) % ringSize
	sc.size--
}

// maskText appends src to dst with its candidates masked (see Mask).
func maskText[T text](dst []byte, src T) []byte {
	base := len(dst)
	dst = append(dst, src...)
	out := dst[base:]
	// Each candidate is masked as it is found: no list of candidates is
	// kept (there can be a few per byte).
	if each(src, func(c Candidate) { maskSpan(out, src, c, false) }) == 0 {
		return dst
	}
	// The kept digits of a window may join the groups in front of it into
	// a new candidate; mask those whole. Masking whole groups creates no
	// new group, so this ends at once in all but contrived inputs; the
	// bound keeps it linear.
	var prev []byte
	for pass := 0; pass < 8 && contains(out); pass++ {
		prev = append(prev[:0], out...)
		each(prev, func(c Candidate) { maskSpan(out, prev, c, true) })
	}
	return dst
}

// each calls f with every candidate of s, in no particular order (a
// candidate may come twice), and returns how many calls it made.
func each[T text](s T, f func(Candidate)) int {
	if !enoughDigits(s) {
		return 0
	}
	var dec, raw scanner
	raw.raw = true
	dec.emit, raw.emit = f, f
	scanText(&dec, s, &raw)
	return dec.emitted + raw.emitted
}

// maskSpan writes '*' over out's bytes of the digits of c, as read in src
// (the same length as out): all of them when all, else all but the first 6
// and last 4.
func maskSpan[T text](out []byte, src T, c Candidate, all bool) {
	k, n := 0, int(c.n)
	for i := c.Start; i < c.End; {
		kind, _, next, _ := unit(src, i, !c.raw)
		if kind == kDigit {
			if all || k >= 6 && k < n-4 {
				for j := i; j < next; j++ {
					out[j] = '*'
				}
			}
			k++
		}
		i = next
	}
}
