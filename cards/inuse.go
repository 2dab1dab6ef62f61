package cards

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// AliasUse answers the vault's question "does this alias back a card?"
// (vault.InUse), so that the vault API cannot delete a card's PAN alias,
// or its network token's, out from under it (409 alias_in_use). It needs
// no vault: the cards of a PAN are found by their fingerprint in the alias
// owner's account (several with duplicate detection off, duplicates.go),
// and the alias backs one when it is that card's pan_alias (and the card
// is not being deleted); the card of a token by the token alias index
// (tokenaliases.go).
//
// It is also a vault.InUseRecheck: after the vault API deleted an alias
// AliasInUse let go, a card another gateway stored with it in between gets
// its number back (restore.go), through the Handler given to RestoreWith.
type AliasUse struct {
	store   Store
	fpKey   []byte
	handler atomic.Pointer[Handler] // RestoreWith; nil: no re-check
}

// NewAliasUse returns the vault.InUse of the cards in store; fingerprintKey
// is Options.FingerprintKey.
func NewAliasUse(store Store, fingerprintKey []byte) (*AliasUse, error) {
	if store == nil || len(fingerprintKey) != 32 {
		return nil, errors.New("cards: NewAliasUse needs a store and the 32-byte fingerprint key")
	}
	return &AliasUse{store: store, fpKey: append([]byte(nil), fingerprintKey...)}, nil
}

var _ vault.InUseRecheck = (*AliasUse)(nil)

// RestoreWith has h give the cards whose pan_alias the vault API deleted
// while they were stored their number back (AliasDeleted). The server calls
// it once its Handler exists (the vault, which asks u, comes first).
func (u *AliasUse) RestoreWith(h *Handler) { u.handler.Store(h) }

// AliasDeleted implements vault.InUseRecheck: the cards of account that
// have alias, just deleted, get value (their number) back under a new
// alias, which they are pointed at; so do the live network tokens whose
// PAN alias it is (restoreTokens, tokenaliases.go), except for the cards'
// own release of the token's alias (withTokenRelease). Its vault calls keep ctx's actor (the
// client that deleted the alias), with purpose vault.PurposeRestore.
func (u *AliasUse) AliasDeleted(ctx context.Context, account, alias string, value []byte) error {
	h := u.handler.Load()
	if h == nil || !pan.Valid(string(value)) {
		return nil
	}
	ctx = vault.WithAccount(ctx, account)
	if vault.ActorFrom(ctx).Client == "" && vault.ActorFrom(ctx).Route == "" {
		ctx = vault.WithRoute(ctx, restoreRoute)
	}
	q := &request{ctx: ctx, p: principalOf(account), obs: Observability{TraceID: traceID(""),
		AccountID: account, VaultID: h.vaultID}}
	if err := h.restoreUsers(q, alias, string(value), ""); err != nil {
		return err
	}
	if tokenReleased(ctx, alias) {
		return nil // the token's own retirement
	}
	return h.restoreTokens(q, alias, string(value))
}

// AliasInUse implements vault.InUse. Only a value that is a card number
// can back a card: as the card's pan_alias (the cards of its fingerprint
// in the account), or as the PAN alias of a card's live network token
// (the token alias index, tokenaliases.go; not for the cards' own release
// of that token's alias, withTokenRelease).
func (u *AliasUse) AliasInUse(ctx context.Context, account, alias string, value []byte) (bool, error) {
	if !pan.Valid(string(value)) {
		return false, nil
	}
	held, err := cardsOfFingerprint(ctx, u.store, account, fingerprint(u.fpKey, account, string(value)))
	if err != nil {
		return false, err
	}
	if otherUses(held, "", alias) { // DELETE /cards/{id} removes the alias itself
		return true, nil
	}
	if tokenReleased(ctx, alias) {
		return false, nil
	}
	return tokenHolds(ctx, u.store, account, alias)
}
