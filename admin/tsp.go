package admin

// POST /admin/tsp/simulate (issue 22): the token service simulator raises
// one network lifecycle event for a card, behind admin.token, for `aliasgate
// tsp simulate`.
//
// Decisions:
//   - The body names the card with its account: {"account","card_id",
//     "event", optional "new_pan": true, "exp_month", "exp_year"}. There is
//     no default account: admin.token is the operator's, who may reach
//     every account's card, but only by naming the account it is in (a card
//     id with another account answers 404, as a missing card).
//   - A new PAN is never sent: "new_pan" is a boolean asking the simulator
//     to make one. Unknown fields, and a body that is not that object, are
//     refused (400) without echoing anything of the body.
//   - Answers: 200 with the card's non-sensitive state (card_id, event,
//     last4, exp_month, exp_year, network_token_id, network_token_state,
//     card_update_id); 404 no such card in the account; 409 the card has no
//     network token, the event does not apply to the token's state, or it
//     conflicts with the card (a reissued number that is another card of
//     the account, a token the card no longer has): raising it again
//     changes nothing; 422 an invalid event or expiry; 501 when the token
//     service is not the simulator; otherwise 503 with Retry-After when
//     a retry may succeed, 500 when it cannot (storeFailed).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// TSPEvent is the body of POST /admin/tsp/simulate.
type TSPEvent struct {
	Account  string `json:"account"`
	CardID   string `json:"card_id"`
	Event    string `json:"event"`
	NewPAN   bool   `json:"new_pan,omitempty"`
	ExpMonth int    `json:"exp_month,omitempty"`
	ExpYear  int    `json:"exp_year,omitempty"`
}

// Errors a TSPSimulator wraps so that the endpoint answers 404, 409, 422
// and 501; any other error is 503 or 500 (storeFailed). The texts of ErrInvalidTSPEvent,
// ErrTokenState and ErrEventConflict errors are answered, so they must
// hold nothing sensitive.
var (
	ErrNoCard          = errors.New("admin: no such card in the account")
	ErrNoNetworkToken  = errors.New("admin: the card has no network token")
	ErrInvalidTSPEvent = errors.New("admin: invalid event")
	ErrNotSimulator    = errors.New("admin: the token service is not the simulator")
	// ErrTokenState: the event does not apply to the token's state (a
	// resume of an active token, a suspension of a suspended one): 409.
	ErrTokenState = errors.New("admin: network token state")
	// ErrEventConflict: the event conflicts with the card as it is (a
	// reissued number that is another card of the account, a token the
	// card no longer has); nothing changed: 409.
	ErrEventConflict = errors.New("admin: the event conflicts with the card")
)

// TSPSimulator raises simulated network events (cards.Handler, adapted by
// cmd/aliasgate: this package does not import cards). The result is
// answered as JSON and must hold nothing sensitive.
type TSPSimulator interface {
	SimulateTSP(ctx context.Context, ev TSPEvent) (result any, err error)
}

// maxTSPBody bounds the request body.
const maxTSPBody = 4 << 10

type tspHandler struct {
	sim TSPSimulator
	log *slog.Logger
}

func (h *tspHandler) simulate(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send Content-Type: application/json"})
		return
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTSPBody))
	dec.DisallowUnknownFields()
	var ev TSPEvent
	if err := dec.Decode(&ev); err != nil || dec.More() {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body is {"account","card_id","event"} with optional "new_pan": true, "exp_month", "exp_year"`})
		return
	}
	if ev.Account == "" || ev.CardID == "" || ev.Event == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "account, card_id and event are required"})
		return
	}
	res, err := h.sim.SimulateTSP(r.Context(), ev)
	switch {
	case err == nil:
		h.log.Info("admin: network event simulated", "account_id", ev.Account, "card_id", ev.CardID, "event", ev.Event, "by", "admin")
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, ErrNoCard):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the account has no card with this id"})
	case errors.Is(err, ErrNoNetworkToken):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the card has no network token: network events reach a card through its token; give it one first (POST /cards/{id}/network-tokens, or cards.network_tokens: true)"})
	case errors.Is(err, ErrTokenState), errors.Is(err, ErrEventConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrInvalidTSPEvent):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrNotSimulator):
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "the token service is not the simulator"})
	default:
		h.log.Error("admin: network event simulation failed", "account_id", ev.Account, "card_id", ev.CardID,
			"event", ev.Event, "error", err.Error())
		storeFailed(w, err, "the event could not be applied")
	}
}
