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
	keepFirst int  // digits kept from the front
	keepLast  int  // digits kept from the back
	sameLen   bool
}{
	{FormatUUID, []string{"4111111111111111", "x", "any text ✓"}, regexp.MustCompile(`^tok_test_[1-9A-HJ-NP-Za-km-z]{22}$`), false, 0, 0, false},
	{FormatRawUUID, []string{"4111111111111111", "123"}, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), false, 0, 0, false},
	{FormatFPESixTFour, []string{"4111111111111111", "378282246310005", "6011000990139424", "4000056655665556", "4111111111113", "4111111111111111110"}, regexp.MustCompile(`^[0-9]+$`), true, 6, 4, true},
	{FormatFPETFour, []string{"4111111111111111", "378282246310005", "5555555555554444", "000000000000"}, regexp.MustCompile(`^[1-9][0-9]+$`), true, 0, 4, true},
	{FormatPFPT, []string{"4111111111111111", "378282246310005", "411111111111"}, regexp.MustCompile(`^991[0-9]{16}$`), true, 0, 4, false},
	{FormatNumLengthPreserving, []string{"5551234567", "1234", "0000", strings.Repeat("9", 64)}, regexp.MustCompile(`^[1-9][0-9]*$`), false, 0, 0, true},
	{FormatGenericTFour, []string{"4111111111111111", "abc1234", "1234"}, regexp.MustCompile(`^tok_test_[1-9A-HJ-NP-Za-km-z]{22}[0-9]{4}$`), false, 0, 4, false},
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
					if fp.sameLen && len(a) != len(v) {
						t.Fatalf("alias length %d, value length %d", len(a), len(v))
					}
					if fp.keepFirst > 0 && a[:fp.keepFirst] != v[:fp.keepFirst] {
						t.Fatalf("alias %q does not keep the first %d digits", a, fp.keepFirst)
					}
					if fp.keepLast > 0 && a[len(a)-fp.keepLast:] != v[len(v)-fp.keepLast:] {
						t.Fatalf("alias %q does not keep the last %d digits", a, fp.keepLast)
					}
					if fp.format.Numeric() != regexp.MustCompile(`^[0-9]+$`).MatchString(a) {
						t.Fatalf("Numeric() = %v for alias %q", fp.format.Numeric(), a)
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
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v", tt.in, got, err)
		}
		if tt.wantErr && !errors.Is(err, ErrInvalidFormat) {
			t.Errorf("ParseFormat(%q) error %v is not ErrInvalidFormat", tt.in, err)
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
	})
}
