// Package vaulttok adapts the vault to rewrite.Tokenizer, so the route
// engine (which never imports the vault) can redact and reveal through it.
package vaulttok

import (
	"context"

	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// Vault is what the adapter needs of vault.Service.
type Vault interface {
	Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error)
	RevealValues(ctx context.Context, aliases []string) ([]string, error)
	Known(ctx context.Context, candidates []string) ([]vault.Presence, error)
}

// Tokenizer is a rewrite.Tokenizer over a Vault.
type Tokenizer struct {
	v Vault
}

// New returns a Tokenizer over v.
func New(v Vault) *Tokenizer { return &Tokenizer{v: v} }

// Redact implements rewrite.Tokenizer. A value the vault refuses (for
// example a format that does not fit it) fails the whole call.
func (t *Tokenizer) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	reqs, out := newRedactLists(len(items))
	for i, it := range items {
		reqs[i] = vault.RedactRequest{Value: it.Value, Format: vault.Format(it.Format),
			Storage: vault.Storage(it.Storage), Classifiers: it.Classifiers}
	}
	toks, err := t.v.Redact(ctx, reqs)
	// The answer may share the requests' allocation: cleared, they keep
	// none of the values they named reachable for as long as it lives.
	clear(reqs)
	if err != nil {
		return nil, err
	}
	if len(out) != len(toks) {
		out = make([]string, len(toks))
	}
	for i, tk := range toks {
		out[i] = tk.Alias
	}
	return out, nil
}

// newRedactLists returns the requests of a Redact of n values and the
// list of its aliases, in one allocation for a message of up to two values
// (its card number and CVC); for more, the list of aliases is nil (made
// once the vault has answered).
func newRedactLists(n int) ([]vault.RedactRequest, []string) {
	if n <= 2 {
		b := new(struct {
			reqs    [2]vault.RedactRequest
			aliases [2]string
		})
		return b.reqs[:n:n], b.aliases[:n:n]
	}
	return make([]vault.RedactRequest, n), nil
}

// Known reports which candidates are live aliases or stored values (see
// vault.Service.Known): the proxies' leak guard asks it, with nothing
// decrypted and no audit line.
func (t *Tokenizer) Known(ctx context.Context, candidates []string) ([]vault.Presence, error) {
	return t.v.Known(ctx, candidates)
}

// Reveal implements rewrite.Tokenizer: a string that is not a live alias
// of the vault gives "" and is left as it is.
func (t *Tokenizer) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	return t.v.RevealValues(ctx, aliases)
}
