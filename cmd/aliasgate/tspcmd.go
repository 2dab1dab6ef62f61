package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/aliasgate/aliasgate/admin"
	"github.com/aliasgate/aliasgate/cards"
)

// adminTSP gives the admin listener's POST /admin/tsp/simulate the Card
// Management API's simulator (admin does not import cards).
type adminTSP struct{ cards cardsSimulator }

// cardsSimulator is what adminTSP needs of cards.Handler.
type cardsSimulator interface {
	Simulate(ctx context.Context, req cards.SimulateRequest) (cards.SimulateResult, error)
}

func (a adminTSP) SimulateTSP(ctx context.Context, ev admin.TSPEvent) (any, error) {
	res, err := a.cards.Simulate(ctx, cards.SimulateRequest{Account: ev.Account, CardID: ev.CardID, Event: ev.Event,
		NewPAN: ev.NewPAN, ExpMonth: ev.ExpMonth, ExpYear: ev.ExpYear})
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, cards.ErrNoSuchCard):
		return nil, fmt.Errorf("%w (%w)", admin.ErrNoCard, err)
	case errors.Is(err, cards.ErrNoNetworkToken):
		return nil, fmt.Errorf("%w (%w)", admin.ErrNoNetworkToken, err)
	case errors.Is(err, cards.ErrTokenState):
		return nil, fmt.Errorf("%w: %w", admin.ErrTokenState, err)
	case errors.Is(err, cards.ErrReissueConflict):
		return nil, fmt.Errorf("%w: the reissued card number is another card of the account (duplicate detection on); nothing changed (%w)",
			admin.ErrEventConflict, err)
	case errors.Is(err, cards.ErrTokenMismatch):
		return nil, fmt.Errorf("%w: the event's network token is not the card's: the card got another token meanwhile; nothing changed (%w)",
			admin.ErrEventConflict, err)
	case errors.Is(err, cards.ErrInvalidEvent):
		return nil, fmt.Errorf("%w: %w", admin.ErrInvalidTSPEvent, err)
	case errors.Is(err, cards.ErrNoSimulator):
		return nil, fmt.Errorf("%w (%w)", admin.ErrNotSimulator, err)
	}
	return nil, err
}

// tspSimulator returns the admin listener's TSPSimulator; nil when the
// Card Management API is off.
func (gw *gateway) tspSimulator() admin.TSPSimulator {
	h, ok := gw.cardsAPI.(*cards.Handler)
	if !ok || h == nil {
		return nil
	}
	return adminTSP{h}
}

const tspSimulateUsage = `Has the running gateway's token service simulator raise one network
lifecycle event for a card, as a card network's token service would push
it. Events reach a card through its network token, so the card needs one
(POST /cards/{id}/network-tokens; else 409). EVENT is one of:
  token-updated    the token's expiry changes (--exp-month and --exp-year)
  token-suspended  the token makes no cryptogram until resumed (network_token
                   routes fall back to the card number or refuse); refused
                   for a token already suspended
  token-resumed    the suspended token is usable again; refused for an
                   active token
  token-deleted    the token is gone; its token PAN leaves the vault
  card-reissued    account updater: --new-pan (the simulator makes the new
                   card number: same BIN, never shown), and/or a new expiry
Each change lands in the card's card_updates with its source and is
published as an event. The card is named with its account (--account and
--card are required). Prints the card's non-sensitive state as JSON:
{"card_id","event","last4","exp_month","exp_year","network_token_id",
"network_token_state","card_update_id"}.

It goes through the running gateway's admin listener (POST
/admin/tsp/simulate) with admin.token (ALIASGATE_ADMIN_TOKEN), at
listen.admin or --admin URL: the simulator lives in the gateway.`

func runTSPSimulate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("tsp simulate EVENT --account A --card ID [--new-pan] [--exp-month M --exp-year Y] [--config F | --data-dir D] [--admin URL]",
		tspSimulateUsage)
	account := fs.String("account", "", "`account` of the card (required)")
	card := fs.String("card", "", "card `id` (CRD…, required)")
	newPAN := fs.Bool("new-pan", false, "card-reissued: a new card number, made by the simulator")
	expMonth := fs.Int("exp-month", 0, "new expiry `month` (1-12)")
	expYear := fs.Int("exp-year", 0, "new expiry `year` (2 or 4 digits)")
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	adminURL := fs.String("admin", "", "the gateway's admin listener `URL` (http://host:port; default: listen.admin)")
	event, err := parseTSPArgs(fs, e, args)
	if err != nil {
		return helpOK(err)
	}
	if event == "" {
		return usagef("tsp simulate: the event is required (see --help)")
	}
	if *account == "" || *card == "" {
		return usagef("tsp simulate: --account and --card are required (see --help)")
	}
	if (*expMonth == 0) != (*expYear == 0) {
		return usagef("tsp simulate: a new expiry is --exp-month and --exp-year together (see --help)")
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if cfg.Admin.Token == "" {
		return errors.New("admin.token (ALIASGATE_ADMIN_TOKEN) is not set: the running gateway's simulator endpoint needs it " +
			"(set the same token for the gateway and this command)")
	}
	body, err := json.Marshal(admin.TSPEvent{Account: *account, CardID: *card, Event: event, NewPAN: *newPAN,
		ExpMonth: *expMonth, ExpYear: *expYear})
	if err != nil {
		return err
	}
	return adminRequest(ctx, e, cfg, *adminURL, http.MethodPost, "/admin/tsp/simulate", body)
}

// parseTSPArgs parses EVENT and the flags (in any order); an event with a
// digit is refused without being echoed (a card number typed by mistake).
func parseTSPArgs(fs *flag.FlagSet, e env, args []string) (string, error) {
	event, err := parseOptionalArg(fs, e, args)
	if err != nil {
		return "", err
	}
	if strings.ContainsFunc(event, func(r rune) bool { return r >= '0' && r <= '9' }) {
		return "", usagef("%s: unknown event (see --help)", fs.Name())
	}
	return event, nil
}
