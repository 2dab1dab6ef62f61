package pan

import (
	"strings"
	"testing"
)

// TestMaskAllLeavesNoNumberOfAnySpelling: text that spells a card number
// in exponent notation or as a fraction a parser rounds to one (which the
// leak guard treats as card data) is masked by MaskAll, whatever the
// escapes, and text without one is returned as it is. Mask alone leaves
// these numbers, which is what put them in clear in logs and in the
// inspector's captures.
func TestMaskAllLeavesNoNumberOfAnySpelling(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"pan":4111111111111111000e-3}`, `{"pan":411111*************e-3}`},
		{`/pay/41111111111111110000000E-7/x`, `/pay/411111*****************E-7/x`},
		{`4.111111111111111e15`, `4.11111**********e15`},
		{`{"n":4111111111111110.9}`, `{"n":411111**********.*}`},
		{`n=4111111111111111000%65-3`, `n=411111*************%65-3`},
		{`n=%34111111111111111000e-3`, `n=%3411111*************e-3`},
		{`"4111111111111111000\u0045\u002d3"`, `"411111*************\u0045\u002d3"`},
		{`4111111111111111000&#101;-3 and 4111111111111111`, `411111*************&#101;-3 and 411111******1111`},
		{`amount=12.5&t=20261206.25&e=1e3`, `amount=12.5&t=20261206.25&e=1e3`},
		// A mantissa of 6 digits or fewer: keeping the first 6 kept it
		// whole, 4111160000000000 in clear while ContainsAll read it.
		{`{"n":411116e10}`, `{"n":41111*e10}`},
		{`/pay/4.11116E+15`, `/pay/4.1111*E+15`},
		{`n=%34%31%31%31%31%36e10`, `n=%34%31%31%31%31***e10`},
		{`57E11`, `5*E11`},
	}
	for _, tt := range tests {
		if Mask(tt.in) != tt.in && strings.Contains(tt.in, "e-3") {
			t.Errorf("Mask(%q) changed it: the case tests nothing", tt.in)
		}
		got := MaskAll(tt.in)
		if got != tt.want {
			t.Errorf("MaskAll(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len(got) != len(tt.in) {
			t.Errorf("MaskAll(%q) changed the length", tt.in)
		}
		if FindExponentString(got) != nil || ContainsString(got) || ContainsAllString(got) {
			t.Errorf("MaskAll(%q) = %q still spells a card number", tt.in, got)
		}
		if ContainsAllString(tt.in) != (got != tt.in) {
			t.Errorf("ContainsAll(%q) = %v, but MaskAll changed it: %v", tt.in, ContainsAllString(tt.in), got != tt.in)
		}
	}
}

// TestMaskAllCoversFindExponent: every input of TestFindExponent's table
// that FindExponent reads a card number in holds none after MaskAll.
func TestMaskAllCoversFindExponent(t *testing.T) {
	zeros := strings.Repeat("0", 990)
	for _, in := range []string{
		`41111111111111110000000E-7`, `.4111111111111111e16`, `411111111111111.1e1`,
		`4111111111111111` + zeros + `e-990`, `4111111111111111e0,5555555555554444e0`,
		`4111111111111111001e-3`, `4111111111111111000e-0003`, `4111111111111111` + zeros + `0000000000e-1000`,
		`4111111111111111000e-3 %41`, `4111111111111110999e-3`, `{"n":5555555555554443.5}`,
		`(4111111111111111000e-3y`, `12 4111111111111111000e-3`, `1234 5678 411111111111111100e-2`,
		`n=%204111111111111111000e-3`, `"\t4111111111111110.9"`, `n=%C2%A0%2d4111111111111111000e-3`, "\u00a04111111111111111000e-3",
	} {
		if FindExponentString(in) == nil {
			t.Fatalf("%.40q: FindExponent finds nothing", in)
		}
		got := MaskAll(in)
		if FindExponentString(got) != nil || ContainsString(got) {
			t.Errorf("MaskAll(%.60q) = %.60q still spells a card number", in, got)
		}
	}
}
