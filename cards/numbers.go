package cards

// The numbers of every account's cards (vault/numbers.go).
//
// Decisions:
//   - Every card number a card is given (created, reissued, put back after
//     the vault API deleted its alias) and every token PAN provisioned is
//     indexed in the vault's numbers index (Options.Numbers), one for
//     every account.
//   - A token service answering a provisioning with a number that a card
//     or a token of any account already holds is refused as one holding a
//     number of this account's is (tokens.go: 502 token_service_unavailable,
//     the card left without a token, nothing deleted at the token service);
//     the answer and the log say nothing of which account holds it. Before,
//     only this account's vault was asked, and another account's card
//     number or token PAN became this card's token: the token service had
//     tied two accounts' cards to one number.
//   - A card's number is indexed with Numbers.Add, which reads nothing
//     of the index (a create of a number another account holds, or held,
//     costs what any create costs), and any number is accepted as a card
//     number, another account's token PAN too: a refusal, or work that
//     depends on the index, would tell the client whether another
//     merchant on the gateway has that card.
//   - An alias of a number the cards delete (a card's pan_alias, a
//     token's, the old number's at a reissue) has its index entry removed
//     after it (deleteNumberAlias, forgetNumber: one write, whatever else
//     the index holds): since Add no longer cleans the number's other
//     entries, each create and delete left one behind for good. A token's
//     alias that a card of the account has as its pan_alias (the card's
//     number is the token PAN) is not deleted, and keeps its entry: it is
//     that card's now (releaseTokenAlias).
//   - IndexNumbers builds the index over the cards stored before it
//     existed; serve runs it at start while the store is not marked
//     indexed (and after an accounts migration that copied aliases), and
//     `aliasgate vault copy` on its destination.

import (
	"context"
	"fmt"

	"github.com/aliasgate/aliasgate/vault"
)

// Numbers is the vault's numbers index (*vault.Numbers).
type Numbers interface {
	// Claim indexes number under alias; vault.ErrNumberHeld when another
	// live alias, of any account, holds it.
	Claim(ctx context.Context, number, alias string) error
	// Add indexes number under alias, whoever else holds it.
	Add(ctx context.Context, number, alias string) error
	// Remove removes the entry of number under alias (deleted).
	Remove(ctx context.Context, number, alias string) error
}

// NumberIndexer builds the numbers index (*vault.Numbers).
type NumberIndexer interface {
	AddAliases(ctx context.Context, aliases []string) error
	MarkIndexed(ctx context.Context) error
}

// CardScanner lists every card of every account (vault.Exporter).
type CardScanner interface {
	ScanCards(ctx context.Context, after string, limit int) ([]vault.CardDump, error)
}

// IndexNumbers indexes the card number and token PANs of every card st
// holds in n, then marks the index built. It is idempotent.
func IndexNumbers(ctx context.Context, st CardScanner, n NumberIndexer) error {
	err := indexAllCards(ctx, st, func(_ vault.CardDump, rec *migrationRecord, aliases []string) ([]string, error) {
		aliases = append(aliases, rec.tokenAliases()...)
		if rec.PANAlias != "" {
			aliases = append(aliases, rec.PANAlias)
		}
		return aliases, nil
	}, n.AddAliases, n.MarkIndexed)
	if err != nil {
		return fmt.Errorf("cards: index numbers: %w", err)
	}
	return nil
}

// indexAllCards builds an index over every card st holds: add appends the
// entries of one card, put writes them (once per scanPage of them, and
// the rest at the end), then mark records the index built.
func indexAllCards[T any](ctx context.Context, st CardScanner, add func(vault.CardDump, *migrationRecord, []T) ([]T, error),
	put func(context.Context, []T) error, mark func(context.Context) error) error {
	var entries []T // of several cards: one write per scanPage of them
	err := scanAllCards(ctx, st, func(c vault.CardDump, rec *migrationRecord) error {
		var err error
		if entries, err = add(c, rec, entries); err != nil || len(entries) < scanPage {
			return err
		}
		err = put(ctx, entries)
		entries = entries[:0]
		return err
	})
	if err == nil && len(entries) > 0 {
		err = put(ctx, entries)
	}
	if err != nil {
		return err
	}
	return mark(ctx)
}

// deleteNumberAlias deletes alias, which holds number (a card number or a
// token PAN), from the vault, then its numbers index entry. The alias is
// a UUID never made again, so its entry counts for nothing once it is
// deleted; a removal that fails is logged and leaves that harmless entry.
func (h *Handler) deleteNumberAlias(q *request, alias, number string) error {
	if err := h.deleteAlias(q, alias); err != nil {
		return err
	}
	h.forgetNumber(q, alias, number)
	return nil
}

// forgetNumber removes the numbers index entry of alias, deleted, which
// held number.
func (h *Handler) forgetNumber(q *request, alias, number string) {
	if h.numbers == nil || alias == "" {
		return
	}
	if err := h.numbers.Remove(q.ctx, number, alias); err != nil {
		h.log.WarnContext(q.ctx, "cards: a deleted alias stays in the numbers index", "account_id", q.p.Account,
			"error", err.Error(), "trace_id", q.obs.TraceID)
	}
}

// releaseTokenAlias deletes alias, the PAN alias of a network token being
// retired or undone, whose value is tokenPAN, from the vault and the
// numbers index, unless a card of the account has tokenPAN as its number:
// such a card (a PCI client is shown token PANs, and wallets hand
// merchants token PANs as card numbers) was given the same alias, the
// vault's one per value and account, so the alias stays as that card's
// (releaseAlias) and kept is true. Deleting it failed the retirement
// (AliasUse refuses to delete a card's pan_alias: the token's DELETE, its
// card's DELETE, a token-deleted event all failed for good) or, without
// that check, took that card's number.
//
// Its vault delete is the cards' own release of the token's alias
// (withTokenRelease: AliasUse does not count the token, still live in its
// record); the token alias index entry goes once the alias is released
// (forgetTokenAlias), deleted or kept.
func (h *Handler) releaseTokenAlias(q *request, alias, tokenPAN string) (kept bool, err error) {
	if alias == "" {
		return false, nil
	}
	rq := *q
	rq.ctx = withTokenRelease(q.ctx, alias)
	if kept, err = h.releaseAlias(&rq, alias, tokenPAN, false); err != nil {
		return kept, err
	}
	h.forgetTokenAlias(q, alias)
	if !kept {
		h.forgetNumber(q, alias, tokenPAN)
	}
	return kept, nil
}

// addNumber indexes a card number the card's alias holds (no numbers
// index: nothing to do).
func (h *Handler) addNumber(ctx context.Context, number, alias string) error {
	if h.numbers == nil {
		return nil
	}
	return h.numbers.Add(ctx, number, alias)
}
