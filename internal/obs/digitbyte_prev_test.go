package obs

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"unicode/utf8"
)

// prevHasDigitByte is hasDigitByte as it was before it read 8 bytes at a
// time: the byte loop, kept as the reference of the differential tests.
func prevHasDigitByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c-'0' <= 9 || c >= utf8.RuneSelf || c == '%' || c == '\\' || c == '&' {
			return true
		}
	}
	return false
}

// eachByteAnywhere calls check with strings of 0 to 24 bytes of plain
// (bytes the function under test passes over) holding each of the 256
// byte values at each position, then with random strings of up to 40
// bytes, one in seven a random byte, the rest of plain: what a function
// reading 8 bytes at a time must answer as its byte loop did, at every
// offset of a block and of the tail.
func eachByteAnywhere(plain string, seed uint64, check func(string)) {
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := make([]byte, n)
				for i := range b {
					b[i] = plain[(i*7+n)%len(plain)]
				}
				b[pos] = byte(c)
				check(string(b))
			}
		}
	}
	rnd := rand.New(rand.NewPCG(seed, 5))
	for range 200000 {
		b := make([]byte, rnd.IntN(40))
		for i := range b {
			if rnd.IntN(7) == 0 {
				b[i] = byte(rnd.IntN(256))
			} else {
				b[i] = plain[rnd.IntN(len(plain))]
			}
		}
		check(string(b))
	}
}

// TestHasDigitByteAgainstPrevious: hasDigitByte answers as the byte loop
// did (eachByteAnywhere).
func TestHasDigitByteAgainstPrevious(t *testing.T) {
	eachByteAnywhere("aZ/:.-_ ~!\"#$'()*+,;<=>?@[]^`{|}\x00\x1f\x7f/", 21, func(s string) {
		if got, want := hasDigitByte(s), prevHasDigitByte(s); got != want {
			t.Fatalf("%q: got %v, want %v", s, got, want)
		}
	})
}

// FuzzHasDigitByteAgainstPrevious: hasDigitByte against the byte loop it
// replaced.
func FuzzHasDigitByteAgainstPrevious(f *testing.F) {
	fuzzStringAgainst(f, []string{"inbound", "POST", "/checkout", "shop.example.com", "127.0.0.1:51234", "abcdefgh%", "abcdefgh&ijklmnop", "\\u0034", "é", "abcdefg9"},
		func(s string) string { return strconv.FormatBool(hasDigitByte(s)) },
		func(s string) string { return strconv.FormatBool(prevHasDigitByte(s)) })
}

// prevPlainLen is plainLen's byte loop: what it counts, one byte at a
// time.
func prevPlainLen(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return i
		}
	}
	return len(s)
}

// TestPlainLenAgainstByteLoop: plainLen, 8 bytes at a time, counts what
// the byte loop counts (eachByteAnywhere; appendJSONStringMode writes the
// same either way: this holds the count itself).
func TestPlainLenAgainstByteLoop(t *testing.T) {
	eachByteAnywhere("aZ09/:.-_ ~!#$'()*+,;<=>?@[]^`{|}%&", 8, func(s string) {
		if got, want := plainLen(s), prevPlainLen(s); got != want {
			t.Fatalf("%q: got %d, want %d", s, got, want)
		}
	})
}
