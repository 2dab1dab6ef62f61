package cards

// Account settings (issue 22).
//
// Decisions:
//   - Settings come from the operator (serve reads them from the cards
//     configuration: network_tokens for every account or
//     network_token_accounts for some, token_type, and duplicate_detection
//     with duplicate_detection_off_accounts), not from an API: they
//     change what the gateway does with every card of an account.
//   - With network tokens on, a card created (201) is provisioned a
//     network token at once, in the same request; a failure does not fail
//     the create: the card shows enrollment_status "failed" (the token
//     service failed; POST …/network-tokens retries) or "unsupported" (a
//     brand without a token service). A duplicate (303) provisions nothing:
//     its card was provisioned when it was created, and provisioning is
//     skipped while a card has an active token (the spec page). Cards stored
//     before network tokens were turned on are provisioned by
//     POST …/network-tokens, or by the background job of backfill.go.
//   - enrollment_status is shown on cards of accounts with network tokens
//     on and on every card that has or had a token: "enrolled" (an active
//     token, or one the network suspended), "not_enrolled", "unsupported" or "failed". Other cards keep
//     the spec page's attributes exactly.
//   - The token type (card_on_file or ecommerce, default ecommerce) is
//     kept with each token provisioned and is the default use of its
//     cryptograms (POST …/cryptogram and network_token routes without a
//     transaction_type): a card-on-file token's cryptogram carries the
//     merchant-initiated ECI.

import (
	"errors"

	"github.com/aliasgate/aliasgate/cards/tsp"
)

// Token types.
const (
	TokenTypeEcommerce  = "ecommerce"
	TokenTypeCardOnFile = "card_on_file"
)

// Enrollment statuses.
const (
	EnrollmentEnrolled    = "enrolled"
	EnrollmentNotEnrolled = "not_enrolled"
	EnrollmentUnsupported = "unsupported"
	EnrollmentFailed      = "failed"
)

// AccountSettings are one account's card settings.
type AccountSettings struct {
	NetworkTokens bool   // provision a network token for every card created
	TokenType     string // TokenTypeEcommerce ("") or TokenTypeCardOnFile
	// DuplicateDetectionOff makes POST /cards with a card number the
	// account already holds create a new card (201) instead of answering
	// 303 (duplicates.go). The zero value, detection on, is the default.
	DuplicateDetectionOff bool
}

// Settings gives each account's settings (serve: the cards configuration).
type Settings interface {
	CardSettings(account string) AccountSettings
}

// settings returns the settings of account (none without Options.Settings).
func (h *Handler) settings(account string) AccountSettings {
	var s AccountSettings
	if h.accounts != nil {
		s = h.accounts.CardSettings(account)
	}
	if s.TokenType == "" {
		s.TokenType = TokenTypeEcommerce
	}
	return s
}

// enrollment returns the enrollment_status of rec, "" when it is not shown.
func (h *Handler) enrollment(account string, rec *record) string {
	switch {
	case rec.currentToken() != nil:
		return EnrollmentEnrolled
	case rec.Enrollment != "":
		return rec.Enrollment
	case len(rec.Tokens) > 0 || h.settings(account).NetworkTokens:
		return EnrollmentNotEnrolled
	}
	return ""
}

// autoProvision provisions a token for a card just created when the
// account has network tokens on; the outcome shows in rec's enrollment.
func (h *Handler) autoProvision(q *request, rec *record, pan string) {
	if !h.settings(q.p.Account).NetworkTokens {
		return
	}
	defer h.lock(q.p.Account, rec.ID)()
	_, _, err := h.provisionToken(q, rec, pan, SourceAPI)
	if err == nil {
		return
	}
	status := EnrollmentFailed
	if errors.Is(err, tsp.ErrUnsupportedBrand) {
		status = EnrollmentUnsupported
	} else {
		h.log.WarnContext(q.ctx, "cards: automatic network token provisioning failed", "card_id", rec.ID,
			"account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
	}
	stored, err := h.setEnrollment(q, rec, status)
	if err != nil {
		h.log.WarnContext(q.ctx, "cards: enrollment status not stored", "card_id", rec.ID,
			"account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
		return
	}
	*rec = *stored
}

// setEnrollment stores status as the enrollment of card rec unless the
// card, as stored, has a network token or an enrollment status already
// (another gateway provisioned or marked it) or is being deleted; it
// returns the card as stored.
func (h *Handler) setEnrollment(q *request, rec *record, status string) (*record, error) {
	_, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
		if next.Deleting || len(next.Tokens) > 0 || next.Enrollment != "" {
			return nil, errNoWrite
		}
		next.Enrollment = status
		return nil, nil
	})
	return next, err
}

// defaultUse is the cryptogram use of token t when the request names none.
func defaultUse(t *tokenRecord) tsp.Use {
	if t.Type == TokenTypeCardOnFile {
		return tsp.UseCardOnFile
	}
	return tsp.UseEcommerce
}
