package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/base58"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// formatProps is what each format promises, checked on many random aliases.
var formatProps = []struct {
	format    Format
	values    []string // values the format accepts
	pattern   *regexp.Regexp
	luhn      bool // the alias is Luhn-valid
	nonLuhn   bool // the alias never passes the Luhn check
	keepFirst int  // characters kept from the front
	keepLast  int  // characters kept from the back
	sameLen   bool
	classes   bool // each character is of the class (digit, upper, lower, other) of the value's
}{
	{format: FormatUUID, values: []string{"4111111111111111", "x", "any text ✓"}, pattern: regexp.MustCompile(`^tok_test_[1-9A-HJ-NP-Za-km-z]{22}$`)},
	{format: FormatRawUUID, values: []string{"4111111111111111", "123"}, pattern: regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)},
	{format: FormatFPESixTFour, values: []string{"4111111111111111", "378282246310005", "6011000990139424", "4000056655665556", "4111111111113", "4111111111111111110"}, pattern: regexp.MustCompile(`^[0-9]+$`), luhn: true, keepFirst: 6, keepLast: 4, sameLen: true},
	{format: FormatFPETFour, values: []string{"4111111111111111", "378282246310005", "5555555555554444", "000000000000"}, pattern: regexp.MustCompile(`^[1-9][0-9]+$`), luhn: true, keepLast: 4, sameLen: true},
	{format: FormatPFPT, values: []string{"4111111111111111", "378282246310005", "411111111111"}, pattern: regexp.MustCompile(`^991[0-9]{16}$`), luhn: true, keepLast: 4},
	{format: FormatNumLengthPreserving, values: []string{"5551234567", "1234", "0000", strings.Repeat("9", 64)}, pattern: regexp.MustCompile(`^[1-9][0-9]*$`), sameLen: true},
	{format: FormatGenericTFour, values: []string{"4111111111111111", "abc1234", "ab1234"}, pattern: regexp.MustCompile(`^tok_test_[1-9A-HJ-NP-Za-km-z]{22}_[0-9]{4}$`), keepLast: 4},
	{format: FormatFPEAccNumTFour, values: []string{"122105155", "000123", "4111111111111111", strings.Repeat("7", 64)}, pattern: regexp.MustCompile(`^[1-9][0-9]{5,63}$`), keepLast: 4, sameLen: true},
	{format: FormatFPEAlnumAccNumTFour, values: []string{"GB29NWBK60161331926819", "ab12cd", "122105155", strings.Repeat("Z", 64)}, pattern: regexp.MustCompile(`^[0-9A-Za-z]{6,64}$`), keepLast: 4, sameLen: true},
	{format: FormatFPESSNTFour, values: []string{"078-05-1120", "078051120", "999-99-9999", "000000000"}, pattern: regexp.MustCompile(`^(00[1-9]|0[1-9][0-9]|[1-578][0-9]{2}|6([0-57-9][0-9]|6[0-57-9]))-?(0[1-9]|[1-9][0-9])-?[0-9]{4}$`), keepLast: 4, sameLen: true, classes: true},
	{format: FormatNonLuhnFPEAlnum, values: []string{"5454545454545454", "4111111111111111", "378282246310005", "000000000000", "ABCD1234efgh5678", "4111111111111111111"}, pattern: regexp.MustCompile(`^[1-9A-Za-z][0-9A-Za-z]{11,18}$`), nonLuhn: true, sameLen: true, classes: true},
	{format: FormatAlnumSixTFour, values: []string{"4111111111111111", "4111111111111", "4111111111111111111"}, pattern: regexp.MustCompile(`^[0-9]{6}[0-9A-Za-z]*[A-Za-z][0-9A-Za-z]*[0-9]{4}$`), nonLuhn: true, keepFirst: 6, keepLast: 4},
	{format: FormatVGSFixedLenGeneric, values: []string{"12312345", "x", "any text ✓", strings.Repeat("v", 4096)}, pattern: regexp.MustCompile(`^vgs[1-9A-HJ-NP-Za-km-z]{26}$`)},
}

// class is the character class checked by formatProps.classes.
func class(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'A' && c <= 'Z':
		return 1
	case c >= 'a' && c <= 'z':
		return 2
	}
	return 3
}

func TestFormatsKeepTheirPromises(t *testing.T) {
	for _, fp := range formatProps {
		t.Run(string(fp.format), func(t *testing.T) {
			for _, v := range fp.values {
				seen := map[string]bool{}
				for range 300 {
					a, err := fp.format.generate(v, "test", rand.Reader)
					if err != nil {
						t.Fatalf("generate(%d-char value): %v", len(v), err)
					}
					if a == v {
						t.Fatal("alias equals the value")
					}
					if !fp.pattern.MatchString(a) {
						t.Fatalf("alias %q does not match %s", a, fp.pattern)
					}
					if fp.luhn && !pan.Valid(a) {
						t.Fatalf("alias %q is not Luhn-valid", a)
					}
					if fp.nonLuhn && pan.Valid(a) {
						t.Fatalf("alias %q passes the Luhn check", a)
					}
					if fp.classes {
						for i := 0; i < len(a); i++ {
							if class(a[i]) != class(v[i]) {
								t.Fatalf("alias %q does not keep the character classes of the value", a)
							}
						}
					}
					if fp.sameLen && len(a) != len(v) {
						t.Fatalf("alias length %d, value length %d", len(a), len(v))
					}
					if fp.keepFirst > 0 && a[:fp.keepFirst] != v[:fp.keepFirst] {
						t.Fatalf("alias %q does not keep the first %d digits", a, fp.keepFirst)
					}
					if fp.keepLast > 0 && a[len(a)-fp.keepLast:] != v[len(v)-fp.keepLast:] {
						t.Fatalf("alias %q does not keep the last %d digits", a, fp.keepLast)
					}
					if fp.format.Numeric() && !regexp.MustCompile(`^[0-9]+$`).MatchString(a) {
						t.Fatalf("Numeric() format gave alias %q", a)
					}
					seen[a] = true
				}
				// Randomness: 300 draws from a space of at least 10^2 give
				// many distinct aliases.
				if len(seen) < 50 {
					t.Fatalf("only %d distinct aliases in 300 draws", len(seen))
				}
			}
		})
	}
}

func TestFormatPropertiesCoverEveryFormat(t *testing.T) {
	covered := map[Format]bool{}
	for _, fp := range formatProps {
		covered[fp.format] = true
	}
	for _, f := range Formats() {
		if !covered[f] {
			t.Errorf("format %s has no property test", f)
		}
	}
}

func TestFormatCheckRefusesValuesThatDoNotFit(t *testing.T) {
	tests := []struct {
		format Format
		value  string
	}{
		{FormatFPESixTFour, "411111111111"},         // 12 digits: too few free digits
		{FormatFPESixTFour, "41111111111111111111"}, // 20 digits
		{FormatFPESixTFour, "4111-1111-1111-1111"},
		{FormatFPETFour, "abcdefghijklmnop"},
		{FormatPFPT, "1234"},
		{FormatNumLengthPreserving, "123"},
		{FormatNumLengthPreserving, "12a4"},
		{FormatNumLengthPreserving, strings.Repeat("1", 65)},
		{FormatGenericTFour, "abc"},
		{FormatGenericTFour, "1234abcd"},
		{FormatGenericTFour, "1234"},  // the alias would hold the whole value
		{FormatGenericTFour, "x1234"}, // or all of it but one character
		{FormatFPEAccNumTFour, "12345"},
		{FormatFPEAccNumTFour, "12345a"},
		{FormatFPEAccNumTFour, strings.Repeat("1", 65)},
		{FormatFPEAlnumAccNumTFour, "ab12c"},
		{FormatFPEAlnumAccNumTFour, "GB29 NWBK 6016"},
		{FormatFPEAlnumAccNumTFour, strings.Repeat("a", 65)},
		{FormatFPESSNTFour, "07805112"},
		{FormatFPESSNTFour, "078-051-120"},
		{FormatFPESSNTFour, "078 05 1120"},
		{FormatFPESSNTFour, "07805112a"},
		{FormatNonLuhnFPEAlnum, "41111111111"},
		{FormatNonLuhnFPEAlnum, "4111-1111-1111-1111"},
		{FormatNonLuhnFPEAlnum, "41111111111111111111"},
		{FormatAlnumSixTFour, "41111111111"},
		{FormatAlnumSixTFour, "411111111111"}, // 12 digits: too few free digits, as FPE_SIX_T_FOUR
		{FormatAlnumSixTFour, "4111a11111111111"},
	}
	for _, tt := range tests {
		err := tt.format.Check(tt.value)
		if !errors.Is(err, ErrFormatNotApplicable) {
			t.Errorf("%s.Check(%d chars) = %v, want ErrFormatNotApplicable", tt.format, len(tt.value), err)
			continue
		}
		if strings.Contains(err.Error(), tt.value) {
			t.Errorf("error %q quotes the value", err)
		}
		if _, err := tt.format.generate(tt.value, "test", rand.Reader); err == nil {
			t.Errorf("%s.generate accepted a value Check refuses", tt.format)
		}
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"", FormatUUID, false},
		{"UUID", FormatUUID, false},
		{"fpe_six_t_four", FormatFPESixTFour, false},
		{"PFPT", FormatPFPT, false},
		{"ALIAS", "", true},
		{"fpe_ssn_t_four", FormatFPESSNTFour, false},
		{"VGS_FIXED_LEN_GENERIC", FormatVGSFixedLenGeneric, false},
		{"CUSTOM", "", true},
		{"js", "", true},
		{"Num_Length_Preserving", FormatNumLengthPreserving, false},
		// Only ASCII letters change case (as in ParseStorage): the
		// spellings strings.ToUpper mapped to a name (dotless i, long s
		// with EqualFold) are refused.
		{"FPE_SıX_T_FOUR", "", true},
		{"NUM_LENGTH_PRESERVıNG", "", true},
		{"fpe_ſix_t_four", "", true},
		{"uuıd", "", true},
		{"UUID ", "", true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v", tt.in, got, err)
		}
		if tt.wantErr && !errors.Is(err, ErrInvalidFormat) {
			t.Errorf("ParseFormat(%q) error %v is not ErrInvalidFormat", tt.in, err)
		}
		if supported := !errors.Is(err, ErrFormatUnsupported); supported != (tt.in != "CUSTOM" && tt.in != "js") {
			t.Errorf("ParseFormat(%q) error %v: ErrFormatUnsupported is %v", tt.in, err, !supported)
		}
	}
}

func TestUUIDAliasBodyIs128Bits(t *testing.T) {
	a, err := FormatUUID.generate("v", "live", bytes.NewReader(bytes.Repeat([]byte{0xff}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(a, "tok_live_")
	b, err := base58.Decode(body)
	if err != nil || len(bytes.TrimLeft(b, "\x00")) != 16 {
		t.Fatalf("body %q decodes to %x, %v", body, b, err)
	}
	// All-zero randomness still gives a full-width body.
	a, _ = FormatUUID.generate("v", "live", bytes.NewReader(make([]byte, 16)))
	if a != "tok_live_"+strings.Repeat("1", 22) {
		t.Fatalf("zero body = %q", a)
	}
}

func TestRandomDigitsAreUniform(t *testing.T) {
	d, err := randomDigits(rand.Reader, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var counts [10]int
	for _, c := range d {
		counts[c-'0']++
	}
	for i, n := range counts {
		// expected 10000 each; 5 sigma ≈ 475
		if n < 9500 || n > 10500 {
			t.Fatalf("digit %d drawn %d times of 100000", i, n)
		}
	}
}

func FuzzGenerate(f *testing.F) {
	f.Add("4111111111111111", 2)
	f.Add("1234", 5)
	f.Add("", 0)
	f.Add("078-05-1120", 9)
	f.Add("5454545454545454", 10)
	f.Add("GB29NWBK60161331926819", 8)
	f.Fuzz(func(t *testing.T, value string, fi int) {
		if fi < 0 {
			fi = -fi
		}
		format := formats[fi%len(formats)]
		a, err := format.generate(value, "fz", rand.Reader)
		if err != nil {
			if format.Check(value) == nil {
				t.Fatalf("generate failed on a value Check accepts: %v", err)
			}
			return
		}
		if a == value {
			t.Fatal("alias equals value")
		}
		keepsLeadingZero := format == FormatFPESixTFour && value[0] == '0'
		if format.Numeric() && (len(a) == 0 || a[0] == '0' && !keepsLeadingZero) {
			t.Fatalf("numeric alias %q has a leading zero", a)
		}
		if (format == FormatNonLuhnFPEAlnum || format == FormatAlnumSixTFour) && pan.Valid(a) {
			t.Fatalf("%s alias %q passes the Luhn check", format, a)
		}
	})
}
