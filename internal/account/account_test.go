package account

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"acct_1", true},
		{"A.b-c_9", true},
		{strings.Repeat("a", MaxLen), true},
		{"", false},
		{strings.Repeat("a", MaxLen+1), false},
		{"acct 1", false},
		{"acct/1", false},
		{"acct\x00", false},
		{"é", false},
		{"4111111111111111", false},
		{"acct-4111-1111-1111-1111", false},
		{"acct_4111_1111_1111_1111", false},
	}
	for _, tt := range tests {
		err := Check(tt.name)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("Check(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("acct_1")
	f.Add("4111111111111111")
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) != nil {
			return
		}
		if s == "" || len(s) > MaxLen || strings.ContainsAny(s, " /\x00") {
			t.Fatalf("Check accepted %q", s)
		}
	})
}
