package cards

// Lifecycle events from the network (issue 22): the token service's
// notifications (cards/tsp: token updated, suspended, resumed, deleted;
// card reissued by the account updater) reach the Handler through the
// tsp.Sink it registers at construction (Provider.Subscribe), and the
// simulator raises them on demand (Simulate: the admin endpoint POST
// /admin/tsp/simulate and `aliasgate tsp simulate`).
//
// Decisions:
//   - An event names its card by the requestor reference "account/card id"
//     and its token by the token PAN; it is applied only when the token PAN
//     is the card's current token's (compared in constant time), so an
//     event cannot reach a card of another account or another card's token.
//     Simulate needs the account with the card id (an operator names both;
//     a card id of another account is not found).
//   - Each applied event is one card update (card_updates) whose event is
//     its source: "network-token-update" (new token expiry: changed fields
//     network_token_exp_month and network_token_exp_year),
//     "network-token-status" (suspended, resumed, deleted: changed field
//     network_token_state with the old and new state), "account-updater"
//     (card reissued). PATCH keeps "api-update". An event that changes
//     nothing (resume of an active token, the same expiry) records nothing
//     and publishes nothing: a network may deliver a notification twice.
//     The simulator's operator is told instead: Simulate refuses a status
//     event that does not apply to the token's state (token-resumed of an
//     active token, token-suspended of a suspended one: ErrTokenState, 409
//     through the admin endpoint), as it refuses every event of a deleted
//     token (ErrNoNetworkToken); it answered success. The check that
//     decides is the apply's, under the card lock (simulation), so of two
//     simulated resumes at once one is refused, and each reports the card
//     update it made.
//   - A reissue with a new expiry sets exp_month and exp_year of the card
//     and of its token. A reissue with a new PAN stores the new PAN in the
//     vault for the card's account (a new persistent alias: pan_alias
//     changes) and bin, first8, last4, card_brand, card_type and
//     card_fingerprint follow; the token is kept (the network maps it to
//     the new PAN). The card update names "pan", "pan_alias" and
//     "card_fingerprint" in changed_fields without values, and shows
//     old and new of bin, first8 and last4 (what a PCI-scoped display may
//     show) — never a PAN, alias or fingerprint in updated_values. The old
//     CVC belongs to the old card number: its alias is deleted and the card
//     shows cvc_status "none" ("cvc" in changed_fields).
//   - The old PAN: the fingerprint index moves to the new PAN's
//     fingerprint in the same store transaction as the record (a PAN the
//     account already stores as another card refuses the reissue when the
//     account has duplicate detection on: ErrReissueConflict, nothing
//     changes, and the new alias is left since it may be that card's; with
//     detection off the card is indexed beside the others, duplicates.go).
//     Then the old PAN alias is deleted from the vault (audited, its alias
//     answers 404) unless another card of the account still uses it
//     (AliasUse: the cards made of the same number with detection off keep
//     it), so an old card number does not stay revealable forever; a card
//     of the old number stored meanwhile gets it back (restore.go). A
//     failure there leaves the alias (logged); the card is already reissued.
//   - A token deleted by the network is retired as by DELETE: its token
//     PAN is deleted from the vault.
//   - A notification the card never got (lost on the way) is learnt when
//     the token service next answers that the card's token is deleted
//     (tsp.ErrDeleted to a cryptogram, a network_token payment or the
//     expiry update of a PATCH): the token is retired then as the
//     token-deleted event would have retired it (retireGoneToken), and the
//     request goes on as for a card without a token. Before, the card kept
//     the dead token as active: provisioning returned it and every PATCH
//     of the expiry failed.
//   - Vault calls act for the card's account with the route
//     "internal:tsp" as the actor of audited reveals.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
)

// Lifecycle errors.
var (
	ErrNoSuchCard      = errors.New("cards: no such card in the account")
	ErrNoNetworkToken  = errors.New("cards: the card has no network token")
	ErrTokenMismatch   = errors.New("cards: the event's token is not the card's")
	ErrNoSimulator     = errors.New("cards: the token service is not the simulator")
	ErrInvalidEvent    = errors.New("cards: invalid lifecycle event")
	ErrReissueConflict = errors.New("cards: the reissued card number is another card of the account")
	// ErrTokenState: Simulate was asked for a status event that does not
	// apply to the token's state (a resume of an active token, a
	// suspension of a suspended one).
	ErrTokenState = errors.New("cards: the event does not apply to the network token's state")
)

// tspActor is the route named as the actor of the vault calls of events.
const tspActor = "internal:tsp"

// tokenEvents is the tsp.Sink of a Handler.
type tokenEvents struct{ h *Handler }

// TokenEvent implements tsp.Sink.
func (s tokenEvents) TokenEvent(ctx context.Context, ev tsp.Event) error {
	return s.h.applyTokenEvent(ctx, ev)
}

// requestorRef is the requestor reference of the token of card id.
func requestorRef(account, id string) string { return account + "/" + id }

func parseRequestor(ref string) (account, id string, ok bool) {
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 || !validCardID(ref[i+1:]) {
		return "", "", false
	}
	return ref[:i], ref[i+1:], true
}

// lifecycleRequest is the request state of an event for account.
func (h *Handler) lifecycleRequest(ctx context.Context, account string) *request {
	ctx = vault.WithAccount(vault.WithRoute(ctx, tspActor), account)
	return &request{ctx: ctx, p: principalOf(account), obs: Observability{TraceID: traceID(""),
		AccountID: account, VaultID: h.vaultID}}
}

// loadEventCard loads card id for an event; ErrNoSuchCard when absent.
func (h *Handler) loadEventCard(q *request, id string) (*record, error) {
	rec, err := h.loadID(q, id)
	var je *jsonapi.Error
	if errors.As(err, &je) {
		return nil, ErrNoSuchCard
	}
	return rec, err
}

// eventExpiry parses and checks the new expiry of an event.
func (h *Handler) eventExpiry(month, year string) (int, int, error) {
	m, err1 := strconv.Atoi(month)
	y, err2 := strconv.Atoi(year)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: the expiry must be numbers", ErrInvalidEvent)
	}
	var c errs
	checkExpiry(&c, m, y, h.now())
	if c.err() != nil {
		return 0, 0, fmt.Errorf("%w: exp_month must be 1 to 12 and exp_year 2 digits or 2000-2099, at most %d years ahead",
			ErrInvalidEvent, maxFutureYears)
	}
	return m, y, nil
}

// applyTokenEvent applies one event of the token service. The work
// outside the card record (the token service and the vault: a deleted
// token's retirement, a reissued PAN's new alias) is done once, before the
// record is written; the record change itself is applied with
// compare-and-swap (cas.go), again to the card as re-read when another
// writer stored it first — as long as the event's token is still the
// card's current token and, for a new PAN, the card number is still the
// one the event replaces.
func (h *Handler) applyTokenEvent(ctx context.Context, ev tsp.Event) error {
	account, id, ok := parseRequestor(ev.Requestor)
	if !ok {
		return ErrNoSuchCard
	}
	q := h.lifecycleRequest(ctx, account)
	defer h.lock(account, id)()
	return h.applyEventLocked(q, id, ev)
}

// applyEventLocked is applyTokenEvent for card id of q's account (a
// lifecycleRequest), whose card lock the caller holds.
func (h *Handler) applyEventLocked(q *request, id string, ev tsp.Event) (err error) {
	account := q.p.Account
	// A reissue's new number stored in the vault but not taken by the
	// card (it failed, or was refused) leaves the vault again: nothing
	// would reference it (releaseCreated).
	dq := *q
	dq.ctx = vault.WithCreations(q.ctx)
	q = &dq
	defer func() {
		if err != nil && !mayHaveWritten(err) { // a write of unknown outcome keeps it (writeOutcome)
			h.releaseCreated(q)
		}
	}()
	rec, err := h.loadEventCard(q, id)
	if err != nil {
		return err
	}
	if rec.currentToken() == nil {
		return ErrNoNetworkToken
	}
	tokenPAN, err := h.revealOne(q, rec.currentToken().PANAlias)
	if err != nil {
		return fmt.Errorf("cards: event: reveal the network token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(tokenPAN), []byte(ev.TokenPAN)) != 1 {
		return ErrTokenMismatch
	}
	tokenID := rec.currentToken().ID
	now := h.now().UTC()
	var expMonth, expYear int
	var retired *tokenRecord
	var prep *reissuePrep
	switch ev.Type {
	case tsp.EventTokenUpdated:
		if expMonth, expYear, err = h.eventExpiry(ev.ExpMonth, ev.ExpYear); err != nil {
			return err
		}
	case tsp.EventTokenSuspended, tsp.EventTokenResumed:
	case tsp.EventTokenDeleted:
		t := *rec.currentToken()
		if err := h.retireToken(q, &t); err != nil { // its token PAN leaves the vault
			return err
		}
		retired = &t
	case tsp.EventCardReissued:
		if prep, err = h.prepareReissue(q, rec, ev); err != nil {
			return err
		}
	default:
		return ErrInvalidEvent
	}
	var upd storedUpdate
	var tokenEvent, source string
	var reissue *reissued
	sim := simulationOf(q.ctx)
	simulated := sim != nil
	old, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
		if next.Deleting {
			return nil, ErrNoSuchCard
		}
		t := next.currentToken()
		if t == nil {
			return nil, ErrNoNetworkToken
		}
		if t.ID != tokenID {
			return nil, ErrTokenMismatch
		}
		upd = storedUpdate{ID: newUUID(), CardUpdate: CardUpdate{ChangedFields: []string{},
			UpdatedValues: []UpdatedValue{}, ReceivedAt: formatTime(now.Truncate(time.Second))}}
		tokenEvent, source, reissue = "", "", nil
		change := func(field string, old, new any) {
			o, _ := json.Marshal(old)
			n, _ := json.Marshal(new)
			upd.ChangedFields = append(upd.ChangedFields, field)
			upd.UpdatedValues = append(upd.UpdatedValues, UpdatedValue{FieldName: field, OldValue: o, NewValue: n})
		}
		setState := func(state, event string) {
			if t.State != state {
				change("network_token_state", t.State, state)
				t.State, t.UpdatedAt = state, now
				tokenEvent = event
			}
			upd.Event, source = cardUpdateTokenStatus, SourceNetwork
		}
		switch ev.Type {
		case tsp.EventTokenUpdated:
			if expMonth != t.ExpMonth {
				change("network_token_exp_month", t.ExpMonth, expMonth)
			}
			if expYear != t.ExpYear {
				change("network_token_exp_year", t.ExpYear, expYear)
			}
			if len(upd.ChangedFields) > 0 {
				t.ExpMonth, t.ExpYear, t.UpdatedAt = expMonth, expYear, now
				tokenEvent = EventNetworkTokenUpdated
			}
			upd.Event, source = cardUpdateNetworkTokenUpd, SourceNetworkTokenUpdate
		case tsp.EventTokenSuspended:
			if simulated && t.State == TokenSuspended {
				return nil, fmt.Errorf("%w: the network token is already suspended", ErrTokenState)
			}
			setState(TokenSuspended, EventNetworkTokenSuspend)
		case tsp.EventTokenResumed:
			if simulated && t.State != TokenSuspended {
				return nil, fmt.Errorf("%w: the network token is %s; only a suspended token is resumed", ErrTokenState, t.State)
			}
			setState(TokenActive, EventNetworkTokenResumed)
		case tsp.EventTokenDeleted:
			change("network_token_state", t.State, TokenDeleted)
			t.State, t.UpdatedAt, t.PANAlias = retired.State, retired.UpdatedAt, retired.PANAlias
			tokenEvent = EventNetworkTokenDeleted
			upd.Event, source = cardUpdateTokenStatus, SourceNetwork
		case tsp.EventCardReissued:
			upd.Event, source = cardUpdateAccountUpdater, SourceAccountUpdater
			var err error
			if reissue, err = h.applyReissue(q, next, t, prep, change, &upd.CardUpdate, now); err != nil {
				return nil, err
			}
			if reissue.tokenChanged {
				tokenEvent = EventNetworkTokenUpdated
			}
		}
		if len(upd.ChangedFields) == 0 {
			return nil, errNoWrite // nothing changed: nothing recorded
		}
		next.UpdatedAt = h.now().UTC().Truncate(time.Second)
		return &upd, nil
	})
	if err != nil {
		if errors.Is(err, ErrReissueConflict) || errors.Is(err, ErrNoSuchCard) || errors.Is(err, ErrNoNetworkToken) ||
			errors.Is(err, ErrTokenMismatch) || errors.Is(err, ErrTokenState) {
			return err
		}
		var je *jsonapi.Error
		if errors.As(err, &je) && je.Status == http.StatusNotFound { // deleted meanwhile
			return ErrNoSuchCard
		}
		if ev.Type == tsp.EventCardReissued {
			return fmt.Errorf("cards: reissue: store: %w", err)
		}
		return err
	}
	if next == old {
		return nil // nothing changed: nothing recorded
	}
	if sim != nil {
		sim.updateID = upd.ID // under the card lock: the update this event made
	}
	h.log.InfoContext(q.ctx, "cards: network lifecycle event applied", "card_id", id, "account_id", account,
		"event", string(ev.Type), "changed_fields", strings.Join(upd.ChangedFields, ","), "trace_id", q.obs.TraceID)
	if reissue != nil {
		h.afterReissue(q, old, next, reissue)
		h.publishCard(q, EventCardUpdated, next, source, &upd)
	}
	if tokenEvent != "" {
		h.publishToken(q, tokenEvent, next, next.token(tokenID), source)
	}
	return nil
}

// retireGoneToken retires token tokenID of card id of q's account, which
// the token service answered is deleted, as the token-deleted event it did
// not deliver would have (a card update with source network-token-status,
// the token PAN out of the vault, network_token.deleted published). The
// caller holds the card lock; a token retired or replaced meanwhile is
// left, and failures are logged (the request answers as for no token).
func (h *Handler) retireGoneToken(q *request, id, tokenID string) {
	lq := h.lifecycleRequest(q.ctx, q.p.Account)
	err := func() error {
		rec, err := h.loadEventCard(lq, id)
		if err != nil {
			return err
		}
		t := rec.currentToken()
		if t == nil || t.ID != tokenID {
			return nil
		}
		tokenPAN, err := h.revealOne(lq, t.PANAlias)
		if err != nil {
			return err
		}
		return h.applyEventLocked(lq, id, tsp.Event{Type: tsp.EventTokenDeleted, TokenPAN: tokenPAN,
			Requestor: requestorRef(q.p.Account, id)})
	}()
	if err != nil {
		h.log.WarnContext(q.ctx, "cards: a network token the token service deleted was not retired", "card_id", id,
			"network_token_id", tokenID, "account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
		return
	}
	h.log.InfoContext(q.ctx, "cards: the token service answered that the network token is deleted; retired",
		"card_id", id, "network_token_id", tokenID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
}

// reissued is what a reissue changed beyond the record.
type reissued struct {
	newPAN       bool
	oldPAN       string    // the old card number (sensitive), to check whether its alias is still used
	oldCreated   time.Time // when its alias's vault record was made (keepsPANAlias)
	tokenChanged bool
}

// reissuePrep is the work of a card-reissued event outside the record,
// done once: the new expiry checked, and for a new card number the old
// one read and the new one stored in the vault.
type reissuePrep struct {
	hasExpiry   bool
	month, year int
	newPAN      string    // "" when the card number stays
	newAlias    string    // the new PAN's persistent alias
	newOrigin   string    // newAlias's record.PANAliasOrigin
	oldCreated  time.Time // when oldAlias's vault record was made (keepsPANAlias)
	oldPAN      string    // the number replaced (sensitive)
	oldAlias    string    // its alias, as the card held it
}

// prepareReissue checks a card-reissued event for card rec and, for a new
// card number, stores it in the vault.
func (h *Handler) prepareReissue(q *request, rec *record, ev tsp.Event) (*reissuePrep, error) {
	p := &reissuePrep{}
	if ev.ExpMonth != "" || ev.ExpYear != "" {
		m, y, err := h.eventExpiry(ev.ExpMonth, ev.ExpYear)
		if err != nil {
			return nil, err
		}
		p.hasExpiry, p.month, p.year = true, m, y
	}
	if ev.NewPAN == "" {
		return p, nil
	}
	if checkPAN(ev.NewPAN, "pan") != nil {
		return nil, fmt.Errorf("%w: the new card number is not a valid PAN", ErrInvalidEvent)
	}
	got, err := h.revealRecord(q, rec.PANAlias)
	if err != nil {
		return nil, fmt.Errorf("cards: reissue: reveal the card number: %w", err)
	}
	old := got.Value
	p.oldCreated = got.CreatedAt
	if old == ev.NewPAN {
		return p, nil
	}
	toks, err := h.vault.Redact(q.ctx, []vault.RedactRequest{{Value: ev.NewPAN, Format: vault.FormatUUID,
		Storage: vault.StoragePersistent}})
	if err != nil {
		return nil, fmt.Errorf("cards: reissue: redact the new card number: %w", err)
	}
	if err := h.addNumber(q.ctx, ev.NewPAN, toks[0].Alias); err != nil { // numbers.go
		return nil, fmt.Errorf("cards: reissue: %w", err)
	}
	held, err := cardsOfFingerprint(q.ctx, h.store, q.p.Account, fingerprint(h.fpKey, q.p.Account, ev.NewPAN))
	if err != nil {
		return nil, fmt.Errorf("cards: reissue: the cards of the new card number: %w", err)
	}
	p.newPAN, p.newAlias, p.oldPAN, p.oldAlias = ev.NewPAN, toks[0].Alias, old, rec.PANAlias
	if p.newOrigin, err = h.aliasOrigin(q, toks[0], held); err != nil {
		return nil, fmt.Errorf("cards: reissue: %w", err)
	}
	return p, nil
}

// applyReissue applies a prepared card-reissued event to next (and its
// token t). A card whose number another reissue changed since the event
// was prepared is a conflict (errCardConflict): the event replaces a
// number the card no longer has.
func (h *Handler) applyReissue(q *request, next *record, t *tokenRecord, p *reissuePrep,
	change func(string, any, any), upd *CardUpdate, now time.Time) (*reissued, error) {
	r := &reissued{}
	if p.hasExpiry {
		m, y := p.month, p.year
		if m != next.ExpMonth {
			change("exp_month", next.ExpMonth, m)
			next.ExpMonth = m
		}
		if y != next.ExpYear {
			change("exp_year", next.ExpYear, y)
			next.ExpYear = y
		}
		if t.ExpMonth != m || t.ExpYear != y {
			t.ExpMonth, t.ExpYear, t.UpdatedAt = m, y, now
			r.tokenChanged = true
		}
	}
	if p.newPAN == "" {
		return r, nil
	}
	if next.PANAlias != p.oldAlias {
		return nil, errCardConflict()
	}
	r.newPAN, r.oldPAN, r.oldCreated = true, p.oldPAN, p.oldCreated
	pan := p.newPAN
	upd.ChangedFields = append(upd.ChangedFields, "pan", "pan_alias")
	next.PANAlias, next.PANAliasOrigin = p.newAlias, p.newOrigin
	for _, f := range []struct {
		name     string
		cur      *string
		newValue string
	}{{"bin", &next.BIN, pan[:6]}, {"first8", &next.First8, first8(pan)}, {"last4", &next.Last4, pan[len(pan)-4:]},
		{"card_brand", &next.Brand, Brand(pan)}, {"card_type", &next.Type, h.bins.cardType(pan)}} {
		if *f.cur != f.newValue {
			change(f.name, *f.cur, f.newValue)
			*f.cur = f.newValue
		}
	}
	upd.ChangedFields = append(upd.ChangedFields, "card_fingerprint")
	next.Fingerprint = fingerprint(h.fpKey, q.p.Account, pan)
	// A card made with duplicate detection off keeps a key of its own, and
	// so does a card reissued while it is off (duplicates.go).
	own := next.IndexKey != "" || h.settings(q.p.Account).DuplicateDetectionOff
	next.IndexKey = ""
	if own {
		next.IndexKey = ownIndexKey(next.Fingerprint, next.ID)
	}
	if next.CVCAlias != "" {
		upd.ChangedFields = append(upd.ChangedFields, "cvc") // the old card's CVC
		next.CVCAlias = ""
	}
	return r, nil
}

// afterReissue removes the old card number's alias (unless another card
// uses it, which then takes over the card's mark, passPANAlias, or the
// account held it before the card, delete.go) and the old CVC's; failures
// are logged, the card is reissued.
func (h *Handler) afterReissue(q *request, rec, next *record, r *reissued) {
	if !r.newPAN {
		return
	}
	inUse, err := (&AliasUse{store: h.store, fpKey: h.fpKey}).AliasInUse(q.ctx, q.p.Account, rec.PANAlias, []byte(r.oldPAN))
	if err == nil && inUse {
		// The cards still of the old number take over the card's mark.
		var held []*record
		if held, err = cardsOfFingerprint(q.ctx, h.store, q.p.Account, fingerprint(h.fpKey, q.p.Account, r.oldPAN)); err == nil {
			err = h.passPANAlias(q, held, rec)
		}
	}
	if err == nil && !inUse && !keepsPANAlias(rec, r.oldCreated) {
		if err = h.deleteNumberAlias(q, rec.PANAlias, r.oldPAN); err == nil {
			// A card of the old number stored meanwhile (restore.go).
			err = h.restoreUsers(q, rec.PANAlias, r.oldPAN, "")
		}
	}
	if err == nil && rec.CVCAlias != "" && rec.CVCAlias != next.CVCAlias {
		err = h.deleteAlias(q, rec.CVCAlias)
	}
	if err != nil {
		h.log.WarnContext(q.ctx, "cards: reissue: an old alias was not deleted", "card_id", rec.ID,
			"account_id", q.p.Account, "error", err.Error())
	}
}

// SimulateRequest asks the token service simulator for one lifecycle
// event of a card.
type SimulateRequest struct {
	Account string `json:"account"`
	CardID  string `json:"card_id"`
	Event   string `json:"event"` // a tsp.EventType name
	// NewPAN asks a card-reissued event for a new card number (made by the
	// simulator; it is never given).
	NewPAN bool `json:"new_pan,omitempty"`
	// ExpMonth and ExpYear are the new expiry, both or neither (0:
	// unchanged; one without the other is ErrInvalidEvent).
	ExpMonth int `json:"exp_month,omitempty"`
	ExpYear  int `json:"exp_year,omitempty"`
}

// SimulateResult is the card after a simulated event: nothing sensitive.
type SimulateResult struct {
	CardID            string `json:"card_id"`
	Event             string `json:"event"`
	Last4             string `json:"last4"`
	ExpMonth          int    `json:"exp_month"`
	ExpYear           int    `json:"exp_year"`
	NetworkTokenID    string `json:"network_token_id"`
	NetworkTokenState string `json:"network_token_state"`
	CardUpdateID      string `json:"card_update_id,omitempty"` // "" when nothing changed
}

// raiser is the simulator's side of Simulate (*tsp.Simulator).
type raiser interface {
	Raise(ctx context.Context, req tsp.RaiseRequest) (tsp.Event, error)
}

// Simulate has the token service simulator raise one lifecycle event for
// the card req.CardID of req.Account; the event comes back through the
// Handler's sink like a real notification. ErrNoSimulator when the
// Handler's token service is not the simulator.
func (h *Handler) Simulate(ctx context.Context, req SimulateRequest) (SimulateResult, error) {
	sim, ok := h.tsp.(raiser)
	if !ok {
		return SimulateResult{}, ErrNoSimulator
	}
	typ, err := tsp.ParseEventType(req.Event)
	if err != nil {
		return SimulateResult{}, fmt.Errorf("%w: event is one of token-updated, token-suspended, token-resumed, token-deleted, card-reissued", ErrInvalidEvent)
	}
	if req.Account == "" || !validCardID(req.CardID) {
		return SimulateResult{}, ErrNoSuchCard
	}
	rr := tsp.RaiseRequest{Type: typ, Requestor: requestorRef(req.Account, req.CardID), NewPAN: req.NewPAN}
	if req.ExpMonth != 0 || req.ExpYear != 0 {
		// A new expiry is both: a month alone would be applied with the
		// year 0, read as "00" (the expiry July 2000), expiring the token.
		if req.ExpMonth == 0 || req.ExpYear == 0 {
			return SimulateResult{}, fmt.Errorf("%w: a new expiry needs both exp_month and exp_year", ErrInvalidEvent)
		}
		rr.ExpMonth, rr.ExpYear = strconv.Itoa(req.ExpMonth), strconv.Itoa(req.ExpYear)
		if _, _, err := h.eventExpiry(rr.ExpMonth, rr.ExpYear); err != nil {
			return SimulateResult{}, err
		}
	}
	q := h.lifecycleRequest(ctx, req.Account)
	if err := h.simulateRead(q, req.CardID, &rr); err != nil {
		return SimulateResult{}, err
	}
	applied := &simulation{}
	if _, err := sim.Raise(context.WithValue(q.ctx, simulationKey{}, applied), rr); err != nil {
		switch {
		case errors.Is(err, tsp.ErrInvalidEvent):
			return SimulateResult{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		case errors.Is(err, tsp.ErrDeleted):
			return SimulateResult{}, ErrNoNetworkToken
		}
		return SimulateResult{}, err
	}
	defer h.lock(req.Account, req.CardID)()
	rec, err := h.loadEventCard(q, req.CardID)
	if err != nil {
		return SimulateResult{}, err
	}
	res := SimulateResult{CardID: rec.ID, Event: string(typ), Last4: rec.Last4, ExpMonth: rec.ExpMonth, ExpYear: rec.ExpYear}
	if n := len(rec.Tokens); n > 0 {
		t := rec.currentToken()
		if t == nil {
			t = &rec.Tokens[n-1]
		}
		res.NetworkTokenID, res.NetworkTokenState = t.ID, t.State
	}
	res.CardUpdateID = applied.updateID
	return res, nil
}

// simulation is what the apply of a simulated event tells Simulate (put
// in the context Raise hands the sink): the event is the operator's, so a
// status event that does not apply to the token's state is refused
// (ErrTokenState) rather than ignored as a notification delivered twice
// is, and the id of the card update it made. Both are decided under the
// card lock, in the compare-and-swap write of the event, so two simulated
// events at once cannot both pass the state check nor report one update.
type simulation struct {
	updateID string // "" when the event changed nothing
}

type simulationKey struct{}

// simulationOf returns the simulation of ctx, or nil for a notification
// of the token service.
func simulationOf(ctx context.Context) *simulation {
	s, _ := ctx.Value(simulationKey{}).(*simulation)
	return s
}

// simulateRead fills the token (and for a new PAN the card's) number of
// rr from card id. Its state check answers early; the one that decides is
// the apply's (simulation).
func (h *Handler) simulateRead(q *request, id string, rr *tsp.RaiseRequest) error {
	defer h.lock(q.p.Account, id)()
	rec, err := h.loadEventCard(q, id)
	if err != nil {
		return err
	}
	t := rec.currentToken()
	if t == nil {
		return ErrNoNetworkToken
	}
	switch {
	case rr.Type == tsp.EventTokenResumed && t.State == TokenActive:
		return fmt.Errorf("%w: the network token is active; only a suspended token is resumed", ErrTokenState)
	case rr.Type == tsp.EventTokenSuspended && t.State == TokenSuspended:
		return fmt.Errorf("%w: the network token is already suspended", ErrTokenState)
	}
	if rr.TokenPAN, err = h.revealOne(q, t.PANAlias); err != nil {
		return fmt.Errorf("cards: simulate: reveal the network token: %w", err)
	}
	if rr.NewPAN {
		if rr.CardPAN, err = h.revealOne(q, rec.PANAlias); err != nil {
			return fmt.Errorf("cards: simulate: reveal the card number: %w", err)
		}
	}
	return nil
}
