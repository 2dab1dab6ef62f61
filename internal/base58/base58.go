// Package base58 encodes bytes in the Bitcoin base58 alphabet, which leaves
// out the look-alike characters 0, O, I and l. aliasgate uses it for alias
// bodies, card and token ids and fingerprints.
package base58

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Alphabet is the Bitcoin base58 alphabet.
const Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// ErrInvalid is returned by Decode for a character outside the alphabet.
var ErrInvalid = errors.New("base58: invalid character")

var decodeMap = func() (m [256]int8) {
	for i := range m {
		m[i] = -1
	}
	for i := 0; i < len(Alphabet); i++ {
		m[Alphabet[i]] = int8(i)
	}
	return m
}()

// Encode returns the base58 text of b. Leading zero bytes become leading '1'
// characters, so the length of the text depends on the value; use EncodeFixed
// where a fixed width is wanted.
func Encode(b []byte) string {
	return string(AppendFixed(nil, b, 0))
}

// EncodeFixed returns the base58 text of b left-padded with '1' (the zero
// digit) to width characters. The value is unchanged by the padding. A text
// already longer than width is returned as is.
func EncodeFixed(b []byte, width int) string {
	return string(AppendFixed(nil, b, width))
}

// AppendFixed appends EncodeFixed(b, width) to dst and returns the extended
// buffer; b up to 64 bytes costs no allocation beyond dst's growth.
//
// The value is read as big-endian 32-bit limbs and divided by 58^5 (which
// fits in 32 bits) until nothing is left, each division yielding five
// digits: a 16-byte alias body takes five passes over at most four limbs
// (divisions by a constant, which the compiler turns into multiplications)
// where a byte-by-byte conversion takes 16 passes over up to 22 digits.
// The limbs are loaded four bytes at a time, each group of five digits is
// cut from its 32-bit remainder into place, and the text is written once
// into dst's grown room (no append per character).
func AppendFixed(dst, b []byte, width int) []byte {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	rest := b[zeros:]

	var limbBuf [16]uint32 // the limbs of 64 bytes
	var limbs []uint32
	if n := (len(rest) + 3) / 4; n <= len(limbBuf) {
		limbs = limbBuf[:n]
	} else {
		limbs = make([]uint32, n)
	}
	// The first limb takes the bytes the others leave (1 to 4), the
	// others four bytes each.
	head := len(rest) - 4*(len(limbs)-1)
	if len(limbs) > 0 {
		for _, c := range rest[:head] {
			limbs[0] = limbs[0]<<8 | uint32(c)
		}
		for k := 1; k < len(limbs); k++ {
			limbs[k] = binary.BigEndian.Uint32(rest[head+4*(k-1):])
		}
	}
	// Digits, least significant first; five per division, each group
	// from a remainder under 58^5 (32 bits), stored by index.
	var digitBuf [95]byte // the digits of 64 bytes (88), rounded up to a multiple of 5
	var digits []byte
	if size := (len(rest)*138/100 + 5) / 5 * 5; size <= len(digitBuf) {
		digits = digitBuf[:size]
	} else {
		digits = make([]byte, size)
	}
	n := 0
	for len(limbs) > 0 {
		var rem uint64
		for i, l := range limbs {
			cur := rem<<32 | uint64(l)
			q := cur / pow5
			limbs[i] = uint32(q)
			rem = cur - q*pow5
		}
		for len(limbs) > 0 && limbs[0] == 0 {
			limbs = limbs[1:]
		}
		r := uint32(rem)
		g := digits[n : n+5 : n+5]
		g[0] = byte(r % 58)
		r /= 58
		g[1] = byte(r % 58)
		r /= 58
		g[2] = byte(r % 58)
		r /= 58
		g[3] = byte(r % 58)
		g[4] = byte(r / 58)
		n += 5
	}
	digits = digits[:n]
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1] // the last division's leading zeros
	}
	pad := max(width-zeros-len(digits), 0) + zeros // padding, then the leading zero bytes
	dst = slices.Grow(dst, pad+len(digits))
	out := dst[len(dst) : len(dst)+pad+len(digits)]
	for i := range pad {
		out[i] = '1'
	}
	d := out[pad:]
	for i, c := range digits {
		d[len(d)-1-i] = alphabet256[c]
	}
	return dst[:len(dst)+len(out)]
}

// alphabet256 is Alphabet indexed by any byte (a digit is under 58), so
// that a digit's character is read with no bounds check.
var alphabet256 = func() (a [256]byte) {
	copy(a[:], Alphabet)
	return a
}()

// pow5 is 58^5, the largest power of 58 below 2^32.
const pow5 = 58 * 58 * 58 * 58 * 58

// Decode returns the bytes of a base58 text.
func Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	size := (len(s)-zeros)*733/1000 + 1
	buf := make([]byte, size)
	high := size - 1
	for i := zeros; i < len(s); i++ {
		v := decodeMap[s[i]]
		if v < 0 {
			return nil, ErrInvalid
		}
		carry := int(v)
		j := size - 1
		for ; j > high || carry != 0; j-- {
			carry += 58 * int(buf[j])
			buf[j] = byte(carry % 256)
			carry /= 256
		}
		high = j
	}
	i := 0
	for i < size && buf[i] == 0 {
		i++
	}
	out := make([]byte, zeros+size-i)
	copy(out[zeros:], buf[i:])
	return out, nil
}

// Valid reports whether every character of s is in the alphabet.
func Valid(s string) bool {
	for i := 0; i < len(s); i++ {
		if decodeMap[s[i]] < 0 {
			return false
		}
	}
	return true
}
