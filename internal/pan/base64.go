package pan

import (
	"encoding/base64"
	"slices"
)

// minBase64Run is the shortest run of base64 characters that can spell
// MinLen bytes (18 characters hold 13 bytes and a half).
const minBase64Run = (MinLen*8 + 5) / 6

// FindBase64String returns the card numbers (their digits, each once) that
// the base64 runs of s spell once decoded: a run is a longest stretch of
// the characters of either alphabet (A–Z, a–z, 0–9, '+', '/', '-', '_'),
// of minBase64Run or more, decoded without its padding ('=' ends a run),
// '-' and '_' read as the '+' and '/' they stand for in the URL alphabet,
// from each of its first four characters (text before the encoding within
// the run, "v1eyJ…", shifts its groups), what it decodes to read by Find
// and FindExponent. So a cookie session, a JWT's payload or a URL's state
// parameter that is base64 of JSON holding a card number is found, and so
// is one that text of the other alphabet joins ("user_" before standard
// base64 holding '/', Rails' "--" and digest after it). Not found: base64
// nested twice, or compressed before it was encoded (Flask's ".eJ…"
// sessions). The digits do not appear in s as such: a caller cannot mask
// them in place. Linear in the length of s (each run is decoded four
// times); it allocates only for a run it decodes.
func FindBase64String(s string) []string {
	if len(s) < minBase64Run {
		return nil // no run long enough: most header values
	}
	var out []string
	for i := 0; i < len(s); {
		if !isBase64[s[i]] {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase64[s[j]] {
			j++
		}
		if j-i >= minBase64Run {
			out = findInBase64(out, s[i:j])
		}
		i = j
	}
	return out
}

// findInBase64 appends to out the card numbers run decodes to from each of
// its first four characters, in one alphabet: '-' and '_' have the values
// of '+' and '/' (a run that mixes the two alphabets decodes as each part
// was written).
func findInBase64(out []string, run string) []string {
	enc := base64.RawStdEncoding
	b := make([]byte, len(run)+enc.DecodedLen(len(run)))
	src, buf := b[:len(run)], b[len(run):]
	for i := range len(run) {
		switch c := run[i]; c {
		case '-':
			src[i] = '+'
		case '_':
			src[i] = '/'
		default:
			src[i] = c
		}
	}
	for off := 0; off < 4 && len(src)-off >= minBase64Run; off++ {
		r := src[off:]
		if len(r)%4 == 1 {
			r = r[:len(r)-1] // a lone last character decodes to nothing
		}
		n, err := enc.Decode(buf, r)
		if err != nil {
			continue
		}
		d := buf[:n]
		for _, c := range Find(d) {
			if dg := c.Digits(); !slices.Contains(out, dg) {
				out = append(out, dg)
			}
		}
		for _, dg := range FindExponent(d) {
			if !slices.Contains(out, dg) {
				out = append(out, dg)
			}
		}
	}
	return out
}

// base64Char reports whether c is a character of the standard or the URL
// base64 alphabet (not the padding).
func base64Char(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

// isBase64 is base64Char as a table: FindBase64String reads every byte of
// every header value and request target with it.
var isBase64 = func() (t [256]bool) {
	for c := range 256 {
		t[c] = base64Char(byte(c))
	}
	return t
}()
