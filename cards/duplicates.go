package cards

// Duplicate detection per account (issue 22: "duplicate detection on/off").
//
// Decisions:
//   - The setting is the operator's (serve: cards.duplicate_detection and
//     cards.duplicate_detection_off_accounts), on by default:
//     AccountSettings.DuplicateDetectionOff.
//   - On: POST /cards with a card number the account already holds answers
//     303 to the card it holds, as it always did, also when the cards it
//     holds were all made while detection was off (CardsByFingerprint is
//     asked before PutCard; PutCard's atomic check of the bare fingerprint
//     still decides between two creates at once). With several such cards
//     the 303 names the primary one (primaryCard).
//   - Off: the same request makes a new card (201). The vault gives one
//     persistent alias per value and account, so the new card shares the
//     pan_alias of the others, and it has the same card_fingerprint
//     (merchants spot duplicates with it). Its CVC alias is its own
//     (volatile aliases are new at every redaction, so they are never
//     shared). Each card gets its own network token when the account has
//     network tokens on (the token service makes a token per request).
//   - The fingerprint index: a card made with detection off is indexed under
//     "<fingerprint>/<card id>" (vault.CardIndexSep; base58 has no '/'),
//     kept in its record as index_key; a record without one is indexed
//     under its fingerprint, so every record stored before stays valid byte
//     for byte. DeleteCard and ReissueCard are given the index key;
//     Store.CardsByFingerprint finds every card of a fingerprint.
//   - "The card(s) of this PAN" is always CardsByFingerprint, leaving out
//     cards being deleted: AliasUse (the vault API may delete a pan_alias
//     only when no card uses it: 409 alias_in_use), DELETE /cards/{id} and
//     the account updater's reissue (the PAN alias is removed from the vault
//     only when no other card uses it), payments by PAN alias, and
//     filter[card_fingerprint] (every card of the fingerprint).
//   - Payment by an alias of a PAN held by several cards uses the primary
//     card: the one indexed under the bare fingerprint (made with detection
//     on), else the oldest with an active network token, else the oldest
//     (created_at, then card id). Paying by card id is unambiguous and is
//     what an account with detection off should send.
//   - A reissue to a card number the account already holds is refused
//     (ErrReissueConflict, as before) when detection is on for the account;
//     with detection off it is not a conflict: the reissued card is indexed
//     under "<new fingerprint>/<card id>" beside the others. A card's index
//     key goes from bare to per card (detection off at a reissue), never back.
//   - The 303 oracle: with detection off a create of a card number the
//     account already holds is still counted as a duplicate
//     (Options.Duplicates, limits.duplicate_threshold) before the card is
//     made, and a flagged client gets 429, so that creating a card and
//     comparing its card_fingerprint with GET /cards is no uncounted way
//     of learning which card numbers the account holds. Nothing in the 201
//     tells a held number from a new one (the pan_alias is the held
//     card's, which only a client that already knows it can compare).
//   - Turning detection back on merges nothing: the cards made meanwhile
//     stay, each with its index key; a new create of their number answers
//     303 to the primary one.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// indexKey is the key rec is indexed under in the fingerprint index.
func (r *record) indexKey() string {
	if r.IndexKey != "" {
		return r.IndexKey
	}
	return r.Fingerprint
}

// ownIndexKey is the index key of card id made with duplicate detection off.
func ownIndexKey(fp, id string) string { return fp + vault.CardIndexSep + id }

// cardsOfFingerprint returns the account's cards with fingerprint fp that
// are not being deleted, in index key order (the bare key first).
func cardsOfFingerprint(ctx context.Context, store Store, account, fp string) ([]*record, error) {
	if fp == "" || strings.Contains(fp, vault.CardIndexSep) {
		return nil, nil
	}
	ids, err := store.CardsByFingerprint(ctx, account, fp)
	if err != nil {
		return nil, fmt.Errorf("cards of a fingerprint: %w", err)
	}
	var out []*record
	for _, id := range ids {
		b, ok, err := store.GetCard(ctx, account, id)
		if err != nil {
			return nil, fmt.Errorf("cards of a fingerprint: %w", err)
		}
		if !ok {
			continue // deleted meanwhile
		}
		rec, err := decodeRecord(b)
		if err != nil {
			return nil, err
		}
		rec.raw = b
		// A card whose own fingerprint is another is never taken for a card
		// of this number, whatever the index says (defence in depth: every
		// store moves index and record in one transaction).
		if !rec.Deleting && rec.Fingerprint == fp {
			out = append(out, rec)
		}
	}
	return out, nil
}

// primaryCard is the card of several of one PAN that a duplicate (303) or a
// payment by PAN alias names: the one under the bare fingerprint, else the
// oldest with an active network token, else the oldest; nil for none.
func primaryCard(recs []*record) *record {
	for _, r := range recs {
		if r.IndexKey == "" {
			return r
		}
	}
	oldest := func(rs []*record) *record {
		if len(rs) == 0 {
			return nil
		}
		return slices.MinFunc(rs, func(a, b *record) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
		})
	}
	var withToken []*record
	for _, r := range recs {
		if r.activeToken() != nil {
			withToken = append(withToken, r)
		}
	}
	if r := oldest(withToken); r != nil {
		return r
	}
	return oldest(recs)
}

// otherUses reports whether a card of recs other than id has pan_alias alias.
func otherUses(recs []*record, id, alias string) bool {
	for _, r := range recs {
		if r.ID != id && r.PANAlias == alias {
			return true
		}
	}
	return false
}

// Values of record.PANAliasOrigin.
const (
	originCard    = "card"
	originAccount = "account"
)

// legacyAliasMargin is how much older than a card without
// PANAliasOrigin its pan_alias's vault record must be to count as made
// before the card (legacyAliasHeld): more than any create request takes,
// and than the clocks of gateways sharing a store differ.
const legacyAliasMargin = time.Minute

// aliasOrigin returns the PANAliasOrigin of tok, the persistent alias a
// create or a reissue got for a card's number: originCard when that
// redaction created it, another redaction of the same request did (an
// inbound route in front of the API, vault.CreatedUnder), or it is the
// alias of a card of held (the number's cards) that does not know it as
// the account's; else originAccount (the account held it before).
func aliasOrigin(q *request, tok vault.Token, held []*record) string {
	if tok.Created || vault.CreatedUnder(q.ctx, tok.Alias) {
		return originCard
	}
	for _, r := range held {
		if r.PANAlias == tok.Alias && r.PANAliasOrigin != originAccount {
			return originCard
		}
	}
	return originAccount
}

// keepsPANAlias reports whether deleting rec (or replacing its number)
// leaves its pan_alias, whose vault record was created at aliasCreated
// (zero: unknown), in the vault: the account held it before the card. A
// card stored before PANAliasOrigin existed holds such an alias when the
// alias is older than the card by more than legacyAliasMargin: a create
// (with its route's redaction) makes the alias it did not find within
// the request, so an older one was the account's. Nothing is migrated.
func keepsPANAlias(rec *record, aliasCreated time.Time) bool {
	switch rec.PANAliasOrigin {
	case originAccount:
		return true
	case "":
		return !aliasCreated.IsZero() && aliasCreated.Before(rec.CreatedAt.Add(-legacyAliasMargin))
	}
	return false
}
