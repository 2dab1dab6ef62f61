package cards

// The token alias index: which card's network token a vault alias holds
// the PAN of (Store.TokenAliases).
//
// Decisions:
//   - A network token's PAN alias is protected from the vault API's delete
//     (DELETE /aliases/{alias}, POST /aliases/delete) as a card's
//     pan_alias is: AliasUse answers in use (409 alias_in_use, nothing
//     deleted) while a card not being deleted has a live token (active or
//     suspended) naming the alias. Before, a client of the account stored
//     the token PAN through the vault API (it gets the token's own alias,
//     one per value and account) and deleted it, and the token answered
//     409 card_data_gone for good.
//   - The index is keyed by (account, alias), not by a fingerprint of the
//     token PAN: the vault asks about one alias, and a token's alias is
//     the only one of its PAN that is the token's. Its entries name the
//     card; AliasUse reads the card and believes the record, so an entry
//     left behind (a failed removal) protects nothing, and only a missing
//     one matters: provisioning adds the entry before the record holding
//     the token is written (a failure to add it fails the provisioning,
//     502 as any store failure, the token undone), and the entry is removed
//     once the alias leaves the vault or stops being the token's
//     (releaseTokenAlias), or is found already gone (retireToken).
//   - The index entry alone does not close the race with a vault API
//     delete made while the token is provisioned: AliasUse reads the card,
//     which has no such token until its record is written. Each side
//     writes first and checks the other's store after, as restore.go does
//     for a card's pan_alias: the provisioning, once the record holding
//     the token is stored, redacts the token PAN again (keepTokenAlias),
//     and the vault API's delete, once the alias is deleted, reads the
//     index and the cards again (AliasUse.AliasDeleted, restoreTokens); a
//     live token that has the deleted alias gets its token PAN back under
//     a new alias (indexed first), which it is pointed at; a new alias
//     the token does not take (retired meanwhile by another gateway) is
//     released again through AliasUse (no withTokenRelease), so no token
//     PAN stays behind. Before, the token named a deleted alias: 409
//     card_data_gone for good.
//   - The cards' own deletes of a token's alias (its retirement: DELETE of
//     the token or of its card, a token-deleted event; the undoing of a
//     token no record took) carry the alias in their context
//     (withTokenRelease), and AliasUse does not count the token for them:
//     the token is still live in its record while its alias is deleted
//     (the record is marked after, so a failure part way is retried).
//     Another card having the alias as its pan_alias still counts
//     (releaseTokenAlias keeps it for that card).
//   - Cards stored before the index: IndexTokenAliases indexes the live
//     tokens of every card, run by serve at its start (before anything is
//     served) while the store is not marked indexed, and again after an
//     accounts migration that copied aliases (cards then name new
//     aliases). Not lazily: nothing leads from an alias to its token
//     without the index. A gateway of an older version sharing the store
//     adds no entries: the tokens it provisions after the build stay
//     unprotected (as every token was before); upgrade every gateway.

import (
	"context"
	"errors"
	"fmt"

	"github.com/aliasgate/aliasgate/vault"
)

// tokenReleaseKey is the context key of withTokenRelease.
type tokenReleaseKey struct{}

// withTokenRelease marks ctx as the cards' own release of alias, a
// network token's PAN alias (releaseTokenAlias): AliasUse does not count
// the token for it.
func withTokenRelease(ctx context.Context, alias string) context.Context {
	return context.WithValue(ctx, tokenReleaseKey{}, alias)
}

// tokenReleased reports whether ctx is the cards' own release of alias.
func tokenReleased(ctx context.Context, alias string) bool {
	a, ok := ctx.Value(tokenReleaseKey{}).(string)
	return ok && a != "" && a == alias
}

// tokenHolds reports whether a card of account, not being deleted, has a
// live network token whose PAN alias is alias (the index says which cards
// to read; their records decide).
func tokenHolds(ctx context.Context, store Store, account, alias string) (bool, error) {
	ids, err := store.CardsByTokenAlias(ctx, account, alias)
	if err != nil {
		return false, fmt.Errorf("cards of a token alias: %w", err)
	}
	for _, id := range ids {
		b, ok, err := store.GetCard(ctx, account, id)
		if err != nil {
			return false, fmt.Errorf("cards of a token alias: %w", err)
		}
		if !ok {
			continue
		}
		rec, err := decodeRecord(b)
		if err != nil {
			return false, err
		}
		if !rec.Deleting && rec.liveTokenAlias(alias) {
			return true, nil
		}
	}
	return false, nil
}

// liveTokenAlias reports whether a live token of rec has alias as its PAN
// alias.
func (rec *record) liveTokenAlias(alias string) bool {
	for _, t := range rec.Tokens {
		if t.live() && t.PANAlias == alias {
			return true
		}
	}
	return false
}

// indexTokenAlias adds the index entry of alias, the PAN alias of a token
// of card id being provisioned, before the record holding it is written.
func (h *Handler) indexTokenAlias(q *request, id, alias string) error {
	err := h.store.PutTokenAliases(q.ctx, []vault.TokenAlias{{Account: q.p.Account, Alias: alias, Card: id}})
	if err != nil {
		return fmt.Errorf("index the network token's alias: %w", err)
	}
	return nil
}

// forgetTokenAlias removes the index entries of alias, which no live token
// needs any more (deleted from the vault, or a card's pan_alias now); a
// failure is logged and leaves an entry that protects nothing.
func (h *Handler) forgetTokenAlias(q *request, alias string) {
	if alias == "" {
		return
	}
	if err := h.store.RemoveTokenAlias(q.ctx, q.p.Account, alias); err != nil {
		h.log.WarnContext(q.ctx, "cards: a released token alias stays in the token alias index", "account_id", q.p.Account,
			"error", err.Error(), "trace_id", q.obs.TraceID)
	}
}

// IndexTokenAliases indexes the PAN alias of every live network token of
// every card st holds in idx, then marks the index built. It is
// idempotent.
func IndexTokenAliases(ctx context.Context, st CardScanner, idx TokenAliases) error {
	err := indexAllCards(ctx, st, func(c vault.CardDump, _ *migrationRecord, entries []vault.TokenAlias) ([]vault.TokenAlias, error) {
		rec, err := decodeRecord(c.Record)
		if err != nil {
			return nil, fmt.Errorf("card %s: %w", c.ID, err)
		}
		for _, t := range rec.Tokens {
			if t.live() && t.PANAlias != "" {
				entries = append(entries, vault.TokenAlias{Account: c.Account, Alias: t.PANAlias, Card: c.ID})
			}
		}
		return entries, nil
	}, idx.PutTokenAliases, idx.MarkTokenAliasesIndexed)
	if err != nil {
		return fmt.Errorf("cards: index token aliases: %w", err)
	}
	return nil
}

// keepTokenAlias makes the live token tokenID of card rec (as read: rec.raw
// set), whose PAN is tokenPAN, point at a live alias of it: it redacts the
// token PAN again and, when the alias differs from the token's (the vault
// API deleted it meanwhile), indexes the new alias, points the token at it
// with a compare-and-swap write and checks again. It stops when the card
// is being deleted or the token is no longer live with the alias it
// started from; an alias its redaction made that the token then does not
// name (retired meanwhile, by another gateway) is released again, so that
// no token PAN stays in the vault with no token naming it. It returns the
// card as last read or written.
func (h *Handler) keepTokenAlias(q *request, rec *record, tokenID, tokenPAN string) (*record, error) {
	made := "" // the alias a redaction here made
	rec, gone, err := h.pointTokenAlias(q, rec, tokenID, tokenPAN, &made)
	if made == "" || (!gone && rec.liveTokenAlias(made)) {
		return rec, err
	}
	// Not the cards' own release of a token's alias (withTokenRelease): a
	// token another repair pointed at it meanwhile still counts.
	kept, rerr := h.releaseAlias(q, made, tokenPAN, true)
	switch {
	case errors.Is(rerr, vault.ErrInUse):
	case rerr != nil:
		if err == nil {
			err = fmt.Errorf("release the restored alias of a retired network token of card %s: %w", rec.ID, rerr)
		}
	case !kept:
		h.forgetTokenAlias(q, made)
		h.forgetNumber(q, made, tokenPAN)
	}
	return rec, err
}

// pointTokenAlias is keepTokenAlias's loop; *made is set to the alias a
// redaction made; gone reports the card deleted meanwhile (rec is then
// the card as last read).
func (h *Handler) pointTokenAlias(q *request, rec *record, tokenID, tokenPAN string, made *string) (_ *record, gone bool, _ error) {
	ctx := vault.WithPurpose(q.ctx, vault.PurposeRestore)
	for try := 1; ; try++ {
		t := rec.token(tokenID)
		if rec.Deleting || t == nil || !t.live() || t.PANAlias == "" {
			return rec, false, nil
		}
		toks, err := h.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID,
			Storage: vault.StoragePersistent}})
		if err != nil {
			return rec, false, fmt.Errorf("check the network token alias of card %s: %w", rec.ID, err)
		}
		alias, stale := toks[0].Alias, t.PANAlias
		if toks[0].Created {
			*made = alias
		}
		if alias == stale {
			return rec, false, nil
		}
		rq := *q
		rq.ctx = ctx
		if err := h.indexTokenAlias(&rq, rec.ID, alias); err != nil {
			return rec, false, err
		}
		if err := h.addNumber(ctx, tokenPAN, alias); err != nil { // numbers.go
			return rec, false, fmt.Errorf("index the network token of card %s: %w", rec.ID, err)
		}
		if try == casTries {
			return rec, false, errCardConflict()
		}
		pointed := false
		_, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
			pointed = false
			nt := next.token(tokenID)
			if next.Deleting || nt == nil || !nt.live() || nt.PANAlias != stale {
				return nil, errNoWrite // retired, or pointed elsewhere meanwhile: read again
			}
			nt.PANAlias, pointed = alias, true
			return nil, nil
		})
		if err != nil {
			if isNotFound(err) {
				return rec, true, nil // the card was deleted meanwhile
			}
			return rec, false, fmt.Errorf("point the network token of card %s at its restored alias: %w", rec.ID, err)
		}
		if !pointed {
			if next, err = h.loadAny(q, rec.ID); err != nil {
				if isNotFound(err) {
					return rec, true, nil
				}
				return rec, false, err
			}
		} else {
			h.forgetTokenAlias(q, stale)
			h.log.WarnContext(q.ctx, "cards: network token alias restored: it was deleted while the token was stored",
				"card_id", rec.ID, "network_token_id", tokenID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
		}
		rec = next
	}
}

// restoreTokens gives the live tokens of the account's cards that still
// have PAN alias alias, deleted a moment ago by the vault API after
// AliasUse let it go, their token PAN back (keepTokenAlias): a card whose
// record took the token between AliasUse's look-up and the delete.
func (h *Handler) restoreTokens(q *request, alias, tokenPAN string) error {
	ids, err := h.store.CardsByTokenAlias(q.ctx, q.p.Account, alias)
	if err != nil {
		return fmt.Errorf("cards of a token alias: %w", err)
	}
	var first error
	for _, id := range ids {
		rec, err := h.loadAny(q, id)
		if isNotFound(err) {
			continue
		}
		if err == nil {
			for _, t := range rec.Tokens {
				if t.live() && t.PANAlias == alias {
					_, err = h.keepTokenAlias(q, rec, t.ID, tokenPAN)
					break
				}
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
