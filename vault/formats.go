package vault

import (
	"fmt"
	"io"
	"strings"

	"github.com/aliasgate/aliasgate/internal/base58"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// Format names how an alias looks. The names are those of the VGS vault API.
type Format string

// The alias formats. See the package documentation for their shapes.
const (
	FormatUUID                Format = "UUID"
	FormatRawUUID             Format = "RAW_UUID"
	FormatFPESixTFour         Format = "FPE_SIX_T_FOUR"
	FormatFPETFour            Format = "FPE_T_FOUR"
	FormatPFPT                Format = "PFPT"
	FormatNumLengthPreserving Format = "NUM_LENGTH_PRESERVING"
	FormatGenericTFour        Format = "GENERIC_T_FOUR"
)

// Formats lists every format, in a stable order.
var formats = [...]Format{
	FormatUUID, FormatRawUUID, FormatFPESixTFour, FormatFPETFour,
	FormatPFPT, FormatNumLengthPreserving, FormatGenericTFour,
}

// Formats returns every alias format in a stable order.
func Formats() []Format { return formats[:] }

// ParseFormat returns the format named s (case-insensitive). The empty string
// is FormatUUID, the default.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatUUID, nil
	}
	f := Format(strings.ToUpper(s))
	for _, k := range formats {
		if k == f {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: unknown alias format", ErrInvalidFormat)
}

// OrDefault returns f, or FormatUUID when f is empty.
func (f Format) OrDefault() Format {
	if f == "" {
		return FormatUUID
	}
	return f
}

// Numeric reports whether aliases of f are made of digits only, so that a
// value sent as a JSON number can stay a number.
func (f Format) Numeric() bool {
	switch f {
	case FormatFPESixTFour, FormatFPETFour, FormatPFPT, FormatNumLengthPreserving:
		return true
	}
	return false
}

// Length limits of the digit formats.
const (
	minCardDigits = 12 // FPE_* and PFPT take card-number-like values
	maxCardDigits = 19
	minNumDigits  = 4 // NUM_LENGTH_PRESERVING: fewer digits leave too few aliases
	maxNumDigits  = 64
	uuidBodyLen   = 22 // base58 characters of a 128-bit random body
	pfptPrefix    = "991"
	pfptLen       = 19
)

// Check reports whether value can be given an alias of format f, as an error
// wrapping ErrFormatNotApplicable that says why without quoting the value.
func (f Format) Check(value string) error {
	switch f {
	case FormatUUID, FormatRawUUID:
		return nil
	case FormatFPESixTFour:
		// 6 + 4 kept digits of a 12-digit value would leave one free digit
		// (Luhn fixes the other): the alias would all but give the value away.
		if n := len(value); n < minCardDigits+1 || n > maxCardDigits || !allDigits(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d digits", ErrFormatNotApplicable, f, minCardDigits+1, maxCardDigits)
		}
	case FormatFPETFour, FormatPFPT:
		if n := len(value); n < minCardDigits || n > maxCardDigits || !allDigits(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d digits", ErrFormatNotApplicable, f, minCardDigits, maxCardDigits)
		}
	case FormatNumLengthPreserving:
		if n := len(value); n < minNumDigits || n > maxNumDigits || !allDigits(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d digits", ErrFormatNotApplicable, f, minNumDigits, maxNumDigits)
		}
	case FormatGenericTFour:
		if len(value) < 4 || !allDigits(value[len(value)-4:]) {
			return fmt.Errorf("%w: %s needs a value ending in 4 digits", ErrFormatNotApplicable, f)
		}
	default:
		return fmt.Errorf("%w: unknown alias format", ErrInvalidFormat)
	}
	return nil
}

// generate makes a new random alias of format f for value. env is the alias
// prefix's environment (tok_<env>_…). The alias never equals the value.
// Format-preserving aliases are random, not a cipher of the value: nothing
// about the value beyond the digits the format keeps can be learned from
// them. Collisions with existing aliases are the caller's to check.
func (f Format) generate(value, env string, rnd io.Reader) (string, error) {
	if err := f.Check(value); err != nil {
		return "", err
	}
	for range 64 {
		a, err := f.candidate(value, env, rnd)
		if err != nil {
			return "", err
		}
		if a != value {
			return a, nil
		}
	}
	// Only reachable with a broken random source.
	return "", fmt.Errorf("vault: %s: %w", f, ErrAliasSpaceExhausted)
}

func (f Format) candidate(value, env string, rnd io.Reader) (string, error) {
	switch f {
	case FormatUUID:
		body, err := randomBody(rnd)
		if err != nil {
			return "", err
		}
		return "tok_" + env + "_" + body, nil
	case FormatGenericTFour:
		body, err := randomBody(rnd)
		if err != nil {
			return "", err
		}
		return "tok_" + env + "_" + body + value[len(value)-4:], nil
	case FormatRawUUID:
		var b [16]byte
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return "", fmt.Errorf("vault: random: %w", err)
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
	case FormatFPESixTFour:
		return luhnDigits(value[:6], len(value)-10, value[len(value)-4:], rnd)
	case FormatFPETFour:
		return luhnDigits("", len(value)-4, value[len(value)-4:], rnd)
	case FormatPFPT:
		return luhnDigits(pfptPrefix, pfptLen-len(pfptPrefix)-4, value[len(value)-4:], rnd)
	case FormatNumLengthPreserving:
		d, err := randomDigits(rnd, len(value))
		if err != nil {
			return "", err
		}
		if d[0] == '0' { // keep it a valid JSON number
			d[0] = '1' + d[1]%9
		}
		return string(d), nil
	}
	return "", fmt.Errorf("%w: unknown alias format", ErrInvalidFormat)
}

// luhnDigits returns prefix + n random digits + suffix, with one of the random
// digits chosen so that the whole passes the Luhn check. The first digit of
// the result is never 0 (so the alias is a valid JSON number).
func luhnDigits(prefix string, n int, suffix string, rnd io.Reader) (string, error) {
	mid, err := randomDigits(rnd, n)
	if err != nil {
		return "", err
	}
	if prefix == "" && mid[0] == '0' {
		mid[0] = '1' + mid[0]%9
	}
	buf := make([]byte, 0, len(prefix)+n+len(suffix))
	buf = append(buf, prefix...)
	buf = append(buf, mid...)
	buf = append(buf, suffix...)
	// Fix the last random digit: try the ten values, one of them makes the
	// sum a multiple of ten (changing one digit at a fixed position walks
	// through every residue).
	// n >= 2 whenever prefix is empty (Check enforces 12+ digits), so the
	// fixed digit is never the leading one.
	fix := len(prefix) + n - 1
	for d := byte('0'); d <= '9'; d++ {
		buf[fix] = d
		if pan.Valid(string(buf)) {
			return string(buf), nil
		}
	}
	return "", fmt.Errorf("vault: luhn fix failed") // unreachable: every residue is reachable
}

// randomDigits returns n uniformly random ASCII digits.
func randomDigits(rnd io.Reader, n int) ([]byte, error) {
	out := make([]byte, n)
	var buf [64]byte
	i := 0
	for i < n {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return nil, fmt.Errorf("vault: random: %w", err)
		}
		for _, b := range buf {
			if b >= 250 { // rejection sampling keeps digits uniform
				continue
			}
			out[i] = '0' + b%10
			i++
			if i == n {
				break
			}
		}
	}
	return out, nil
}

// randomBody returns 22 base58 characters of 128 random bits.
func randomBody(rnd io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("vault: random: %w", err)
	}
	return base58.EncodeFixed(b[:], uuidBodyLen), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
