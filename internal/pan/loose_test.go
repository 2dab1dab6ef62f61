package pan

import (
	"fmt"
	"testing"
)

// TestMaskLooseReadsUnderscoresAndColonsAsSeparators: MaskAll reads '_'
// and ':' as breakers, so 4111_1111_1111_1111 (a YAML number) and
// acct:4111:1111:1111:1111 were not masked; MaskLoose masks them, and
// what MaskAll masks, keeping the length and every other byte.
func TestMaskLooseReadsUnderscoresAndColonsAsSeparators(t *testing.T) {
	for in, want := range map[string]string{
		"4111_1111_1111_1111":        "4111_11**_****_1111",
		"acct:4111:1111:1111:1111 x": "acct:4111:11**:****:1111 x",
		"id_4111-1111_1111.1111":     "id_4111-11**_****.1111",
		"4111111111111111000e-3":     "411111*************e-3",
		"4111 1111 1111 1111 a_b":    "4111 11** **** 1111 a_b",
		"12:34:56 route_2024_01_15":  "12:34:56 route_2024_01_15",
		"4111__1111_1111_1111":       "4111__1111_1111_1111", // two separators end a chain, as in Find
		"shop-1_eu:west":             "shop-1_eu:west",
	} {
		if got := MaskLoose(in); got != want {
			t.Errorf("MaskLoose(%q) = %q, want %q", in, got, want)
		}
		if got := ContainsLooseString(in); got != (want != in) {
			t.Errorf("ContainsLooseString(%q) = %v", in, got)
		}
	}
}

// TestContainsShownString: the rule of stored shown text is the names'
// (ContainsLooseString) and shown text's (MaskShown) together.
func TestContainsShownString(t *testing.T) {
	for s, want := range map[string]bool{
		"4111111111111111":         true,
		"acct:4111:1111:1111:1111": true,
		"4111/1111/1111/1111":      true,
		"٤١١١١١١١١١١١١١١١":         true,
		"4111 ١١١١ 1111 1111":      true,
		"C-42 order 2026-11":       false,
		"Jane Doe, 12 Main St":     false,
		"4111111111111112":         false,
	} {
		if got := ContainsShownString(s); got != want {
			t.Errorf("ContainsShownString(%q) = %v, want %v", MaskShown(s), got, want)
		}
	}
}

// TestContainsShownValueReadsTimesOfDay: a stored value's date and time
// is not a card number, while every other spelling ContainsShownString
// refuses is refused, a colon beside it or not.
func TestContainsShownValueReadsTimesOfDay(t *testing.T) {
	refused := 0
	for day := 1; day <= 28; day++ {
		for minute := 0; minute < 60; minute += 7 {
			for _, layout := range []string{"2026-12-%02d %02d:%02d:45", "%02d/12/2026 %02d:%02d:45", "2026-12-%02d %02d:%02d:45.123"} {
				s := fmt.Sprintf(layout, day, minute%24, minute)
				if ContainsShownString(s) {
					refused++ // read whole, the digits run on through the colons
				}
				if ContainsShownValue(s) {
					t.Errorf("ContainsShownValue(%q) = true: a date and a time", s)
				}
			}
		}
	}
	if refused == 0 {
		t.Fatal("no timestamp is a card number to ContainsShownString: the case this rule exists for is gone")
	}
	for _, s := range []string{"4111111111111111", "at 10:15: 4111 1111 1111 1111", "4111/1111/1111/1111:x", "x:٤١١١١١١١١١١١١١١١", "4111_1111_1111_1111"} {
		if !ContainsShownValue(s) {
			t.Errorf("ContainsShownValue(%q) = false", MaskShown(s))
		}
	}
	if ContainsShownValue("4111:1111:1111:1111") {
		t.Error("a number grouped by colons alone is read whole")
	}
}
