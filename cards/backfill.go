package cards

// Background provisioning of the cards an account stored before network
// tokens were turned on for it (issue 22).
//
// Decisions:
//   - ProvisionStored is one bounded step: it reads one page of the
//     account's cards (id order, after a cursor) and provisions a token for
//     each card that never had one and was never tried (no token, no
//     enrollment status), under the card's lock, as automatic provisioning
//     on create does. A brand without a token service is marked
//     "unsupported" and not tried again. A card whose token the token
//     service answered with what cannot be used (tokens.go: no card
//     number, the card's own PAN, a number the account already stores) is
//     marked "failed", as at a card's creation, and the step goes on: it
//     stopped there, and tried the same card every 30 s for good, so no
//     card after it was ever provisioned. Any other failure (the token
//     service or the vault is down) stops the step with the error and marks
//     nothing, so the next run tries the card again.
//   - It is resumable without stored state: provisioned and marked cards
//     are skipped, so a run started again (a restart) only re-reads the
//     cards it already did. serve runs it once per start when
//     cards.provision_stored is on (cmd/aliasgate), a page at a time with a
//     pause between pages, so it neither floods the token service nor holds
//     the store.
//   - It is meant to run on one gateway (the setting is off by default;
//     turn it on in one gateway of a cluster): two gateways would ask the
//     token service for the same cards twice. A card still never gets two
//     tokens: the token is stored with compare-and-swap (cas.go), and a
//     gateway that finds, on re-reading, that the card got a token
//     meanwhile deletes its own again (provisionToken).
//   - The vault calls act for the card's account with the route
//     "internal:provisioner" as the actor of the audited PAN reveals; the
//     network_token.created events have source "backfill".

import (
	"context"
	"errors"
	"fmt"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
)

// provisionerActor is the route named as the actor of the backfill's reveals.
const provisionerActor = "internal:provisioner"

// ProvisionStored provisions network tokens for up to limit of account's
// cards whose ids sort after after and that never had one. next is the
// cursor of the next step ("" when the account's last card was read);
// provisioned counts the tokens made. Nothing happens for an account
// without network tokens.
func (h *Handler) ProvisionStored(ctx context.Context, account, after string, limit int) (next string, provisioned int, err error) {
	if !h.settings(account).NetworkTokens {
		return "", 0, nil
	}
	if limit <= 0 {
		limit = 1
	}
	ids, _, err := h.store.ListCards(ctx, account, after, limit)
	if err != nil {
		return after, 0, fmt.Errorf("cards: provision stored cards: list: %w", err)
	}
	q := &request{ctx: vault.WithAccount(vault.WithRoute(ctx, provisionerActor), account), p: principalOf(account),
		obs: Observability{TraceID: traceID(""), AccountID: account, VaultID: h.vaultID}}
	for _, id := range ids {
		done, err := h.provisionStored(q, id)
		if err != nil {
			return after, provisioned, err // this card again next time
		}
		if done {
			provisioned++
		}
		after = id
	}
	if len(ids) < limit {
		return "", provisioned, nil
	}
	return after, provisioned, nil
}

// provisionStored provisions card id when it never had a token.
func (h *Handler) provisionStored(q *request, id string) (bool, error) {
	defer h.lock(q.p.Account, id)()
	rec, err := h.loadEventCard(q, id) // read again under the lock
	if errors.Is(err, ErrNoSuchCard) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	if len(rec.Tokens) > 0 || rec.Enrollment != "" {
		return false, nil
	}
	if !brandTokenized(rec.Brand) {
		_, err := h.setEnrollment(q, rec, EnrollmentUnsupported)
		return false, err
	}
	pan, err := h.revealOne(q, rec.PANAlias)
	var je *jsonapi.Error
	if errors.As(err, &je) { // card_data_gone: nothing to provision, nothing to retry
		h.log.WarnContext(q.ctx, "cards: provision stored card: the vault no longer holds its number", "card_id", id,
			"account_id", q.p.Account)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cards: provision stored card %s: reveal: %w", id, err)
	}
	_, tokenPAN, err := h.provisionToken(q, rec, pan, SourceBackfill)
	if errors.Is(err, tsp.ErrUnsupportedBrand) {
		_, err := h.setEnrollment(q, rec, EnrollmentUnsupported)
		return false, err
	}
	if errors.Is(err, errTokenAnswer) { // refused for this card (logged): marked, the next cards go on
		_, err := h.setEnrollment(q, rec, EnrollmentFailed)
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("cards: provision stored card %s: %w", id, err)
	}
	return tokenPAN != "", nil // "": another writer gave the card its token meanwhile
}

// brandTokenized reports whether brand has a token service.
func brandTokenized(brand string) bool {
	return len(capabilities(brand, false)) > 0
}
