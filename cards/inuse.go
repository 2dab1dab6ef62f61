package cards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// AliasUse answers the vault's question "does this alias back a card?"
// (vault.InUse), so that the vault API cannot delete a card's PAN alias
// out from under it (409 alias_in_use). It needs no vault: the card of a
// PAN is found by its fingerprint in the alias owner's account, and the
// alias backs it when it is the card's pan_alias.
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
	id, ok, err := u.store.CardByFingerprint(ctx, account, fingerprint(u.fpKey, account, string(value)))
	if err != nil || !ok {
		return false, err
	}
	b, ok, err := u.store.GetCard(ctx, account, id)
	if err != nil || !ok {
		return false, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return false, fmt.Errorf("cards: decode card record: %w", err)
	}
	return rec.PANAlias == alias, nil
}
