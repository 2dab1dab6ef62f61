package cards

// Network-token payments through the outbound proxy (issue 22): a
// network_token route filter hands the card reference it found in a
// merchant's request to Payment, which answers the values the filter puts
// into the request to the processor.
//
// Decisions:
//   - The reference is a card id (CRD…) or any alias of the card's PAN in
//     the account (the card's pan_alias, or an alias the merchant got from
//     an inbound route or /aliases): the PAN behind it is fingerprinted and
//     the account's card with that fingerprint is used. A reference that is
//     neither → ErrUnknownCard (422 unknown_card). Several cards of one
//     number (duplicate detection off): the primary one (duplicates.go:
//     the one made with detection on, else the oldest with an active
//     token, else the oldest); a card id names exactly one card.
//   - With an active network token: the token PAN, the token's expiry
//     (month two digits, year four), a fresh cryptogram of the token's
//     brand for the filter's transaction type (the token's counter is
//     reserved in the stored record before the cryptogram is made, and the
//     cryptogram is used only when the token is still active afterwards,
//     as for POST …/cryptogram) and its ECI; the CVC field is emptied (a
//     token payment carries none). A token found suspended or deleted on
//     either read counts as none (below). A token service that fails to
//     make the cryptogram, or answers one that cannot be used (tokens.go),
//     refuses the payment with ErrTokenServiceUnavailable (502 through the
//     proxy), fallback or not: the card has a token, and its PAN is not
//     sent instead.
//   - Without one: the PAN, the card's expiry and its CVC when it still
//     has one ("" when it expired or was never given), cryptogram and ECI
//     emptied — only when the filter allows the fallback; else
//     ErrNoActiveToken (422 no_active_network_token). A card whose token
//     is suspended (lifecycle.go), or which the token service says is
//     deleted or suspended, counts as having none.
//   - Every value is read through the vault with the proxy's context: the
//     reveals are audited with the route and proxy client as the actor.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// Payment errors: Code names the refusal the proxy answers (422 unless
// its table says otherwise: card_conflict 409, token_service_unavailable 502).
var (
	ErrUnknownCard   = &PaymentError{Code: "unknown_card", Detail: "the card reference is not a card of this account"}
	ErrNoActiveToken = &PaymentError{Code: "no_active_network_token", Detail: "the card has no active network token and the route does not fall back to the card number"}
	// ErrCardConflict: the card changed under every try of the payment
	// (other gateways or requests writing it at the same time); nothing
	// was paid with it and the request may be retried.
	ErrCardConflict = &PaymentError{Code: codeCardConflict, Detail: "the card was changed by other requests at the same time; retry"}
	// ErrTokenServiceUnavailable: the card has an active network token but
	// the token service failed to make its cryptogram, or answered one that
	// cannot be used (502 token_service_unavailable); nothing was sent, and
	// the card number is not sent instead (the card has a token).
	ErrTokenServiceUnavailable = &PaymentError{Code: "token_service_unavailable",
		Detail: "the network token service failed or gave an answer that cannot be used; try again later"}
)

// PaymentError is a refusal of a payment request.
type PaymentError struct{ Code, Detail string }

func (e *PaymentError) Error() string { return "cards: " + e.Detail }

// PaymentCode returns the refusal's code (an answer's error code).
func (e *PaymentError) PaymentCode() string { return e.Code }

// PaymentValues are what a payment puts into the processor request.
type PaymentValues struct {
	PAN, ExpMonth, ExpYear, Cryptogram, ECI, CVC string
	Token                                        bool // PAN is a network token PAN
}

// Payment resolves ref (a card id or an alias of a card's PAN) in account
// into payment values; use "" is the token type's. ctx carries the vault
// actor (route, client, account).
func (h *Handler) Payment(ctx context.Context, account, ref string, fallback bool, use tsp.Use) (PaymentValues, error) {
	id := ref
	if !validCardID(ref) {
		out, err := h.vault.Reveal(ctx, []string{ref})
		if err != nil {
			return PaymentValues{}, fmt.Errorf("cards: payment: reveal the card reference: %w", err)
		}
		if len(out) != 1 || out[0].Err != nil || !pkgpan.Valid(out[0].Value) {
			if len(out) == 1 && out[0].Err != nil && !errors.Is(out[0].Err, vault.ErrNotFound) {
				return PaymentValues{}, fmt.Errorf("cards: payment: reveal the card reference: %w", out[0].Err)
			}
			return PaymentValues{}, ErrUnknownCard
		}
		held, err := cardsOfFingerprint(ctx, h.store, account, fingerprint(h.fpKey, account, out[0].Value))
		if err != nil {
			return PaymentValues{}, fmt.Errorf("cards: payment: %w", err)
		}
		if len(held) == 0 {
			return PaymentValues{}, ErrUnknownCard
		}
		id = primaryCard(held).ID
	}
	defer h.lock(account, id)()
	q := &request{ctx: ctx, p: principalOf(account)}
	rec, err := h.loadID(q, id)
	if err != nil {
		return PaymentValues{}, ErrUnknownCard
	}
	if rec.activeToken() != nil {
		v, err := h.tokenPayment(q, rec, use)
		var je *jsonapi.Error
		if errors.As(err, &je) && je.Status == http.StatusNotFound { // deleted meanwhile
			return PaymentValues{}, ErrUnknownCard
		}
		if errors.As(err, &je) && je.Status == http.StatusConflict && len(je.Objects) > 0 &&
			je.Objects[0].Code == codeCardConflict { // lost every compare-and-swap (errCardConflict)
			return PaymentValues{}, ErrCardConflict
		}
		if errors.Is(err, errTokenService) && !errors.Is(err, tsp.ErrDeleted) && !errors.Is(err, tsp.ErrSuspended) {
			h.log.WarnContext(ctx, "cards: payment: the token service failed", "card_id", rec.ID, "account_id", account,
				"error", err.Error())
			return PaymentValues{}, ErrTokenServiceUnavailable
		}
		if !errors.Is(err, tsp.ErrDeleted) && !errors.Is(err, tsp.ErrSuspended) &&
			!errors.Is(err, errTokenSuspended) && !errors.Is(err, errNoActiveToken) {
			return v, err
		}
	}
	if !fallback {
		return PaymentValues{}, ErrNoActiveToken
	}
	aliases := []string{rec.PANAlias}
	if rec.CVCAlias != "" {
		aliases = append(aliases, rec.CVCAlias)
	}
	out, err := h.vault.Reveal(ctx, aliases)
	if err != nil {
		return PaymentValues{}, fmt.Errorf("cards: payment: reveal the card: %w", err)
	}
	if out[0].Err != nil {
		return PaymentValues{}, ErrUnknownCard
	}
	v := PaymentValues{PAN: out[0].Value, ExpMonth: twoDigits(rec.ExpMonth), ExpYear: fourDigits(rec.ExpYear)}
	if len(out) == 2 && out[1].Err == nil {
		v.CVC = out[1].Value
	}
	return v, nil
}

// tokenPayment makes the token values of rec's active token: its counter
// is reserved in the stored record first, and the cryptogram is returned
// only when the token is still active after it was made (tokens.go).
func (h *Handler) tokenPayment(q *request, rec *record, use tsp.Use) (PaymentValues, error) {
	t, err := h.reserveCounter(q, rec, "")
	if err != nil {
		return PaymentValues{}, fmt.Errorf("cards: payment: store the token counter: %w", err)
	}
	if use == "" {
		use = defaultUse(t)
	}
	tokenPAN, c, err := h.makeCryptogram(q, rec.ID, t, use)
	if err != nil {
		return PaymentValues{}, fmt.Errorf("cards: payment: cryptogram: %w", err)
	}
	return PaymentValues{PAN: tokenPAN, ExpMonth: twoDigits(t.ExpMonth), ExpYear: fourDigits(t.ExpYear),
		Cryptogram: c.Value, ECI: c.ECI, Token: true}, nil
}

func twoDigits(m int) string {
	if m < 10 {
		return "0" + strconv.Itoa(m)
	}
	return strconv.Itoa(m)
}

func fourDigits(y int) string {
	fy, ok := fullYear(y)
	if !ok {
		return strconv.Itoa(y)
	}
	return strconv.Itoa(fy)
}

// principalOf is the principal of a payment: the proxy client's account
// (the proxy authenticated it; its vault actor is in the context).
func principalOf(account string) auth.Principal { return auth.Principal{Account: account} }
