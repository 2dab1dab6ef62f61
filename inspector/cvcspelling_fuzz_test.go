package inspector

import "testing"

// FuzzMaskCVCInText: the free-text CVC rule keeps the text's length and
// changes bytes only to '*'; a CVC found in either reading (as written,
// decoded as pan reads escapes) is not found at the same place in the
// output, whatever the escapes, cut short or not.
func FuzzMaskCVCInText(f *testing.F) {
	for _, s := range []string{
		"CVV: 737", "CVV:&emsp;737", "CVV: &#55;&#51;&#55;", `cvc\u003a 737`, "CVV: %u0037%u0033%u0037",
		"CVV: \uff17\uff13\uff17", "c%u0076c: 737", "\uff23\uff36\uff36\uff1a737", "security&nbsp;code 4021",
		"CVV: 7&#x200b;37", `cvv: 73\udb40\udc207`, "CVV: %EF%BC%97%EF%BC%93%EF%BC%97", "cvc %u00", "cvv &#",
		"CVV&nbsp737", `cvc: \ud83d 737 \udc00`, "Price: 737.00", "CVV: required", "cvc: 12345", "\xef\xbc cvc 7\xff37",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := maskCVCInText(in)
		if len(out) != len(in) {
			t.Fatalf("length %d, want %d: %q", len(out), len(in), out)
		}
		for i := 0; i < len(in); i++ {
			if out[i] != in[i] && out[i] != '*' {
				t.Fatalf("byte %d changed from %q to %q: %q", i, in[i], out[i], out)
			}
		}
		for _, decode := range []bool{false, true} {
			view, at := reading(in, decode)
			for _, m := range cvcInText.FindAllStringSubmatchIndex(view, -1) {
				for i := m[4]; i < m[5]; i++ {
					k := i
					if at != nil {
						k = at[i]
					}
					if out[k] != '*' {
						t.Fatalf("CVC digit at %d of %q (decoded %v) shown: %q", k, in, decode, out)
					}
				}
			}
		}
	})
}
