// Package account holds the rule for account names (issue 18), shared by
// the vault, auth (clients' accounts), config (default_account) and routes
// (a route's account keys), which must not import each other.
package account

import (
	"errors"
	"fmt"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// MaxLen is the longest account name.
const MaxLen = 128

// ErrInvalid: an account name outside the rule of Check.
var ErrInvalid = errors.New("invalid account name")

// Check reports whether name is a valid account name: 1–128 characters of
// A–Z a–z 0–9 _ . -, not holding a card-like number, its digits grouped by _ too
// (pan.ContainsLooseString; an account is named in
// logs and audit lines).
func Check(name string) error {
	if name == "" || len(name) > MaxLen {
		return fmt.Errorf("%w: want 1 to %d characters", ErrInvalid, MaxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: only A-Z a-z 0-9 _ . - are allowed", ErrInvalid)
		}
	}
	if pan.ContainsLooseString(name) { // 4111_1111_1111_1111 too
		return fmt.Errorf("%w: it must not hold a card number", ErrInvalid)
	}
	return nil
}
