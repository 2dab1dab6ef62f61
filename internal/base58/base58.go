// Package base58 encodes bytes in the Bitcoin base58 alphabet, which leaves
// out the look-alike characters 0, O, I and l. aliasgate uses it for alias
// bodies, card and token ids and fingerprints.
package base58

import "errors"

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
func AppendFixed(dst, b []byte, width int) []byte {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) ≈ 1.365; allocate enough digits.
	size := (len(b)-zeros)*138/100 + 1
	var buf [90]byte // the digits of 64 bytes
	var digits []byte
	if size <= len(buf) {
		digits = buf[:size]
	} else {
		digits = make([]byte, size)
	}
	high := size - 1
	for _, c := range b[zeros:] {
		carry := int(c)
		j := size - 1
		for ; j > high || carry != 0; j-- {
			carry += 256 * int(digits[j])
			digits[j] = byte(carry % 58)
			carry /= 58
		}
		high = j
	}
	i := 0
	for i < size && digits[i] == 0 {
		i++
	}
	for n := zeros + size - i; n < width; n++ {
		dst = append(dst, '1') // padding
	}
	for range zeros {
		dst = append(dst, '1')
	}
	for ; i < size; i++ {
		dst = append(dst, Alphabet[digits[i]])
	}
	return dst
}

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
