package cards

// A pan_alias deleted while a card is created with it (issue 22 review).
//
// The cards of one number share its persistent alias (the vault gives one
// per value and account; duplicate detection off, duplicates.go), and the
// alias leaves the vault with the last card that uses it. The check "no
// other card uses it" and the vault delete are two steps on two stores, and
// so are a create's redaction (which hands out the existing alias) and its
// PutCard: a gateway can store a card with an alias another gateway has
// just decided to delete. Nothing locks across the two stores, so each side
// writes first and checks the other's store after:
//
//   - the creator (keepPANAlias), once its card is stored, redacts the
//     number again: the same alias comes back while the value is there; a
//     new one when it was deleted meanwhile, and the card is pointed at it
//     (compare-and-swap) and checked again;
//   - the deleter (erase, a reissue's old alias, the vault API's delete
//     through AliasUse.AliasDeleted), once the alias is deleted, looks up
//     the cards of the number again; a card not being deleted that has the
//     alias gets the number back as the creator does. The deleter reads the
//     number before it deletes the alias (an audited reveal with purpose
//     vault.PurposeRestore) when it may need it; a reissue and the vault
//     API already hold it.
//
// Either the creator's check comes after the delete (it sees the alias
// gone) or the delete comes after the creator's check, and so after its
// PutCard, and the deleter's look-up sees the card. Each side alone leaves
// the other order broken. When both repair the card at once, the first
// redaction makes the new alias and the other finds it: whichever points
// the card at it first, the alias is the card's (PANAliasOrigin
// originCard, the rule passPANAlias follows: what found it found it
// because of the card), and the repair that made it marks it so when it
// finds the card already pointed at it as the account's. Before, the
// repair that found it (a token's retirement's restoreUsers racing the
// create of a card whose number is the token PAN) could win, and the
// card's DELETE left the number in the vault with no card using it. A card pointed at a new alias is itself checked
// again the same way, so a second delete racing the repair is caught too.
// The re-store is a Redact with vault.PurposeRestore: the abuse limits
// (vault Admission) do not refuse it, since refusing would lose the number.

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
)

// restoreRoute is the route named as the actor of the vault calls that put
// a number back for a card after the vault API deleted its alias.
const restoreRoute = "internal:cards"

// keepPANAlias makes card rec (as read: rec.raw set) point at a live
// persistent alias of pan, its number: it redacts pan and, when the alias
// differs from the card's (the card's was deleted), points the card at the
// new one with a compare-and-swap write and checks again. It stops when
// the card is being deleted or no longer has the alias it started from
// for another number (a reissue). It returns the card as last read or
// written.
func (h *Handler) keepPANAlias(q *request, rec *record, pan string) (*record, error) {
	ctx := vault.WithPurpose(q.ctx, vault.PurposeRestore)
	fp := rec.Fingerprint
	for try := 1; ; try++ {
		if rec.Deleting || rec.Fingerprint != fp {
			return rec, nil
		}
		toks, err := h.vault.Redact(ctx, []vault.RedactRequest{{Value: pan, Format: vault.FormatUUID,
			Storage: vault.StoragePersistent}})
		if err != nil {
			return rec, fmt.Errorf("check the pan_alias of card %s: %w", rec.ID, err)
		}
		alias := toks[0].Alias
		if alias == rec.PANAlias {
			return rec, nil
		}
		if err := h.addNumber(ctx, pan, alias); err != nil { // numbers.go
			return rec, fmt.Errorf("index the number of card %s: %w", rec.ID, err)
		}
		if try == casTries {
			return rec, errCardConflict()
		}
		stale, pointed := rec.PANAlias, false
		_, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
			pointed = false // this try's
			if next.Deleting || next.Fingerprint != fp {
				return nil, errNoWrite // deleted or reissued meanwhile: checked again
			}
			if next.PANAlias != stale {
				// Pointed elsewhere meanwhile (checked again), or at this
				// alias by a repair that found it: a second repair of the
				// card racing this one (the deleter's restoreUsers and the
				// creator's check). The alias this redaction made is the
				// card's whoever pointed the card at it (passPANAlias's
				// rule: what found it found it because of this card), so it
				// leaves the vault with the card.
				if next.PANAlias != alias || !toks[0].Created || next.PANAliasOrigin != originAccount {
					return nil, errNoWrite
				}
				next.PANAliasOrigin = originCard
				return nil, nil
			}
			// The alias is the card's when this redaction made it; one
			// another request made meanwhile is the account's (delete.go).
			next.PANAlias, next.PANAliasOrigin, pointed = alias, originAccount, true
			if toks[0].Created {
				next.PANAliasOrigin = originCard
			}
			return nil, nil
		})
		if err != nil {
			if isNotFound(err) {
				return rec, nil // the card was deleted meanwhile
			}
			return rec, fmt.Errorf("point card %s at its restored pan_alias: %w", rec.ID, err)
		}
		if pointed && next.PANAlias == alias {
			h.log.WarnContext(q.ctx, "cards: pan_alias restored: it was deleted while the card was stored",
				"card_id", rec.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
		}
		rec = next
	}
}

// restoreUsers gives the cards of the account that still have pan_alias
// alias, deleted a moment ago, their number pan back (keepPANAlias).
// except is a card being deleted (""), left alone.
func (h *Handler) restoreUsers(q *request, alias, pan, except string) error {
	held, err := cardsOfFingerprint(q.ctx, h.store, q.p.Account, fingerprint(h.fpKey, q.p.Account, pan))
	if err != nil {
		return err
	}
	var first error
	for _, r := range held {
		if r.ID == except || r.PANAlias != alias {
			continue
		}
		if _, err := h.keepPANAlias(q, r, pan); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// isNotFound reports a 404 (a card gone).
func isNotFound(err error) bool {
	var je *jsonapi.Error
	return errors.As(err, &je) && je.Status == http.StatusNotFound
}
