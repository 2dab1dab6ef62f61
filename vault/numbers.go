package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// The numbers index: which card numbers and network token PANs the cards
// of every account hold, so that a token service answering a number that
// is already a card or a token anywhere is refused (cards/tokens.go).
//
// Decisions:
//   - An entry is (key, alias): key is HMAC-SHA256 of the number under the
//     number key (HKDF of the master key, "aliasgate/number/v1"), one key
//     for the whole vault and distinct from the per-account index and
//     fingerprint keys, so it equals no alias index entry or
//     card_fingerprint any client sees; alias is the vault alias that holds
//     the number. No number, no account and nothing a client is shown is
//     in it.
//   - An entry whose alias is no longer a live record (the card or token
//     was deleted, its value wiped) counts for nothing. The cards remove
//     the entry of an alias they delete (Remove: one write, whatever the
//     index holds of the number); one left behind (a failed removal, a
//     delete by the vault API) is removed when Claim next meets it. The cards' aliases are UUIDs (122 random bits), never
//     made again once deleted, so a live alias still holds the number it
//     was indexed with.
//   - Claim adds the entry and reads the key's other entries in one store
//     transaction, so of two accounts given one number at once at least the
//     later sees the earlier.
//   - Add (a card's number: create, reissue, a restored alias) only adds
//     its entry, one write, reading nothing: a client chooses that number,
//     and work that depended on the other entries (reading their records,
//     removing dead ones) would tell it whether another account holds or
//     held the number. Claim is used where the number is a token service's
//     answer, which no client chooses. Another account's token PAN given
//     as a card number is accepted, as any number held elsewhere is:
//     refusing it would be that oracle.
//   - The index of a vault written before it existed is built by walking
//     every card (cards.IndexNumbers): at serve's start when the store is
//     not marked indexed, and by `aliasgate vault copy` on its destination.

// NumberStore keeps the numbers index's entries. Keys are 32 bytes.
type NumberStore interface {
	// AddNumber adds the entry (key, alias) and returns the aliases of
	// every entry under key, alias among them, read in the same
	// transaction.
	AddNumber(ctx context.Context, key []byte, alias string) ([]string, error)
	// PutNumbers adds the entries (keys[i], aliases[i]) in one write (the
	// build of the index); keys and aliases have the same length.
	PutNumbers(ctx context.Context, keys [][]byte, aliases []string) error
	// RemoveNumber removes the entry (key, alias); an absent one is no
	// error.
	RemoveNumber(ctx context.Context, key []byte, alias string) error
	// NumbersIndexed reports whether MarkNumbersIndexed was called.
	NumbersIndexed(ctx context.Context) (bool, error)
	// MarkNumbersIndexed records that every card's numbers are indexed.
	MarkNumbersIndexed(ctx context.Context) error
}

// Numbers is the numbers index of one vault.
type Numbers struct {
	records Store // where the aliases live (the persistent store)
	index   NumberStore
	keys    *Keyring
	key     []byte
}

// NewNumbers returns the numbers index kept in index, whose aliases are
// records of store, keyed with keys' number key.
func NewNumbers(store Store, index NumberStore, keys *Keyring) *Numbers {
	return &Numbers{records: store, index: index, keys: keys, key: keys.numberKey}
}

// ErrNumberHeld is Claim's answer for a number another live alias holds.
var ErrNumberHeld = errors.New("vault: the number is held under another alias")

func (n *Numbers) keyOf(number []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(number)
	return m.Sum(nil)
}

// Claim indexes number under alias (a record that holds it, written
// before) and returns ErrNumberHeld when another live alias, of any
// account, holds it too. The error says nothing of that alias.
func (n *Numbers) Claim(ctx context.Context, number, alias string) error {
	key := n.keyOf([]byte(number))
	aliases, err := n.index.AddNumber(ctx, key, alias)
	if err != nil {
		return fmt.Errorf("vault: numbers index: add: %w", err)
	}
	var others []string
	for _, a := range aliases {
		if a != alias {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return nil
	}
	recs, err := n.records.Get(ctx, others)
	if err != nil {
		return fmt.Errorf("vault: numbers index: get: %w", err)
	}
	held := false
	for i, r := range recs {
		if r != nil {
			held = true
			continue
		}
		if err := n.index.RemoveNumber(ctx, key, others[i]); err != nil { // its record is gone
			return fmt.Errorf("vault: numbers index: remove: %w", err)
		}
	}
	if held {
		return ErrNumberHeld
	}
	return nil
}

// Add indexes number under alias, whoever else holds it, with one write
// and no read: its work is the same whatever the index holds of the
// number (a card's create would otherwise tell its client whether another
// account holds, or held, the card number it gave).
func (n *Numbers) Add(ctx context.Context, number, alias string) error {
	if err := n.index.PutNumbers(ctx, [][]byte{n.keyOf([]byte(number))}, []string{alias}); err != nil {
		return fmt.Errorf("vault: numbers index: add: %w", err)
	}
	return nil
}

// Remove removes the entry of number under alias, a record just deleted
// (its alias is never made again), with one write whatever else the index
// holds of the number: without it every card created and deleted left an
// entry behind, and the index grew with the creates rather than the cards.
func (n *Numbers) Remove(ctx context.Context, number, alias string) error {
	if err := n.index.RemoveNumber(ctx, n.keyOf([]byte(number)), alias); err != nil {
		return fmt.Errorf("vault: numbers index: remove: %w", err)
	}
	return nil
}

// AddAliases indexes the values of the live records of aliases (of any
// account; absent ones are passed over), decrypting them in memory only,
// in one write: the build of the index over cards stored before it.
func (n *Numbers) AddAliases(ctx context.Context, aliases []string) error {
	recs, err := n.records.Get(ctx, aliases)
	if err != nil {
		return fmt.Errorf("vault: numbers index: get: %w", err)
	}
	keys := make([][]byte, 0, len(recs))
	found := make([]string, 0, len(recs))
	for _, r := range recs {
		if r == nil {
			continue
		}
		v, err := n.keys.open(ctx, r)
		if err != nil {
			return fmt.Errorf("vault: numbers index: open %s: %w", r.Alias, err)
		}
		keys = append(keys, n.keyOf(v))
		clear(v)
		found = append(found, r.Alias)
	}
	if len(keys) == 0 {
		return nil
	}
	if err := n.index.PutNumbers(ctx, keys, found); err != nil {
		return fmt.Errorf("vault: numbers index: add: %w", err)
	}
	return nil
}

// Indexed reports whether the index was built over every card.
func (n *Numbers) Indexed(ctx context.Context) (bool, error) { return n.index.NumbersIndexed(ctx) }

// MarkIndexed records that the index was built over every card.
func (n *Numbers) MarkIndexed(ctx context.Context) error { return n.index.MarkNumbersIndexed(ctx) }
