package cards

// DELETE /cards/{id}.
//
// Decisions:
//   - Deleting a card erases it: its active network tokens are deleted at
//     the token service, the vault values behind its aliases (pan_alias,
//     cvc_alias, every network token PAN alias) are deleted, then the card
//     record with its card updates and its fingerprint entry (a token PAN
//     that another card of the account has as its number stays in the
//     vault as that card's: releaseTokenAlias). Each alias
//     deletion is a vault Delete, audited with the client as the actor
//     (vault.AuditDelete); the card deletion is logged ("cards: card
//     deleted"). 204 with no body; the card, its aliases and a second DELETE
//     answer 404 afterwards.
//   - Only the card's own aliases are deleted. Other aliases of the same
//     card number the account made through the vault API or a proxy route
//     are the account's, not the card's; it deletes them through /aliases.
//     The pan_alias is the account's UUID alias of the number (the vault
//     gives one per value, format and account), the one the vault API or a
//     UUID route gives for it too: it is the card's only when the card's
//     create made it (the number was new to the account's vault, or an
//     inbound route in front of the API made it in that same request, see
//     vault.CreatedUnder) or the card's repair did (restore.go). An alias
//     the account held before the card (record.PANAliasOrigin, and for
//     cards stored before it, keepsPANAlias) stays in the vault when the
//     card is deleted: the merchant's systems hold it. The
//     pan_alias shared by the cards of one number (duplicate detection
//     off, duplicates.go) is deleted with the last of them, when one of
//     them made it: another card not being deleted that has it keeps it in
//     the vault, and takes over the mark of a card that made it
//     (passPANAlias: it may have found the alias only because of that
//     card, made at once with it or while it was being deleted).
//   - Crash safety: the record is first marked deleting (it answers 404
//     from then on and no longer protects its PAN alias, see AliasUse), then
//     the steps run in an order where each is idempotent (a token whose
//     alias is already gone was deleted at the token service before it; an
//     alias already gone is fine; a token already deleted at the token
//     service is fine). A DELETE that failed part way (503, store down) is
//     finished by the next DELETE of the same id.
//   - The pan_alias, when this card is the last that uses it, is read (an
//     audited reveal, purpose vault.PurposeRestore) before it is deleted,
//     and a card another gateway stored with it in between gets the number
//     back under a new alias (restore.go).
//   - A card whose aliases belong to another account (made before accounts
//     existed, see errCardDataGone) cannot reach them: the aliases this
//     account cannot see are left, and the card is still deleted.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/vault"
)

func (h *Handler) serveDelete(w http.ResponseWriter, r *http.Request) {
	q, ok := h.begin(w, r)
	if !ok {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/cards/")
	if !validCardID(id) {
		h.fail(q, "delete card", errNotFound())
		return
	}
	defer h.lock(q.p.Account, id)()
	rec, err := h.loadAny(q, id)
	if err != nil {
		h.fail(q, "delete card", err)
		return
	}
	rec, retired, err := h.erase(q, rec)
	if err != nil {
		h.fail(q, "delete card", err)
		return
	}
	h.log.InfoContext(q.ctx, "cards: card deleted", "card_id", rec.ID, "account_id", q.p.Account,
		"client_id", q.p.ClientID, "trace_id", q.obs.TraceID)
	for _, t := range retired {
		h.publishToken(q, EventNetworkTokenDeleted, rec, t, SourceAPI)
	}
	h.publishCard(q, EventCardDeleted, rec, SourceAPI, nil)
	w.WriteHeader(http.StatusNoContent)
}

// erase deletes rec, its network tokens and its aliases; called under the
// card lock. It returns the card as marked deleting (the tokens another
// gateway gave it before the mark are deleted too); retired are the tokens
// it deleted (they were the card's). The mark is a compare-and-swap write
// (cas.go): once stored, every other writer re-reads the card, sees it
// deleting and stops, so nothing is added to the card while its aliases
// are deleted.
func (h *Handler) erase(q *request, rec *record) (_ *record, retired []*tokenRecord, err error) {
	if !rec.Deleting {
		_, rec, err = h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
			if next.Deleting {
				return nil, errNoWrite
			}
			next.Deleting = true
			return nil, nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("mark the card deleting: %w", err)
		}
	}
	for i := range rec.Tokens {
		t := &rec.Tokens[i]
		if t.live() {
			if err := h.retireToken(q, t); err != nil {
				return nil, nil, err
			}
			retired = append(retired, t)
		} else if err := h.deleteAlias(q, t.PANAlias); err != nil {
			return nil, nil, err
		}
	}
	// Cards made with duplicate detection off share their pan_alias
	// (duplicates.go): it leaves the vault with the last of them. Their
	// CVC aliases are their own.
	held, err := cardsOfFingerprint(q.ctx, h.store, q.p.Account, rec.Fingerprint)
	if err != nil {
		return nil, nil, err
	}
	if err := h.deleteAlias(q, rec.CVCAlias); err != nil {
		return nil, nil, err
	}
	switch {
	case otherUses(held, rec.ID, rec.PANAlias):
		if err := h.passPANAlias(q, held, rec); err != nil {
			return nil, nil, err
		}
	case rec.PANAliasOrigin != originAccount:
		if err := h.deletePANAlias(q, rec); err != nil {
			return nil, nil, err
		}
	}
	if _, err := h.store.DeleteCard(q.ctx, q.p.Account, rec.ID, rec.indexKey()); err != nil {
		return nil, nil, fmt.Errorf("delete the card record: %w", err)
	}
	return rec, retired, nil
}

// retireToken deletes t at the token service, then its token PAN from the
// vault, and marks it deleted (in rec; the caller stores it). A token whose
// alias is already gone (a retirement that failed after it, or the vault
// API's DELETE of the token PAN's alias) is deleted at the token service by
// its reference (tokenRecord.Ref); one stored before references were kept
// is only marked. A token PAN that a card of the account has as its number
// stays in the vault as that card's, and t no longer names its alias
// (releaseTokenAlias); the caller stores PANAlias with the state.
func (h *Handler) retireToken(q *request, t *tokenRecord) error {
	out, err := h.vault.Reveal(q.ctx, []string{t.PANAlias})
	if err == nil && len(out) != 1 {
		err = errors.New("vault reveal: wrong number of results")
	}
	if err == nil {
		err = out[0].Err
	}
	switch {
	case err == nil:
		if err := h.ts().Delete(q.ctx, t.Ref, out[0].Value); err != nil && !errors.Is(err, tsp.ErrDeleted) {
			return fmt.Errorf("%w: delete network token %s: %w", errTokenService, t.ID, err)
		}
		kept, err := h.releaseTokenAlias(q, t.PANAlias, out[0].Value)
		if err != nil {
			return err
		}
		if kept { // a card's number now (releaseTokenAlias): the token no longer names it
			t.PANAlias = ""
		}
	case errors.Is(err, vault.ErrNotFound) && t.Ref != "":
		// The alias went without the token: the vault API's DELETE
		// /aliases of the token PAN before AliasUse knew token aliases
		// (tokenaliases.go), or a store's own loss. The token service
		// deletes it by its reference.
		if err := h.ts().Delete(q.ctx, t.Ref, ""); err != nil && !errors.Is(err, tsp.ErrDeleted) {
			return fmt.Errorf("%w: delete network token %s: %w", errTokenService, t.ID, err)
		}
		h.forgetTokenAlias(q, t.PANAlias)
		h.log.InfoContext(q.ctx, "cards: network token deleted by its reference; its alias was already gone",
			"network_token_id", t.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
	case errors.Is(err, vault.ErrNotFound):
		// A token stored before references were kept: nothing names it
		// at the token service any more.
		h.log.WarnContext(q.ctx, "cards: network token alias already gone; a token without a reference is not deleted at the token service",
			"network_token_id", t.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
	default:
		return fmt.Errorf("reveal network token %s: %w", t.ID, err)
	}
	t.State, t.UpdatedAt = TokenDeleted, h.now().UTC()
	return nil
}

// deletePANAlias deletes the pan_alias of rec, a card being deleted that
// was the last card using it, and gives a card another gateway stored with
// that alias meanwhile its number back (restore.go): the number is read
// first (an audited reveal, purpose vault.PurposeRestore), kept only for
// the call.
func (h *Handler) deletePANAlias(q *request, rec *record) error {
	if rec.PANAlias == "" {
		return nil
	}
	out, err := h.vault.Reveal(vault.WithPurpose(q.ctx, vault.PurposeRestore), []string{rec.PANAlias})
	if err == nil && len(out) != 1 {
		err = errors.New("vault reveal: wrong number of results")
	}
	if err != nil {
		return fmt.Errorf("read the card number before deleting its alias: %w", err)
	}
	if errors.Is(out[0].Err, vault.ErrNotFound) {
		return nil // already gone (a DELETE finished by a second one)
	}
	if out[0].Err != nil {
		return fmt.Errorf("read the card number before deleting its alias: %w", out[0].Err)
	}
	if keepsPANAlias(rec, out[0].CreatedAt) {
		// A card stored before PANAliasOrigin, whose alias is older than it.
		h.log.InfoContext(q.ctx, "cards: pan_alias kept: the account made it before the card", "card_id", rec.ID,
			"account_id", q.p.Account, "trace_id", q.obs.TraceID)
		return nil
	}
	pan := out[0].Value
	if err := h.deleteNumberAlias(q, rec.PANAlias, pan); err != nil {
		return err
	}
	if err := h.restoreUsers(q, rec.PANAlias, pan, rec.ID); err != nil {
		return fmt.Errorf("restore the card number of a card stored during the delete: %w", err)
	}
	return nil
}

// deleteAlias deletes alias from the vault; "" and an alias already gone
// are fine.
func (h *Handler) deleteAlias(q *request, alias string) error {
	if alias == "" {
		return nil
	}
	if err := h.vault.Delete(q.ctx, alias); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("delete a card alias from the vault: %w", err)
	}
	return nil
}
