package cards

// Events (issue 22): every successful change of a card or of its network
// token is published to Options.Events (serve: the webhook outbox).
//
// Decisions:
//   - Event types: card.created (201 only; a duplicate's 303 changes
//     nothing), card.updated (PATCH with a change, an account updater
//     reissue), card.deleted, network_token.created (provisioned, by
//     POST …/network-tokens or automatically on create),
//     network_token.updated (a new token expiry: PATCH of the card's expiry,
//     the network's token update, a reissue with a new expiry),
//     network_token.suspended, network_token.resumed, network_token.deleted
//     (DELETE …/network-tokens, DELETE /cards/{id}, or by the network).
//     A network event that changes only the token publishes only the
//     network_token.* event: the card's own attributes did not change.
//   - data: card.* {"card_id","last4","brand","exp_month","exp_year",
//     "source"}, card.updated also {"changed_fields","card_update_id"};
//     network_token.* {"card_id","network_token_id","status","exp_month",
//     "exp_year","source"}. Never a PAN, token PAN, CVC, cryptogram or
//     alias (not even an alias: an alias is a key to card data), and no
//     fingerprint.
//   - source, where the change came from:
//       api                   the Card Management API (every card.created,
//                             card.deleted, PATCH, provisioning, DELETE of a
//                             token)
//       network-token-update  the token service's token update (new token
//                             expiry); also the card_updates event
//       network               the token service suspended, resumed or
//                             deleted the token (card_updates event
//                             "network-token-status")
//       account-updater       the card was reissued (new PAN and/or
//                             expiry); also the card_updates event
//       backfill              network_token.created by the background
//                             provisioning of cards stored before network
//                             tokens were on (backfill.go)
//   - An event is published after the change is stored. When Publish fails
//     the change stands (the answer is the change's, as without events: a
//     client told "failed" would retry a change that was made); the failure
//     is logged at error level ("cards: event not published", with the
//     event type, account and card id) for the operator. The outbox is in
//     the same store as the cards, so a failure means the store failed
//     right after the change; there is no second copy to replay from.

import (
	"context"
	"encoding/json"
)

// Events receives card and network-token events (serve: the webhook outbox).
type Events interface {
	// Publish records one event of account durably; data is the event's JSON object.
	// Never card-sensitive: no PAN, CVC, token PAN, cryptogram, and no alias either;
	// only ids, last4, brand, expiry, status, changed field names, source.
	Publish(ctx context.Context, account, eventType string, data []byte) error
}

// Event types.
const (
	EventCardCreated          = "card.created"
	EventCardUpdated          = "card.updated"
	EventCardDeleted          = "card.deleted"
	EventNetworkTokenCreated  = "network_token.created"
	EventNetworkTokenUpdated  = "network_token.updated"
	EventNetworkTokenSuspend  = "network_token.suspended"
	EventNetworkTokenResumed  = "network_token.resumed"
	EventNetworkTokenDeleted  = "network_token.deleted"
	SourceAPI                 = "api"
	SourceNetworkTokenUpdate  = "network-token-update"
	SourceNetwork             = "network"
	SourceAccountUpdater      = "account-updater"
	SourceBackfill            = "backfill"
	cardUpdateAPI             = "api-update"
	cardUpdateNetworkTokenUpd = SourceNetworkTokenUpdate
	cardUpdateTokenStatus     = "network-token-status"
	cardUpdateAccountUpdater  = SourceAccountUpdater
)

// cardEventData is the data of a card.* event.
type cardEventData struct {
	CardID        string   `json:"card_id"`
	Last4         string   `json:"last4"`
	Brand         string   `json:"brand"`
	ExpMonth      int      `json:"exp_month"`
	ExpYear       int      `json:"exp_year"`
	Source        string   `json:"source"`
	ChangedFields []string `json:"changed_fields,omitempty"`
	CardUpdateID  string   `json:"card_update_id,omitempty"`
}

// tokenEventData is the data of a network_token.* event.
type tokenEventData struct {
	CardID         string `json:"card_id"`
	NetworkTokenID string `json:"network_token_id"`
	Status         string `json:"status"`
	ExpMonth       int    `json:"exp_month"`
	ExpYear        int    `json:"exp_year"`
	Source         string `json:"source"`
}

// publishCard publishes a card.* event of rec; upd is the card update of
// a card.updated (nil otherwise).
func (h *Handler) publishCard(q *request, typ string, rec *record, source string, upd *storedUpdate) {
	d := cardEventData{CardID: rec.ID, Last4: rec.Last4, Brand: rec.Brand, ExpMonth: rec.ExpMonth,
		ExpYear: rec.ExpYear, Source: source}
	if upd != nil {
		d.ChangedFields, d.CardUpdateID = upd.ChangedFields, upd.ID
	}
	h.publish(q, typ, rec.ID, d)
}

// publishToken publishes a network_token.* event of rec's token t.
func (h *Handler) publishToken(q *request, typ string, rec *record, t *tokenRecord, source string) {
	h.publish(q, typ, rec.ID, tokenEventData{CardID: rec.ID, NetworkTokenID: t.ID, Status: t.State,
		ExpMonth: t.ExpMonth, ExpYear: t.ExpYear, Source: source})
}

func (h *Handler) publish(q *request, typ, cardID string, data any) {
	if h.events == nil {
		return
	}
	b, err := json.Marshal(data)
	if err == nil {
		err = h.events.Publish(q.ctx, q.p.Account, typ, b)
	}
	if err != nil {
		h.log.ErrorContext(q.ctx, "cards: event not published", "event_type", typ, "card_id", cardID,
			"account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
	}
}
