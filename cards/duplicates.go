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
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
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
// the account's; else originAccount (the account held it before). A card
// of held stored before the mark knows it as the account's when
// keepsPANAlias says so of it (the alias's record is read for its
// creation time): before, any such card counted as the alias's maker, and
// the new card's delete erased an alias the account made before both.
func (h *Handler) aliasOrigin(q *request, tok vault.Token, held []*record) (string, error) {
	if tok.Created || vault.CreatedUnder(q.ctx, tok.Alias) {
		return originCard, nil
	}
	var created *time.Time // the alias's record's creation, read once when needed
	for _, r := range held {
		if r.PANAlias != tok.Alias || r.PANAliasOrigin == originAccount {
			continue
		}
		if r.PANAliasOrigin == "" {
			if created == nil {
				out, err := h.vault.Reveal(q.ctx, []string{tok.Alias})
				if err == nil && len(out) != 1 {
					err = errors.New("vault reveal: wrong number of results")
				}
				if err == nil && out[0].Err != nil && !errors.Is(out[0].Err, vault.ErrNotFound) {
					err = out[0].Err
				}
				if err != nil {
					return "", fmt.Errorf("read the pan_alias's record: %w", err)
				}
				created = &out[0].CreatedAt // zero when gone meanwhile: unknown
			}
			if keepsPANAlias(r, *created) {
				continue
			}
		}
		return originCard, nil
	}
	return originAccount, nil
}

// passPANAlias hands the mark of from, a card that leaves its pan_alias
// (deleted, or reissued onto another number) while cards of held keep it,
// to those that take the alias for the account's: when from's create made
// the alias (originCard), the cards that found it in the vault afterwards
// found it because of from, whatever they concluded (a create while from
// was being deleted, two creates of one number at once, a repair racing
// another, restore.go), so the alias leaves the vault with the last of
// them. Without this the last card's delete kept a number no card and
// nothing of the account's referenced. A card deleted or pointed at
// another alias meanwhile is left alone.
func (h *Handler) passPANAlias(q *request, held []*record, from *record) error {
	if from.PANAliasOrigin != originCard {
		return nil
	}
	return h.markCardsAlias(q, held, from.ID, from.PANAlias)
}

// markCardsAlias marks the cards of held other than id whose pan_alias is
// alias and says originAccount originCard (passPANAlias).
func (h *Handler) markCardsAlias(q *request, held []*record, id, alias string) error {
	for _, r := range held {
		if r.ID == id || r.PANAlias != alias || r.PANAliasOrigin != originAccount {
			continue
		}
		_, _, err := h.mutate(q, r, func(next *record) (*storedUpdate, error) {
			if next.Deleting || next.PANAlias != alias || next.PANAliasOrigin != originAccount {
				return nil, errNoWrite
			}
			next.PANAliasOrigin = originCard
			return nil, nil
		})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("mark card %s's pan_alias as a card's: %w", r.ID, err)
		}
	}
	return nil
}

// releaseCreated is called when a create ends without storing its card:
// refused (422), a duplicate of a card of the number stored meanwhile
// (303), or a failure (the store, a throttled caller); when a reissue
// is not applied after its new number was stored (lifecycle.go); and when
// a request through an inbound route in front of the Card Management API
// or the vault API wrote nothing (ReleaseRouteAliases). The volatile
// aliases its request made (a CVC's) are deleted: no one else has them.
// The persistent
// aliases of card numbers its request made — the create's redaction, or
// an inbound route's in front of the API (vault.CreatedAliases) — are no
// one's but a card's: the merchant's client never saw them. For each, the
// cards of the number that have it take it as theirs (markCardsAlias),
// and with none it leaves the vault (vault.Release), so that the card of a
// retry makes it again as its own, unless another request was given it
// meanwhile (the vault's one alias per value and account): it then stays,
// the account's. A card stored with it meanwhile keeps it (the vault
// refuses to delete it, vault.ErrInUse, and it is then marked; or
// restoreUsers gives it its number back once the alias is gone). Before,
// the card that won, or the retry's, took the alias for the account's and
// its delete kept the PAN with nothing referencing it. It runs past the
// client's disconnect (a cause of failures); its own failures are logged
// (the answer is given): such an alias is then left as before, and the
// others are released all the same.
func (h *Handler) releaseCreated(q *request) {
	h.releaseMade(q, vault.CreatedAliases(q.ctx))
}

// releaseMade releases made, aliases q's request made that nothing took,
// as releaseCreated says; ReleaseRouteAliases gives those of the route.
func (h *Handler) releaseMade(q *request, made []string) {
	if len(made) == 0 {
		return
	}
	dq := *q
	dq.ctx = context.WithoutCancel(vault.WithPurpose(q.ctx, vault.PurposeRestore))
	q = &dq
	out, err := h.vault.Reveal(q.ctx, made)
	if err == nil && len(out) != len(made) {
		err = errors.New("vault reveal: wrong number of results")
	}
	// Each alias is released apart: one that fails (logged) leaves the
	// others to go.
	var errs []error
	for i := 0; err == nil && i < len(made); i++ {
		switch {
		case out[i].Err != nil:
			// gone meanwhile
		case out[i].Storage == vault.StorageVolatile:
			// A CVC (or any volatile value): never shared, each
			// redaction makes its own, and a card keeps the one its
			// own write made; it leaves now rather than at its expiry.
			if derr := h.vault.Delete(q.ctx, made[i]); derr != nil && !errors.Is(derr, vault.ErrNotFound) {
				errs = append(errs, fmt.Errorf("release a volatile alias no card needs: %w", derr))
			}
		case pan.Valid(out[i].Value):
			if perr := h.releasePANAlias(q, made[i], out[i].Value); perr != nil {
				errs = append(errs, perr)
			}
		}
		// any other persistent value: no card's business
	}
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		h.releaseFailed()
		h.log.WarnContext(q.ctx, "cards: an alias a create or a reissue made for no card was not released", "account_id", q.p.Account,
			"error", err.Error(), "trace_id", q.obs.TraceID)
	}
}

// releaseFailed counts a release of aliases that failed (its warning
// line names the account and the error): ReleaseFailures.
func (h *Handler) releaseFailed() { h.releaseFailures.Add(1) }

// ReleaseFailures is the number of releases of aliases that failed since
// the handler was made (aliasgate_alias_releases_failed_total): a create
// or a reissue that stored no card (releaseCreated), a refused request's
// route (ReleaseRouteAliases), the route's CVC alias of a write
// (dropRouteCVC) and a PATCH's replaced CVC alias. Each such release is
// also a warning line; the aliases it left stay (a volatile one until it
// expires).
func (h *Handler) ReleaseFailures() uint64 { return h.releaseFailures.Load() }

// releasePANAlias releases alias, the persistent alias of card number
// value a create that stored no card made (releaseCreated): with
// vault.Release, which keeps it when a redaction of the same number was
// given it since (the vault's one alias per value and account: a client
// of the vault API, another route's request, holds it now, and it is
// the account's).
func (h *Handler) releasePANAlias(q *request, alias, value string) error {
	_, err := h.releaseAlias(q, alias, value, true)
	return err
}

// releaseAlias deletes alias, a persistent alias of card number value that
// what made it no longer needs (a create that stored no card, a network
// token being retired or undone: releaseTokenAlias), from the vault,
// unless cards of the account have it as their pan_alias (the vault gives
// one alias per value and account): they take it as theirs
// (markCardsAlias), so that it leaves the vault with the last of them, and
// it stays (kept). A card stored with it meanwhile keeps it too (the vault
// refuses to delete it, vault.ErrInUse, and it is then marked; or
// restoreUsers gives it its number back once the alias is gone). With
// made (the request of q made the alias: releasePANAlias) it is deleted
// with vault.Release, and stays (kept) when another caller was given it.
func (h *Handler) releaseAlias(q *request, alias, value string, made bool) (kept bool, err error) {
	fp := fingerprint(h.fpKey, q.p.Account, value)
	for try := 1; ; try++ {
		held, err := cardsOfFingerprint(q.ctx, h.store, q.p.Account, fp)
		if err != nil {
			return false, err
		}
		if otherUses(held, "", alias) {
			return true, h.markCardsAlias(q, held, "", alias)
		}
		if made {
			err = h.vault.Release(q.ctx, alias)
		} else {
			err = h.vault.Delete(q.ctx, alias)
		}
		if errors.Is(err, vault.ErrInUse) && try < casTries {
			continue // a card of the number stored meanwhile has it: it is marked
		}
		if errors.Is(err, vault.ErrHandedOut) {
			return true, nil // another caller holds it: the account's now
		}
		if err != nil && !errors.Is(err, vault.ErrNotFound) {
			return false, fmt.Errorf("release an alias no card needs: %w", err)
		}
		return false, h.restoreUsers(q, alias, value, "")
	}
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
