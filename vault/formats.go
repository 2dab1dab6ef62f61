package vault

import (
	"crypto/rand"
	"fmt"
	"io"

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
	FormatFPEAccNumTFour      Format = "FPE_ACC_NUM_T_FOUR"
	FormatFPEAlnumAccNumTFour Format = "FPE_ALPHANUMERIC_ACC_NUM_T_FOUR"
	FormatFPESSNTFour         Format = "FPE_SSN_T_FOUR"
	FormatNonLuhnFPEAlnum     Format = "NON_LUHN_FPE_ALPHANUMERIC"
	FormatAlnumSixTFour       Format = "ALPHANUMERIC_SIX_T_FOUR"
	FormatVGSFixedLenGeneric  Format = "VGS_FIXED_LEN_GENERIC"
)

// Formats lists every format, in a stable order (new formats go last: the
// order is that of the other aliases Describe lists).
var formats = [...]Format{
	FormatUUID, FormatRawUUID, FormatFPESixTFour, FormatFPETFour,
	FormatPFPT, FormatNumLengthPreserving, FormatGenericTFour,
	FormatFPEAccNumTFour, FormatFPEAlnumAccNumTFour, FormatFPESSNTFour,
	FormatNonLuhnFPEAlnum, FormatAlnumSixTFour, FormatVGSFixedLenGeneric,
}

// unsupported are the format names of the VGS vault API that aliasgate
// refuses with ErrFormatUnsupported: they name formats defined elsewhere
// (a VGS dashboard's custom alias format, a JavaScript generator), not a
// shape aliasgate could produce.
var unsupported = [...]Format{"CUSTOM", "JS"}

// Formats returns every alias format in a stable order.
func Formats() []Format { return formats[:] }

// ParseFormat returns the format named s, in any case of its ASCII letters
// (no other character stands for a letter, as in ParseStorage). The empty string
// is FormatUUID, the default.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatUUID, nil
	}
	// A name as the constants spell it (a route's, the API's) is found
	// by comparing strings; no two formats are equal folded, so the
	// answer is the loop's below.
	for _, k := range formats {
		if s == string(k) {
			return k, nil
		}
	}
	for _, k := range formats {
		if equalFoldASCII(s, string(k)) {
			return k, nil
		}
	}
	for _, k := range unsupported {
		if equalFoldASCII(s, string(k)) {
			return "", fmt.Errorf("%w: %s aliases are defined outside aliasgate", ErrFormatUnsupported, k)
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

// Numeric reports whether every alias of f is made of digits only (with no
// leading 0 unless the value's kept digits have one), so that it can stand
// where a JSON number stood.
func (f Format) Numeric() bool {
	switch f {
	case FormatFPESixTFour, FormatFPETFour, FormatPFPT, FormatNumLengthPreserving, FormatFPEAccNumTFour:
		return true
	}
	return false
}

// wide reports whether aliases of f carry at least 128 random bits, so
// that a new one cannot meet an existing alias: the others are checked
// against both stores before they are written.
func (f Format) wide() bool {
	switch f {
	case FormatUUID, FormatRawUUID, FormatGenericTFour, FormatVGSFixedLenGeneric:
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
	// minFreeChars is the fewest characters of a value an alias of a format
	// that keeps some of them must leave out: a format keeping the last 4
	// takes values of at least 4+minFreeChars characters.
	minFreeChars = 2
	minAccChars  = 4 + minFreeChars // FPE_*ACC_NUM_T_FOUR, GENERIC_T_FOUR
	// minSixTFourDigits: FPE_SIX_T_FOUR and ALPHANUMERIC_SIX_T_FOUR keep
	// 6 + 4 digits; of a 12-digit value that leaves 2 free digits, one
	// of them fixed by Luhn for a card number: the alias would all but give
	// the value away.
	minSixTFourDigits = minCardDigits + 1
	maxAccChars       = 64
	alnum6T4Len       = 19    // ALPHANUMERIC_SIX_T_FOUR: 6 + 9 + 4
	fixedPrefix       = "vgs" // VGS_FIXED_LEN_GENERIC: "vgs" + 26 base58 characters
	fixedBodyLen      = 26    // base58 characters of 152 random bits (58^26 > 2^152)
	fixedBodyRand     = 19    // random bytes of a VGS_FIXED_LEN_GENERIC body
)

// Alphabets of the random characters of aliases.
const (
	decimal      = "0123456789"
	upperLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerLetters = "abcdefghijklmnopqrstuvwxyz"
	alnum        = decimal + upperLetters + lowerLetters
)

// Check reports whether value can be given an alias of format f, as an error
// wrapping ErrFormatNotApplicable that says why without quoting the value.
func (f Format) Check(value string) error {
	switch f {
	case FormatUUID, FormatRawUUID:
		return nil
	case FormatFPESixTFour:
		if n := len(value); n < minSixTFourDigits || n > maxCardDigits || !allDigits(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d digits", ErrFormatNotApplicable, f, minSixTFourDigits, maxCardDigits)
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
		// The alias ends with the last 4: a value of 4 or 5 characters (a
		// CID, a PIN) would be spelled out in it, or all but one character.
		if len(value) < minAccChars || !allDigits(value[len(value)-4:]) {
			return fmt.Errorf("%w: %s needs a value of at least %d characters ending in 4 digits", ErrFormatNotApplicable, f, minAccChars)
		}
	case FormatFPEAccNumTFour:
		if n := len(value); n < minAccChars || n > maxAccChars || !allDigits(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d digits", ErrFormatNotApplicable, f, minAccChars, maxAccChars)
		}
	case FormatFPEAlnumAccNumTFour:
		if n := len(value); n < minAccChars || n > maxAccChars || !allAlnum(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d letters and digits", ErrFormatNotApplicable, f, minAccChars, maxAccChars)
		}
	case FormatFPESSNTFour:
		if !isSSN(value) {
			return fmt.Errorf("%w: %s needs a value of 9 digits, or 3-2-4 digits with dashes", ErrFormatNotApplicable, f)
		}
	case FormatNonLuhnFPEAlnum:
		if n := len(value); n < minCardDigits || n > maxCardDigits || !allAlnum(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d letters and digits", ErrFormatNotApplicable, f, minCardDigits, maxCardDigits)
		}
	case FormatAlnumSixTFour:
		if n := len(value); n < minSixTFourDigits || n > maxCardDigits || !allDigits(value) {
			return fmt.Errorf("%w: %s needs a value of %d to %d digits", ErrFormatNotApplicable, f, minSixTFourDigits, maxCardDigits)
		}
	case FormatVGSFixedLenGeneric:
		return nil
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
		return randomAlias(env, "", rnd)
	case FormatGenericTFour:
		return randomAlias(env, value[len(value)-4:], rnd)
	case FormatVGSFixedLenGeneric:
		var b [fixedBodyRand]byte
		if err := readRandom(rnd, b[:]); err != nil {
			return "", err
		}
		return fixedPrefix + base58.EncodeFixed(b[:], fixedBodyLen), nil
	case FormatRawUUID:
		var b [16]byte
		if err := readRandom(rnd, b[:]); err != nil {
			return "", err
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
	case FormatFPEAccNumTFour:
		d, err := randomDigits(rnd, len(value)-4)
		if err != nil {
			return "", err
		}
		if d[0] == '0' { // keep it a valid JSON number
			d[0] = '1' + d[1]%9
		}
		return string(d) + value[len(value)-4:], nil
	case FormatFPEAlnumAccNumTFour:
		r, err := randomAlnum(rnd, len(value)-4)
		if err != nil {
			return "", err
		}
		return string(r) + value[len(value)-4:], nil
	case FormatFPESSNTFour:
		return ssnCandidate(value, rnd)
	case FormatNonLuhnFPEAlnum:
		return nonLuhnCandidate(value, rnd)
	case FormatAlnumSixTFour:
		for {
			mid, err := randomAlnum(rnd, alnum6T4Len-10)
			if err != nil {
				return "", err
			}
			// At least one letter: the alias is never a card number.
			if !allDigits(string(mid)) {
				return value[:6] + string(mid) + value[len(value)-4:], nil
			}
		}
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

// ssnCandidate returns an SSN-shaped alias of value (9 digits, dashed or
// not, as the value is): a random area (001–899 but 666, the areas the
// SSA issues) and group (01–99), and the value's last 4 digits.
func ssnCandidate(value string, rnd io.Reader) (string, error) {
	for {
		d, err := randomDigits(rnd, 5)
		if err != nil {
			return "", err
		}
		area, group := string(d[:3]), string(d[3:])
		if area == "000" || area == "666" || area[0] == '9' || group == "00" {
			continue
		}
		last := value[len(value)-4:]
		if len(value) == 11 {
			return area + "-" + group + "-" + last, nil
		}
		return area + group + last, nil
	}
}

// nonLuhnCandidate returns an alias of value of the same length and
// character classes (a random digit for each digit, a random letter of the
// same case for each letter) that never passes the Luhn check, so that it
// can never be taken for a card number. A leading digit is never 0.
func nonLuhnCandidate(value string, rnd io.Reader) (string, error) {
	out := make([]byte, len(value))
	digits, err := randomDigits(rnd, len(value))
	if err != nil {
		return "", err
	}
	upper, err := randomFrom(rnd, len(value), upperLetters)
	if err != nil {
		return "", err
	}
	lower, err := randomFrom(rnd, len(value), lowerLetters)
	if err != nil {
		return "", err
	}
	last := -1 // the last digit position
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c >= '0' && c <= '9':
			out[i] = digits[i]
			last = i
		case c >= 'A' && c <= 'Z':
			out[i] = upper[i]
		default:
			out[i] = lower[i]
		}
	}
	if out[0] == '0' {
		out[0] = '1' + digits[len(digits)-1]%9
	}
	if allDigits(string(out)) && pan.Valid(string(out)) {
		// Changing one digit at a fixed position changes the Luhn sum
		// modulo 10; the last digit is never the leading one (12+ chars).
		out[last] = '0' + (out[last]-'0'+1)%10
	}
	return string(out), nil
}

// randomAlnum returns n characters drawn uniformly from alnum.
func randomAlnum(rnd io.Reader, n int) ([]byte, error) { return randomFrom(rnd, n, alnum) }

// randomDigits returns n uniformly random ASCII digits.
func randomDigits(rnd io.Reader, n int) ([]byte, error) { return randomFrom(rnd, n, decimal) }

// randomFrom returns n characters drawn uniformly from alphabet (at most
// 256 characters).
func randomFrom(rnd io.Reader, n int, alphabet string) ([]byte, error) {
	out := make([]byte, n)
	k := len(alphabet)
	limit := 256 - 256%k // rejection sampling keeps the draw uniform
	var buf [64]byte
	i := 0
	for i < n {
		if err := readRandom(rnd, buf[:]); err != nil {
			return nil, err
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out[i] = alphabet[int(b)%k]
			i++
			if i == n {
				break
			}
		}
	}
	return out, nil
}

// randomAlias returns tok_<env>_<body>, and _<last4> when last4 is set,
// where the body is 22 base58 characters of 128 random bits. The random
// bits and the alias are made on the stack (readRandom): the string is the
// only allocation.
func randomAlias(env, last4 string, rnd io.Reader) (string, error) {
	var r [16]byte
	if err := readRandom(rnd, r[:]); err != nil {
		return "", err
	}
	var buf [96]byte
	b := buf[:0]
	if n := len("tok_") + len(env) + 1 + uuidBodyLen + 1 + len(last4); n > len(buf) {
		b = make([]byte, 0, n)
	}
	b = append(append(append(b, "tok_"...), env...), '_')
	b = base58.AppendFixed(b, r[:], uuidBodyLen)
	if last4 != "" {
		b = append(append(b, '_'), last4...)
	}
	return string(b), nil
}

// readRandom fills b from rnd, as io.ReadFull does (an error is the
// Service's "vault: random" error). From crypto/rand's Reader (the
// Service's default) it reads through crypto/rand.Read, which calls what
// the Reader's Read calls for the default Reader and keeps b where it is:
// b handed to an io.Reader is moved to the heap, so any other reader
// fills a copy of b's length (as many bytes as before: a deterministic
// test reader gives the same aliases). crypto/rand.Read never fails on the
// default Reader; on one a program put in its place it stops the program
// instead of returning the error, as every other crypto/rand.Read of the
// gateway does.
func readRandom(rnd io.Reader, b []byte) error {
	if rnd == rand.Reader {
		_, err := rand.Read(b)
		return err
	}
	bb := make([]byte, len(b))
	if _, err := io.ReadFull(rnd, bb); err != nil {
		return fmt.Errorf("vault: random: %w", err)
	}
	copy(b, bb)
	return nil
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

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return s != ""
}

// isSSN reports whether s is 9 digits, or 3-2-4 digits with dashes.
func isSSN(s string) bool {
	switch len(s) {
	case 9:
		return allDigits(s)
	case 11:
		return s[3] == '-' && s[6] == '-' && allDigits(s[:3]) && allDigits(s[4:6]) && allDigits(s[7:])
	}
	return false
}
