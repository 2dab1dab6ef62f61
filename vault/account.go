package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aliasgate/aliasgate/internal/account"
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
const MaxAccountLen = account.MaxLen

// CheckAccount reports whether name is a valid account name: 1–128
// characters of A–Z a–z 0–9 _ . -, not holding a card-like number
// (internal/account, the rule of clients', routes' and the default
// account). Its error is ErrInvalidAccount.
func CheckAccount(name string) error { return account.Check(name) }

// ErrDefaultAccountMismatch: the configured default account is not the one
// the vault was migrated or created with.
var ErrDefaultAccountMismatch = errors.New("vault: default_account differs from the vault's default account")

// MetaStore is the part of a Store that ResolveDefaultAccount uses.
type MetaStore interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error)
}

// ResolveDefaultAccount returns the vault's default account. The first
// time it is known it is stored (DefaultAccountMeta) and never changes:
// configured when set (default_account); else the one account every
// existing client acts for, when they all share one (so that the records
// they made before accounts existed stay theirs, and a single merchant's
// first client makes its account the default); else, with clients of
// several accounts, DefaultAccountName. With no client and nothing
// configured it is DefaultAccountName for now, not stored: records made
// meanwhile (Owner "") go to whichever account is stored later.
// clientAccounts lists the accounts of the existing clients (one entry per
// client); it is called only while nothing is stored. Once stored, a
// configured name that differs is refused (ErrDefaultAccountMismatch): the
// records stored without an owner belong to the stored account, and
// renaming it would hand them to another.
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
			accts, err := clientAccounts(ctx)
			if err != nil {
				return "", fmt.Errorf("vault: default account: list the clients' accounts: %w", err)
			}
			switch {
			case len(accts) == 0:
				return DefaultAccountName, nil // provisional: nothing decides it yet
			case allSame(accts):
				name = accts[0]
			default:
				name = DefaultAccountName
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

// owns reports whether the account stored as owner owns r. The default
// account also owns a record stored under its name: one written while the
// default account was still provisional (ResolveDefaultAccount: no client
// yet) by a client of the account that then became the default.
func (s *Service) owns(owner string, r *Record) bool {
	return r.Owner == owner || (owner == "" && r.Owner == s.defAccount)
}

// account returns the name of the account the context acts for.
func (s *Service) account(ctx context.Context) string {
	return s.accountOf(ActorFrom(ctx))
}

// accountOf returns the name of the account a acts for: its Account, or
// the default account's name when it names none.
func (s *Service) accountOf(a Actor) string {
	if a.Account != "" {
		return a.Account
	}
	return s.defAccount
}

// DefaultAccount returns the Service's default account.
func (s *Service) DefaultAccount() string { return s.defAccount }

type routeAccountsKey struct{}

// WithRouteAccount marks ctx as a request an inbound route acting for
// account ("": the default account) hands on to an in-process API: the
// proxy's internal:cards and internal:aliases upstreams, or the gateway's
// /cards and /aliases reached through a route whose upstream is a URL
// (proxy.RouteAccountHeader). Such a route's request filters made their
// aliases in its account and its leak guard judges the answer there, so
// the APIs serve only that account's clients (RouteServes). A request
// marked by several routes (a chain of gateways) serves the clients of an
// account that is every one's: the accounts of several routes are marked
// in one call (the values of RouteAccountHeader, which any client may
// send in thousands: one call each copied the list of those before it,
// quadratic in the header's size).
func WithRouteAccount(ctx context.Context, accounts ...string) context.Context {
	prev, _ := ctx.Value(routeAccountsKey{}).([]string)
	return context.WithValue(ctx, routeAccountsKey{}, append(slices.Clip(prev), accounts...))
}

// RouteServes reports whether a client of account may be served through
// the inbound routes ctx came through (WithRouteAccount): only when
// account is each route's (the default account for a route naming none).
// Always true for a request no route handed on (the built-in mounts
// /cards and /aliases, which serve every account).
func (s *Service) RouteServes(ctx context.Context, account string) bool {
	routes, _ := ctx.Value(routeAccountsKey{}).([]string)
	for _, a := range routes {
		if a == "" {
			a = s.defAccount
		}
		if a != account {
			return false
		}
	}
	return true
}
