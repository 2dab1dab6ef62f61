package pan

import "testing"

// TestCharAtReadsAsFind: CharAt and Classify read a character in every
// spelling Find reads, and a byte that starts none as itself.
func TestCharAtReadsAsFind(t *testing.T) {
	for _, tt := range []struct {
		s    string
		cp   rune
		n    int
		kind uint8
	}{
		{"7", '7', 1, Digit}, {"&#55;", '7', 5, Digit}, {"&#x37", '7', 5, Digit}, {`\u0037`, '7', 6, Digit},
		{"%37", '7', 3, Digit}, {"%u0037", '7', 6, Digit}, {"\uff17", 0xFF17, 3, Digit}, {"%EF%BC%97", 0xFF17, 9, Digit},
		{"&emsp;", 0x2003, 6, Separator}, {"&nbsp", 0xA0, 5, Separator}, {"%20", ' ', 3, Separator},
		{"\u00a0", 0xA0, 2, Separator}, {"&#x200b;", 0x200B, 8, Hidden}, {`\udb40\udc20`, 0xE0020, 12, Hidden},
		{"&#99;", 'c', 5, Breaker}, {`\u003a`, ':', 6, Breaker}, {"%C3", -1, 3, Breaker},
		{"%", '%', 1, Breaker}, {"&amp;", '&', 1, Breaker}, {`\x`, '\\', 1, Breaker}, {"\xff", 0xFFFD, 1, Breaker},
	} {
		cp, n := CharAt(tt.s, 0)
		kind, _ := Classify(cp)
		if cp != tt.cp || n != tt.n || kind != tt.kind {
			t.Errorf("%q: %U %d kind %d, want %U %d kind %d", tt.s, cp, n, kind, tt.cp, tt.n, tt.kind)
		}
	}
}
