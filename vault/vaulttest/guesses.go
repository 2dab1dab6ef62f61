package vaulttest

import (
	"fmt"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Guesses returns n Luhn-valid 16-digit numbers with the given first 6 and
// last 4 digits, middle digits counting up: the candidates an attacker
// tries against an FPE_SIX_T_FOUR alias, for the abuse-limit tests.
func Guesses(first6, last4 string, n int) []string {
	var out []string
	for mid := 0; len(out) < n; mid++ {
		body := fmt.Sprintf("%s%06d%s", first6, mid, last4[:3])
		if pan.CheckDigit([]byte(body)) == last4[3] {
			out = append(out, body+last4[3:])
		}
	}
	return out
}
