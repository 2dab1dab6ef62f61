package pan

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestMaskReadableMasksWhatAReaderSees: groups apart by any run of
// characters that are neither letters nor digits are masked as Mask masks
// a number in groups, keeping the length; text without such a number is
// returned as it is.
func TestMaskReadableMasksWhatAReaderSees(t *testing.T) {
	p := "4539578763621486"
	for _, sep := range []string{" \t", "  ", "\r\n\r\n", "-\t", "?", "\uFFFD", "\u200b", " / "} {
		in := "card " + p[:4] + sep + p[4:8] + sep + p[8:12] + sep + p[12:] + " end"
		got := MaskReadable(in)
		want := strings.NewReplacer(p[6:8], "**", p[8:12], "****").Replace(in)
		if got != want || len(got) != len(in) {
			t.Errorf("MaskReadable(%q) = %q, want %q", in, got, want)
		}
	}
	for _, s := range []string{"", "ok at 2026-12-06T15:40:28Z id=123456", `{"ids":[1,2,3]}`, "4539 5787 6362 1487"} {
		if got := MaskReadable(s); got != s {
			t.Errorf("MaskReadable(%q) = %q, want it unchanged", s, got)
		}
	}
}

// TestMaskShownReadsAsPanAndAsAReader: MaskShown masks what MaskAll masks
// (escapes, exponent notation) and what MaskReadable masks (groups apart
// by '_', '/', a tab), keeping the length; text with fewer than 13 ASCII
// digits is returned as it is, without a copy.
func TestMaskShownReadsAsPanAndAsAReader(t *testing.T) {
	for in, want := range map[string]string{
		"/a/4111_1111_1111_1111":          "/a/4111_11**_****_1111",
		"/cards/4111/1111/1111/1111":      "/cards/4111/11**/****/1111",
		"4111\t1111\t1111\t1111":          "4111\t11**\t****\t1111",
		"4111 1111 1111 1111":             "4111 11** **** 1111",
		"/n/4111111111111111000e-3":       "/n/411111*************e-3",
		"/a/2026/12/06/x":                 "/a/2026/12/06/x",
		"GET":                             "GET",
		"4111-1111-1111-1111.example:443": "4111-11**-****-1111.example:443",
	} {
		if got := MaskShown(in); got != want || len(got) != len(in) {
			t.Errorf("MaskShown(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { MaskShown("/cards/CRD9QkRhpY43HGyVCrG85v9Sz/network-tokens") }); n != 0 {
		t.Errorf("MaskShown of a path without a card number allocates %v times", n)
	}
}

// TestMaskReadableReadsAsAReaderDecodes: a reader sees a number whose
// groups are apart by an escape encoded again (`%252F`, `%2520`), an
// escape of a separator left in text (`%2F`, `&#x2F;`), a named
// character reference (`&amp;`), or whose digits are another script's
// (Arabic-Indic, Devanagari, mathematical bold) or escaped again (`%2534`);
// each is masked, every byte of a masked digit's spelling '*', the
// length kept. Escapes of letters stay letters: a word is no separator.
func TestMaskReadableReadsAsAReaderDecodes(t *testing.T) {
	const p = "4539578763621486"
	ascii := func(d byte) string { return string(d) }
	script := func(zero rune) func(byte) string {
		return func(d byte) string { return string(zero + rune(d-'0')) }
	}
	for _, c := range []struct {
		name, sep string
		digit     func(byte) string
	}{
		{"double-encoded slash", "%252F", ascii},
		{"triple-encoded space", "%252520", ascii},
		{"escaped slash left as it is", "%2F", ascii},
		{"character reference of a slash", "&#x2F;", ascii},
		{"named reference", "&amp;", ascii},
		{"Arabic-Indic digits", " ", script(0x660)},
		{"Devanagari digits", "/", script(0x966)},
		{"mathematical bold digits", " ", script(0x1D7CE)},
		{"digits encoded again", "/", func(d byte) string { return "%253" + string(d) }},
	} {
		var in, want strings.Builder
		in.WriteString("/x/")
		want.WriteString("/x/")
		for i := 0; i < len(p); i++ {
			if i > 0 && i%4 == 0 {
				in.WriteString(c.sep)
				want.WriteString(c.sep)
			}
			d := c.digit(p[i])
			in.WriteString(d)
			if i >= 6 && i < 12 {
				want.WriteString(strings.Repeat("*", len(d)))
			} else {
				want.WriteString(d)
			}
		}
		in.WriteString("/y")
		want.WriteString("/y")
		if got := MaskShown(in.String()); got != want.String() {
			t.Errorf("%s: MaskShown(%q) = %q, want %q", c.name, in.String(), got, want.String())
		}
	}
	// Read with its escapes as they are too, as Find reads text around an
	// escape: 378282246310005 to a reader who does not decode "%37".
	if in, want := "/x/%37828_2246_310005/y", "/x/%37828_2***_**0005/y"; MaskShown(in) != want {
		t.Errorf("MaskShown(%q) = %q, want %q", in, MaskShown(in), want)
	}
	for _, s := range []string{"4539%41578763621486", "&copy;2026&nbsp;12"} {
		if got := MaskShown(s); got != s {
			t.Errorf("MaskShown(%q) = %q, want it unchanged", s, got)
		}
	}
}

// TestDecimalDigitReadsEveryScriptsDigits: decimalDigit reads exactly
// Unicode's decimal digits (unicode.IsDigit) past ASCII, each with its
// value: its run starts at a zero, and each digit but a zero follows the
// digit one less.
func TestDecimalDigitReadsEveryScriptsDigits(t *testing.T) {
	for cp := rune(utf8.RuneSelf); cp <= unicode.MaxRune; cp++ {
		d, ok := decimalDigit(cp)
		if ok != unicode.IsDigit(cp) {
			t.Fatalf("decimalDigit(%U) reads a digit: %v, unicode.IsDigit: %v", cp, ok, !ok)
		}
		if !ok {
			continue
		}
		if z, isDigit := decimalDigit(cp - rune(d)); !isDigit || z != 0 {
			t.Fatalf("decimalDigit(%U) = %d, but %U is no zero", cp, d, cp-rune(d))
		}
		if p, _ := decimalDigit(cp - 1); d > 0 && p != d-1 {
			t.Fatalf("decimalDigit(%U) = %d after %d", cp, d, p)
		}
	}
}
