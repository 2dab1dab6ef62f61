package pan

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"5555555555554444", true},
		{"378282246310005", true},
		{"6011111111111117", true},
		{"0", true},
		{"", false},
		{"4111 1111 1111 1111", false},
		{"41111111111111a1", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckDigitMakesValidNumbers(t *testing.T) {
	for _, p := range []string{"411111111111111", "555555555555444", "37828224631000", "7", ""} {
		n := p + string(CheckDigit([]byte(p)))
		if !Valid(n) {
			t.Errorf("%q + check digit = %q is not Luhn-valid", p, n)
		}
	}
}

func TestFindReportsOnlyLuhnValidRunsOfCardLength(t *testing.T) {
	body := `{"pan":"4111111111111111","n":"4111111111111112","long":"41111111111111111111111","short":"411111111111","amex":378282246310005}`
	got := Find([]byte(body))
	var runs []string
	for _, c := range got {
		runs = append(runs, body[c.Start:c.End])
	}
	want := "4111111111111111,378282246310005"
	if strings.Join(runs, ",") != want {
		t.Fatalf("Find = %v, want %s", runs, want)
	}
	if !Contains([]byte(body)) || Contains([]byte(`{"n":"4111111111111112"}`)) {
		t.Fatal("Contains disagrees with Find")
	}
}

func TestMaskKeepsFirstSixLastFour(t *testing.T) {
	got := Mask("card 4111111111111111 and 5555555555554444.")
	want := "card 411111******1111 and 555555******4444."
	if got != want {
		t.Fatalf("Mask = %q, want %q", got, want)
	}
	if Mask("no card 1234") != "no card 1234" {
		t.Fatal("Mask changed text without a card number")
	}
}

func FuzzFind(f *testing.F) {
	f.Add([]byte("4111111111111111"))
	f.Add([]byte("x 378282246310005 y 12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range Find(b) {
			if c.End-c.Start < MinLen || c.End-c.Start > MaxLen || !Valid(string(b[c.Start:c.End])) {
				t.Fatalf("bad candidate %v", c)
			}
			if c.Start > 0 && isDigit(b[c.Start-1]) || c.End < len(b) && isDigit(b[c.End]) {
				t.Fatalf("candidate %v is not a maximal run", c)
			}
		}
		if m := Mask(string(b)); Contains([]byte(m)) {
			t.Fatalf("Mask left a card-like run in %q", m)
		}
	})
}
