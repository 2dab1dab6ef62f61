package vault

import (
	"context"
	"errors"
	"fmt"
)

// Accounts. Every record has an owner account and every Service call acts
// for one account (the Actor's Account in its context, WithAccount; the
// Service's default account when the context names none). A call reaches
// only the records its account owns: a record of another account is
// answered exactly as an alias that does not exist. Values are indexed per
// account, so the same value in two accounts has unrelated aliases.
//
// The vault's default account is stored in the vault (DefaultAccountMeta)
// the first time a gateway of this version opens it, and its records are
// stored without an owner (Record.Owner ""), as every record written before
// accounts existed is: those records are the default account's with no
// rewrite, and its index keys keep their earlier form.

// DefaultAccountName is the default account of a vault created with no
// default_account configured and no client to take it from.
const DefaultAccountName = "default"

// DefaultAccountMeta is the meta key (Store.GetMeta) of the vault's default
// account.
const DefaultAccountMeta = "default_account"

// MaxAccountLen is the longest account name.
const MaxAccountLen = 128

// CheckAccount reports whether name is a valid account name: 1–128
// characters of A–Z a–z 0–9 _ . - (the names auth accepts for a client).
func CheckAccount(name string) error {
	if name == "" || len(name) > MaxAccountLen {
		return fmt.Errorf("%w: want 1 to %d characters", ErrInvalidAccount, MaxAccountLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: only A-Z a-z 0-9 _ . - are allowed", ErrInvalidAccount)
		}
	}
	return nil
}

// ErrDefaultAccountMismatch: the configured default account is not the one
// the vault was migrated or created with.
var ErrDefaultAccountMismatch = errors.New("vault: default_account differs from the vault's default account")

// MetaStore is the part of a Store that ResolveDefaultAccount uses.
type MetaStore interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error)
}

// ResolveDefaultAccount returns the vault's default account, storing it the
// first time: configured when set (default_account); else the one account
// every existing client acts for, when they all share one (so that the
// records they made before accounts existed stay theirs); else
// DefaultAccountName. clientAccounts lists the accounts of the existing
// clients (one entry per client); it is called only the first time. Once
// stored, a configured name that differs is refused
// (ErrDefaultAccountMismatch): the records stored without an owner belong
// to the stored account, and renaming it would hand them to another.
func ResolveDefaultAccount(ctx context.Context, st MetaStore, configured string, clientAccounts func(context.Context) ([]string, error)) (string, error) {
	if configured != "" {
		if err := CheckAccount(configured); err != nil {
			return "", fmt.Errorf("vault: default_account: %w", err)
		}
	}
	b, err := st.GetMeta(ctx, DefaultAccountMeta)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		name := configured
		if name == "" {
			name = DefaultAccountName
			accts, err := clientAccounts(ctx)
			if err != nil {
				return "", fmt.Errorf("vault: default account: list the clients' accounts: %w", err)
			}
			if len(accts) > 0 && allSame(accts) {
				name = accts[0]
			}
		}
		if b, err = st.PutMetaIfAbsent(ctx, DefaultAccountMeta, []byte(name)); err != nil {
			return "", fmt.Errorf("vault: store the default account: %w", err)
		}
	default:
		return "", fmt.Errorf("vault: read the default account: %w", err)
	}
	stored := string(b)
	if err := CheckAccount(stored); err != nil {
		return "", fmt.Errorf("vault: the stored default account: %w", err)
	}
	if configured != "" && configured != stored {
		return "", fmt.Errorf("%w: the vault's records without an owner belong to %q, default_account says %q (set default_account to %q, or remove it)",
			ErrDefaultAccountMismatch, stored, configured, stored)
	}
	return stored, nil
}

func allSame(s []string) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}

// owner returns the Record.Owner of the account the context acts for: ""
// for the default account.
func (s *Service) owner(ctx context.Context) string {
	a := ActorFrom(ctx).Account
	if a == "" || a == s.defAccount {
		return ""
	}
	return a
}

// account returns the name of the account the context acts for.
func (s *Service) account(ctx context.Context) string {
	if a := ActorFrom(ctx).Account; a != "" {
		return a
	}
	return s.defAccount
}

// DefaultAccount returns the Service's default account.
func (s *Service) DefaultAccount() string { return s.defAccount }
