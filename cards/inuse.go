package cards

import (
	"context"
	"errors"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// AliasUse answers the vault's question "does this alias back a card?"
// (vault.InUse), so that the vault API cannot delete a card's PAN alias
// out from under it (409 alias_in_use). It needs no vault: the cards of a
// PAN are found by their fingerprint in the alias owner's account (several
// with duplicate detection off, duplicates.go), and the alias backs one
// when it is that card's pan_alias (and the card is not being deleted).
type AliasUse struct {
	store Store
	fpKey []byte
}

// NewAliasUse returns the vault.InUse of the cards in store; fingerprintKey
// is Options.FingerprintKey.
func NewAliasUse(store Store, fingerprintKey []byte) (*AliasUse, error) {
	if store == nil || len(fingerprintKey) != 32 {
		return nil, errors.New("cards: NewAliasUse needs a store and the 32-byte fingerprint key")
	}
	return &AliasUse{store: store, fpKey: append([]byte(nil), fingerprintKey...)}, nil
}

var _ vault.InUse = (*AliasUse)(nil)

// AliasInUse implements vault.InUse. Only a value that is a card number
// can back a card. A network token's own PAN alias is not looked for: a
// token whose alias is gone answers 409 card_data_gone, like a card whose
// PAN alias is gone.
func (u *AliasUse) AliasInUse(ctx context.Context, account, alias string, value []byte) (bool, error) {
	if !pan.Valid(string(value)) {
		return false, nil
	}
	held, err := cardsOfFingerprint(ctx, u.store, account, fingerprint(u.fpKey, account, string(value)))
	if err != nil {
		return false, err
	}
	return otherUses(held, "", alias), nil // DELETE /cards/{id} removes the alias itself
}
