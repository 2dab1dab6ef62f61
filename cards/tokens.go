package cards

// Network tokens (POST/DELETE /cards/{id}/network-tokens, POST /cards/{id}/cryptogram).
//
// Decisions where the spec pages are silent:
//   - The token state lives inside the card record (record.Tokens); the token
//     PAN itself is only in the vault, under a persistent UUID alias. A card
//     keeps its deleted tokens (state "deleted", metadata only: their token
//     PAN is deleted from the vault) for the record; only the
//     active one is ever shown.
//   - Provisioning, deletion, cryptograms and PATCH of a card write its
//     record with compare-and-swap (cas.go), so gateways sharing a store
//     never undo each other's changes; within one process they are also
//     serialized per card by a striped lock.
//   - network_token, bin and last4 are JSON strings (the shared design's
//     decision: the provisioning page's example has them as JSON numbers,
//     the cryptogram page's as strings, and a 19-digit token PAN does not
//     survive a JSON number); exp_month and exp_year integers that follow
//     the card's expiry. network_token is shown only to PCI clients. Every
//     answer carries metadata.observability, which the provisioning page's
//     example lacks (docs/DECISIONS.md).
//   - A token's state is active, suspended (by the network, lifecycle.go)
//     or deleted. A suspended token is still the card's token: it is shown
//     (include=network_tokens), follows PATCHed expiries and is deleted by
//     DELETE, but makes no cryptogram (409 no_active_network_token; a
//     network_token route falls back or refuses as for no token) and a new
//     one is not provisioned while it exists (409 network_token_suspended).
//   - Brands the TSP does not tokenize (see cards/tsp) → 422
//     network_tokens_unsupported. Cryptogram without an active token → 409
//     no_active_network_token. DELETE without an active token → 404.
//   - DELETE deletes the token at the token service, then its token PAN
//     from the vault (its alias answers 404), then marks it deleted in the
//     card record (issue 22; see retireToken in delete.go). A token PAN
//     that a card of the account has as its number (the card got the
//     token's alias, the vault's one per value and account) stays in the
//     vault as that card's, and the retired token names no alias
//     (releaseTokenAlias, numbers.go). The token service is told which
//     token by the reference it gave at provisioning (token_ref in the
//     record, never shown), so a token whose alias went before it (the
//     vault API deleted it before AliasUse protected token aliases,
//     tokenaliases.go) is still deleted there; a token stored before
//     references were kept and whose alias is gone is only marked
//     (logged).
//   - Timestamps follow each spec page: a card's created_at and updated_at
//     and a card update's received_at are RFC 3339 UTC to the second
//     ("2025-08-01T00:00:00Z", the cards page); a network token's
//     created_at and updated_at are UTC with up to 6 fractional digits,
//     trailing zeros dropped, and no zone designator
//     ("2025-01-10T17:56:12.783411", the network tokens page). Both are
//     UTC. (Until issue 22 tokens used the cards' format.)
//   - The request body of provisioning and DELETE is ignored. The
//     cryptogram body (the spec's is {"data":{"attributes":{}}}) may name
//     the payment's use: "transaction_type": "ecommerce" or "card_on_file"
//     (merchant-initiated on the stored credential; default: the token
//     type's, see settings.go; a transaction_type null or "" is unset,
//     as when absent: it was read as "ecommerce"); it sets
//     the ECI (see cards/tsp). Another value → 422 invalid_transaction_type;
//     any other attribute → 422 unknown_attribute (it was ignored: a
//     transactionType was dropped, and the cryptogram made for the
//     default use); data.type, when present, must be "network_tokens"
//     (the resource the endpoint answers; else 409 type_mismatch) and
//     data.id, when present and not null or "", the id of the card's
//     active token (else 409 id_mismatch, once the card has one: a
//     request naming a token deleted since got a cryptogram of the new
//     one), as the other /cards documents read them (JSON:API). A body
//     that is empty or white space only is the token type's use;
//     a JSON body whose data or attributes is not an object is refused
//     (400 invalid_document, 422 invalid_attributes: it was ignored, and a
//     transaction_type inside it dropped), and a body over MaxBody is 413
//     (it was cut and then ignored). Any other body that is no valid JSON
//     (cut short, more bytes after it, a byte order mark; a form such as
//     transaction_type=card_on_file, XML, text) is 400 malformed_json, as
//     POST /cards answers it, whatever its Content-Type: it was ignored as
//     no JSON, its transaction_type dropped (ECI 06 for a card-on-file
//     payment). A JSON body is read whatever its Content-Type (curl -d
//     declares a form). A JSON body that repeats a member (400
//     duplicate_member) or names data or attributes in another letter
//     case (400 inexact_member: encoding/json would read it as that
//     member) is refused, as the other /cards documents are.
//   - A token whose expiry (its card's) has ended, UTC, as cardExpired
//     reads a card's, makes no cryptogram: 409 network_token_expired (it
//     made one, for a payment the network declines); a PATCH of the
//     card's expiry, which the token follows, makes it usable again.
//     Provisioning for an expired card and network_token payments are
//     unchanged (see docs/DECISIONS.md).
//   - Each cryptogram uses the next value of the token's counter, reserved
//     by storing it in the card record (compare-and-swap, while the record
//     says the token is active) before the token service is asked, so no
//     counter value is ever used twice, even by two gateways; a reservation
//     whose cryptogram is not made (the token service failed) leaves a gap.
//     After the cryptogram is made the card is read again and the
//     cryptogram is returned only when the token is still active: a token
//     suspended or deleted meanwhile (another gateway, a network event)
//     answers 409 no_active_network_token, so no cryptogram made after a
//     suspension was stored is ever returned.
//   - The token service failing (down, slow past the request's deadline,
//     an error) answers 502 token_service_unavailable wherever it is asked
//     (provisioning, cryptogram, DELETE of the token or the card, a PATCH
//     of the expiry the token follows); the card and its token are left as
//     they were (a card's DELETE that failed there is finished by the next
//     one). So does an answer that cannot be used, which is never taken:
//     a provisioned "token PAN" that is no card number (12-19 digits, Luhn),
//     is the card's own PAN, or is a number the account's vault already
//     holds (another card's token PAN or card number: the two would share
//     one alias, and deleting one token would delete the other's at the
//     token service and in the vault) or a card or token of any account
//     holds (Options.Numbers, numbers.go; the answer and the log do not
//     say whose), and a cryptogram without a type,
//     a two-digit ECI or a value in canonical base64 of 1-64 bytes (a
//     network_token payment never sends the token PAN without one), and a
//     payment account reference that is neither none nor 29 capital
//     letters and digits, or that holds the card's PAN or token PAN
//     ("V001" + the PAN + 9 more is of the shape; it is shown to every
//     client: a token service answering the PAN there showed it to non-PCI
//     clients). A refused
//     token PAN is not deleted at the token service (it may be another
//     card's there; a token refused for its reference alone is); the
//     refusal is logged, without the number.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/base58"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
)

const (
	typeNetworkTokens = "network_tokens"
	pathNetworkTokens = "network-tokens"
	pathCryptogram    = "cryptogram"
	tokenIDPrefix     = "NTK"

	// Network token states.
	TokenActive    = "active"
	TokenSuspended = "suspended" // by the network (lifecycle.go): no cryptogram until resumed
	TokenDeleted   = "deleted"
)

// tokenRecord is a network token as stored in the card record.
type tokenRecord struct {
	ID       string `json:"id"`
	PANAlias string `json:"token_alias"` // persistent vault alias of the token PAN
	// Ref is the token service's reference of the token (tsp.Token.Ref),
	// what it is deleted by; "" for a token stored before it was kept.
	Ref       string    `json:"token_ref,omitempty"`
	BIN       string    `json:"bin"`
	Last4     string    `json:"last4"`
	PAR       string    `json:"par"`
	ExpMonth  int       `json:"exp_month"`
	ExpYear   int       `json:"exp_year"`
	State     string    `json:"state"`
	Type      string    `json:"type,omitempty"` // token type (settings.go); "" is TokenTypeEcommerce
	Counter   uint64    `json:"counter"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NetworkToken is the attributes object of a network_tokens resource.
type NetworkToken struct {
	BIN                     string          `json:"bin"`
	CreatedAt               string          `json:"created_at"`
	Cryptogram              *tsp.Cryptogram `json:"cryptogram,omitempty"`
	ExpMonth                int             `json:"exp_month"`
	ExpYear                 int             `json:"exp_year"`
	Last4                   string          `json:"last4"`
	NetworkToken            string          `json:"network_token,omitempty"`
	PaymentAccountReference string          `json:"payment_account_reference"`
	State                   string          `json:"state"`
	UpdatedAt               string          `json:"updated_at"`
}

// live reports whether t is the card's token still (active or suspended).
func (t *tokenRecord) live() bool { return t.State == TokenActive || t.State == TokenSuspended }

// currentToken is the card's token, active or suspended, or nil.
func (rec *record) currentToken() *tokenRecord {
	for i := len(rec.Tokens) - 1; i >= 0; i-- {
		if rec.Tokens[i].live() {
			return &rec.Tokens[i]
		}
	}
	return nil
}

// activeToken is the card's token that makes cryptograms, or nil.
func (rec *record) activeToken() *tokenRecord {
	for i := len(rec.Tokens) - 1; i >= 0; i-- {
		if rec.Tokens[i].State == TokenActive {
			return &rec.Tokens[i]
		}
	}
	return nil
}

func newTokenID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return tokenIDPrefix + base58.EncodeFixed(b, 22)
}

// tokenAttributes renders t; tokenPAN is the clear token PAN when the
// caller has it ("" → revealed from the vault when q.showsClear).
func (h *Handler) tokenAttributes(q *request, t *tokenRecord, tokenPAN string) (NetworkToken, error) {
	a := NetworkToken{BIN: t.BIN, CreatedAt: formatTokenTime(t.CreatedAt), ExpMonth: t.ExpMonth, ExpYear: t.ExpYear,
		Last4: t.Last4, PaymentAccountReference: t.PAR, State: t.State, UpdatedAt: formatTokenTime(t.UpdatedAt)}
	if !q.showsClear() {
		return a, nil
	}
	if tokenPAN == "" {
		var err error
		if tokenPAN, err = h.revealOne(q, t.PANAlias); err != nil {
			return a, err
		}
	}
	a.NetworkToken = tokenPAN
	return a, nil
}

func (h *Handler) revealOne(q *request, alias string) (string, error) {
	r, err := h.revealRecord(q, alias)
	return r.Value, err
}

// revealRecord is revealOne with the alias's record fields (CreatedAt).
func (h *Handler) revealRecord(q *request, alias string) (vault.Revealed, error) {
	out, err := h.vault.Reveal(q.ctx, []string{alias})
	if err != nil {
		return vault.Revealed{}, err
	}
	if len(out) != 1 {
		return vault.Revealed{}, errors.New("vault reveal: wrong number of results")
	}
	if out[0].Err != nil {
		if errors.Is(out[0].Err, vault.ErrNotFound) {
			return vault.Revealed{}, errCardDataGone()
		}
		return vault.Revealed{}, out[0].Err
	}
	return out[0], nil
}

// cardIDOf returns the card id of /cards/{id}/{suffix}.
func cardIDOf(r *http.Request) string {
	rest := strings.TrimPrefix(r.URL.Path, "/cards/")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// beginToken starts a token request: principal, body drained, card locked and loaded.
func (h *Handler) beginToken(w http.ResponseWriter, r *http.Request, what string) (*request, *record, func(), bool) {
	q, ok := h.begin(w, r)
	if !ok {
		return nil, nil, nil, false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBody))
	id := cardIDOf(r)
	if !validCardID(id) {
		h.fail(q, what, errNotFound())
		return nil, nil, nil, false
	}
	unlock := h.lock(q.p.Account, id)
	rec, err := h.loadID(q, id)
	if err != nil {
		unlock()
		h.fail(q, what, err)
		return nil, nil, nil, false
	}
	return q, rec, unlock, true
}

func (h *Handler) serveProvision(w http.ResponseWriter, r *http.Request) {
	q, rec, unlock, ok := h.beginToken(w, r, "provision network token")
	if !ok {
		return
	}
	defer unlock()
	if t := rec.currentToken(); t != nil && t.State == TokenSuspended {
		h.fail(q, "provision network token", jsonapi.NewError(http.StatusConflict, "network_token_suspended",
			"Conflict", "the card's network token is suspended by the network; it is resumed by the network or deleted"))
		return
	}
	if t := rec.activeToken(); t != nil {
		a, err := h.tokenAttributes(q, t, "")
		if err != nil {
			h.fail(q, "provision network token: reveal", err)
			return
		}
		h.write(q, http.StatusOK, Document{Data: Resource{Type: typeNetworkTokens, ID: t.ID, Attributes: a}})
		return
	}
	pan, err := h.revealOne(q, rec.PANAlias)
	if err != nil {
		h.fail(q, "provision network token: reveal", err)
		return
	}
	t, tokenPAN, err := h.provisionToken(q, rec, pan, SourceAPI)
	if errors.Is(err, tsp.ErrUnsupportedBrand) {
		h.fail(q, "provision network token", jsonapi.NewError(http.StatusUnprocessableEntity,
			"network_tokens_unsupported", "Unprocessable Entity", "the card brand has no network token service"))
		return
	}
	if err != nil {
		h.fail(q, "provision network token", err)
		return
	}
	a, _ := h.tokenAttributes(q, t, tokenPAN)
	h.write(q, http.StatusOK, Document{Data: Resource{Type: typeNetworkTokens, ID: t.ID, Attributes: a}})
}

// provisionToken provisions a network token for rec (whose PAN is pan) at
// the token service, keeps its PAN in the vault and stores it in the card
// record (compare-and-swap, cas.go); rec becomes the record as stored. The
// caller holds the card lock. tsp.ErrUnsupportedBrand for brands without
// a token service. source is the event's (events.go).
//
// A token made whose card record then cannot be written (the card was
// deleted meanwhile by another gateway, whose card locks are its own, or
// the store failed) is undone: deleted at the token service and its token
// PAN deleted from the vault, so no token outlives its card unseen. So is
// a token made while another gateway gave the card one (the record, read
// again after a lost compare-and-swap, has a token): then that token is
// returned with tokenPAN "" (not made here; nothing is published).
func (h *Handler) provisionToken(q *request, rec *record, pan, source string) (*tokenRecord, string, error) {
	tok, err := h.ts().Provision(q.ctx, pan, strconv.Itoa(rec.ExpMonth), strconv.Itoa(rec.ExpYear))
	if err != nil {
		return nil, "", fmt.Errorf("%w: provision: %w", errTokenService, err)
	}
	// A number that is no card number, or the card's own, is no token of
	// this card: refused, and not deleted at the token service (it may be
	// something of another card's there).
	if checkPAN(tok.PAN, "network_token") != nil || tok.PAN == pan {
		h.log.WarnContext(q.ctx, "cards: the token service answered a provisioning with no token PAN of the card's own; refused",
			"card_id", rec.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
		return nil, "", fmt.Errorf("%w: %w: provision: the answer holds no token PAN of the card's own", errTokenService, errTokenAnswer)
	}
	toks, err := h.vault.Redact(q.ctx, []vault.RedactRequest{{Value: tok.PAN, Format: vault.FormatUUID,
		Storage: vault.StoragePersistent}})
	if err != nil {
		h.undoToken(q, rec.ID, tok, "")
		return nil, "", fmt.Errorf("redact: %w", err)
	}
	if !toks[0].Created {
		// The account stores the number already: another card's token PAN
		// or card number. Taking it would share its alias (deleting this
		// token would delete the other's, at the token service and in the
		// vault); neither the alias nor the token is this card's to undo.
		h.log.WarnContext(q.ctx, "cards: the token service answered a provisioning with a number the account already stores; refused",
			"card_id", rec.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
		return nil, "", fmt.Errorf("%w: %w: provision: the token PAN answered is a number the account already stores",
			errTokenService, errTokenAnswer)
	}
	if h.numbers != nil {
		// Another account's card number or token PAN (numbers.go): the
		// alias made here is this card's to delete, the token at the token
		// service is not (it may be that card's there).
		if err := h.numbers.Claim(q.ctx, tok.PAN, toks[0].Alias); err != nil {
			uq := *q
			uq.ctx = context.WithoutCancel(q.ctx)
			if _, derr := h.releaseTokenAlias(&uq, toks[0].Alias, tok.PAN); derr != nil {
				h.log.WarnContext(q.ctx, "cards: a refused token PAN was not deleted from the vault", "card_id", rec.ID,
					"account_id", q.p.Account, "error", derr.Error(), "trace_id", q.obs.TraceID)
			}
			if !errors.Is(err, vault.ErrNumberHeld) {
				return nil, "", fmt.Errorf("provision: %w", err)
			}
			h.log.WarnContext(q.ctx, "cards: the token service answered a provisioning with a number a card or token already holds; refused",
				"card_id", rec.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
			return nil, "", fmt.Errorf("%w: %w: provision: the token PAN answered is a number a card or token already holds",
				errTokenService, errTokenAnswer)
		}
	}
	// The token alias index entry comes before the record holding the
	// token: the vault API's delete of the alias is refused from then on
	// (tokenaliases.go).
	if err := h.indexTokenAlias(q, rec.ID, toks[0].Alias); err != nil {
		h.undoToken(q, rec.ID, tok, toks[0].Alias)
		return nil, "", fmt.Errorf("provision: %w", err)
	}
	if !validPAR(tok.PAR, pan, tok.PAN) { // shown to every client: never anything else (the PAN)
		h.undoToken(q, rec.ID, tok, toks[0].Alias)
		h.log.WarnContext(q.ctx, "cards: the token service answered a provisioning with a payment account reference that is none; refused",
			"card_id", rec.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
		return nil, "", fmt.Errorf("%w: %w: provision: the payment account reference answered is none", errTokenService, errTokenAnswer)
	}
	now := h.now().UTC()
	t := tokenRecord{ID: newTokenID(), PANAlias: toks[0].Alias, BIN: tok.PAN[:6], Last4: tok.PAN[len(tok.PAN)-4:],
		PAR: tok.PAR, Ref: tok.Ref, ExpMonth: rec.ExpMonth, ExpYear: rec.ExpYear, State: TokenActive, CreatedAt: now, UpdatedAt: now,
		Type: h.settings(q.p.Account).TokenType}
	var other *tokenRecord // a token another writer gave the card meanwhile
	_, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
		if next.Deleting {
			return nil, errNotFound()
		}
		if next.token(t.ID) != nil {
			return nil, errNoWrite // stored by a try whose answer was lost
		}
		if cur := next.currentToken(); cur != nil {
			o := *cur
			other = &o
			return nil, errNoWrite
		}
		next.Tokens = append(next.Tokens, t)
		next.Enrollment = ""
		return nil, nil
	})
	if err == nil && other != nil {
		h.undoToken(q, rec.ID, tok, t.PANAlias)
		h.log.InfoContext(q.ctx, "cards: network token made twice; the card's other one is kept", "card_id", rec.ID,
			"network_token_id", other.ID, "account_id", q.p.Account, "trace_id", q.obs.TraceID)
		return other, "", nil
	}
	if err != nil {
		h.undoToken(q, rec.ID, tok, t.PANAlias)
		return nil, "", fmt.Errorf("store: %w", err)
	}
	h.log.InfoContext(q.ctx, "cards: network token provisioned", "card_id", rec.ID, "network_token_id", t.ID,
		"account_id", q.p.Account, "trace_id", q.obs.TraceID)
	// The vault API may have deleted the alias between the index entry
	// and this write (AliasUse reads the record, which had no token yet):
	// the token PAN goes back under a new alias (keepTokenAlias). The
	// token is stored either way: a failed check is logged, and the
	// token's event still published.
	if checked, err := h.keepTokenAlias(q, next, t.ID, tok.PAN); err != nil {
		h.log.WarnContext(q.ctx, "cards: the network token's alias could not be checked after it was stored", "card_id", rec.ID,
			"network_token_id", t.ID, "account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
	} else {
		next = checked
	}
	*rec = *next
	nt := rec.token(t.ID)
	h.publishToken(q, EventNetworkTokenCreated, rec, nt, source)
	return nt, tok.PAN, nil
}

// token is the record's token id, or nil.
func (rec *record) token(id string) *tokenRecord {
	for i := range rec.Tokens {
		if rec.Tokens[i].ID == id {
			return &rec.Tokens[i]
		}
	}
	return nil
}

// undoToken deletes a token that no card record holds: at the token
// service, and its token PAN alias (when made) from the vault, also when
// the token service's delete failed (nothing references the alias, so
// nothing would ever retry with it: the token PAN would only stay behind
// in the vault). It runs past the end of the request's context (a client
// that hung up, the background provisioning stopped: often the cause of
// the failure it undoes); the token service call keeps its bound.
// Failures are logged (never the token PAN); the caller reports its own
// error.
func (h *Handler) undoToken(q *request, cardID string, tok tsp.Token, alias string) {
	tokenPAN := tok.PAN
	uq := *q
	uq.ctx = context.WithoutCancel(q.ctx)
	q = &uq
	err := h.ts().Delete(q.ctx, tok.Ref, tokenPAN)
	if errors.Is(err, tsp.ErrDeleted) {
		err = nil
	}
	if _, aerr := h.releaseTokenAlias(q, alias, tokenPAN); err == nil {
		err = aerr
	}
	if err != nil {
		h.log.WarnContext(q.ctx, "cards: a network token whose card could not be stored was not fully deleted",
			"card_id", cardID, "account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
	}
}

func (h *Handler) serveDeleteToken(w http.ResponseWriter, r *http.Request) {
	q, rec, unlock, ok := h.beginToken(w, r, "delete network token")
	if !ok {
		return
	}
	defer unlock()
	t := rec.currentToken()
	if t == nil {
		h.fail(q, "delete network token", jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found",
			"the card has no active network token"))
		return
	}
	tok := *t
	if err := h.retireToken(q, &tok); err != nil { // at the token service, then its PAN from the vault
		h.fail(q, "delete network token", err)
		return
	}
	marked := false
	_, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
		marked = false
		nt := next.token(tok.ID)
		if next.Deleting || nt == nil || !nt.live() {
			return nil, errNoWrite // the card's deletion, or another writer, retired it
		}
		nt.State, nt.UpdatedAt, nt.PANAlias = tok.State, tok.UpdatedAt, tok.PANAlias
		marked = true
		return nil, nil
	})
	if err != nil {
		h.fail(q, "delete network token: store", err)
		return
	}
	h.log.InfoContext(q.ctx, "cards: network token deleted", "card_id", rec.ID, "network_token_id", tok.ID,
		"account_id", q.p.Account, "trace_id", q.obs.TraceID)
	if marked {
		h.publishToken(q, EventNetworkTokenDeleted, next, next.token(tok.ID), SourceAPI)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) serveCryptogram(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	q, rec, unlock, ok := h.beginToken(w, r, "cryptogram")
	if !ok {
		return
	}
	defer unlock()
	if len(body) > MaxBody { // its transaction_type may be past the cut
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusRequestEntityTooLarge, "body_too_large",
			"Request Entity Too Large", fmt.Sprintf("the request body is larger than %d bytes", MaxBody)))
		return
	}
	use, tokenID, err := cryptogramRequest(body)
	if err != nil {
		h.fail(q, "cryptogram", err)
		return
	}
	t, err := h.reserveCounter(q, rec, tokenID)
	if errors.Is(err, errOtherToken) {
		h.fail(q, "cryptogram", tokenIDMismatch())
		return
	}
	if errors.Is(err, errTokenSuspended) {
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusConflict, "no_active_network_token", "Conflict",
			"the card's network token is suspended by the network"))
		return
	}
	if errors.Is(err, errNoActiveToken) {
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusConflict, "no_active_network_token", "Conflict",
			"the card has no active network token; provision one first"))
		return
	}
	if err != nil {
		h.fail(q, "cryptogram: store", err)
		return
	}
	if cardExpired(t.ExpMonth, t.ExpYear, h.now()) { // the token as stored: its counter value is a gap
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusConflict, "network_token_expired", "Conflict",
			"the card's network token has expired; update the card's expiry (the token follows it)"))
		return
	}
	if use == "" {
		use = defaultUse(t)
	}
	tokenPAN, c, err := h.makeCryptogram(q, rec.ID, t, use)
	if errors.Is(err, tsp.ErrDeleted) || errors.Is(err, tsp.ErrSuspended) || errors.Is(err, errTokenSuspended) ||
		errors.Is(err, errNoActiveToken) {
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusConflict, "no_active_network_token", "Conflict",
			"the network token is no longer active (deleted or suspended)"))
		return
	}
	if err != nil {
		h.fail(q, "cryptogram", err)
		return
	}
	a, _ := h.tokenAttributes(q, t, tokenPAN)
	a.Cryptogram = &c
	h.write(q, http.StatusOK, Document{Data: Resource{Type: typeNetworkTokens, ID: t.ID, Attributes: a}})
}

// Refusals of reserveCounter and makeCryptogram.
var (
	errNoActiveToken  = errors.New("cards: the card has no active network token")
	errTokenSuspended = errors.New("cards: the card's network token is suspended")
	// errOtherToken: the request names (data.id) a token other than the
	// card's active one.
	errOtherToken = errors.New("cards: the request names another network token")
	// errTokenService: the token service failed, or answered what cannot
	// be used (502 token_service_unavailable, fail).
	errTokenService = errors.New("cards: the token service failed")
	// errTokenAnswer: the token service answered what cannot be used
	// (always with errTokenService): a refusal of that card, not an outage.
	errTokenAnswer = errors.New("cards: the token service's answer cannot be used")
)

// validPAR reports whether par is a payment account reference (EMVCo: 29
// capital letters and digits) or none ("": some token services give it
// later), holding none of the card numbers given (the card's PAN, its
// token PAN): "V001" + a 16-digit PAN + 9 more is of the shape, and would
// be shown to non-PCI clients. Only these numbers are looked for: a PAR's
// run of digits is a card number by chance one time in ten.
func validPAR(par string, numbers ...string) bool {
	if par == "" {
		return true
	}
	for _, n := range numbers {
		if n != "" && strings.Contains(par, n) {
			return false
		}
	}
	notUpperAlnum := func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') }
	return len(par) == 29 && !strings.ContainsFunc(par, notUpperAlnum)
}

// usableCryptogram reports whether c, a token service's answer, can be
// given out: a type (letters and digits), a two-digit ECI and a value in
// canonical standard base64 of 1 to 64 bytes. A token PAN is never paid
// with without one.
func usableCryptogram(c tsp.Cryptogram) bool {
	b, err := base64.StdEncoding.DecodeString(c.Value)
	notAlnum := func(r rune) bool { return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') }
	return err == nil && len(b) > 0 && len(b) <= 64 && base64.StdEncoding.EncodeToString(b) == c.Value &&
		len(c.ECI) == 2 && allDigits(c.ECI) && c.Type != "" && len(c.Type) <= 16 && !strings.ContainsFunc(c.Type, notAlnum)
}

// reserveCounter stores the next counter value of the active token of
// card rec (compare-and-swap: re-read and re-checked when another writer
// came first) and returns the token as stored; its Counter is the
// cryptogram's, used by no other. errTokenSuspended or errNoActiveToken
// when the card, as stored, has no active token; errOtherToken when want
// is not "" and the active token is not token want; errNotFound when it
// is being deleted.
func (h *Handler) reserveCounter(q *request, rec *record, want string) (*tokenRecord, error) {
	var id string
	_, next, err := h.mutate(q, rec, func(next *record) (*storedUpdate, error) {
		if next.Deleting {
			return nil, errNotFound()
		}
		t := next.activeToken()
		if t == nil && next.currentToken() != nil {
			return nil, errTokenSuspended
		}
		if t == nil {
			return nil, errNoActiveToken
		}
		if want != "" && t.ID != want {
			return nil, errOtherToken
		}
		t.Counter++
		id = t.ID
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return next.token(id), nil
}

// makeCryptogram makes the cryptogram of token t of card id with its
// reserved counter, then reads the card again: the cryptogram is returned
// only when t is still the card's active token (errTokenSuspended or
// errNoActiveToken otherwise), so none made after a suspension or deletion
// was stored is returned. It returns the token PAN too. A token the token
// service answers is deleted is retired (retireGoneToken). The caller
// holds the card lock.
func (h *Handler) makeCryptogram(q *request, id string, t *tokenRecord, use tsp.Use) (string, tsp.Cryptogram, error) {
	tokenPAN, err := h.revealOne(q, t.PANAlias)
	if err != nil {
		return "", tsp.Cryptogram{}, fmt.Errorf("reveal the network token: %w", err)
	}
	c, err := h.ts().Cryptogram(q.ctx, tokenPAN, t.Counter, use, h.now())
	if errors.Is(err, tsp.ErrDeleted) {
		h.retireGoneToken(q, id, t.ID) // a notification lost (lifecycle.go)
	}
	if err != nil {
		return "", tsp.Cryptogram{}, fmt.Errorf("%w: cryptogram: %w", errTokenService, err)
	}
	if !usableCryptogram(c) {
		return "", tsp.Cryptogram{}, fmt.Errorf("%w: %w: cryptogram: the answer is no usable cryptogram", errTokenService, errTokenAnswer)
	}
	now, err := h.loadID(q, id)
	if err != nil {
		return "", tsp.Cryptogram{}, err
	}
	switch cur := now.token(t.ID); {
	case cur != nil && cur.State == TokenActive:
		return tokenPAN, c, nil
	case cur != nil && cur.State == TokenSuspended:
		return "", tsp.Cryptogram{}, errTokenSuspended
	}
	return "", tsp.Cryptogram{}, errNoActiveToken
}

// refreshToken applies a card expiry change to the current token of next
// (lifecycle update); called by PATCH under the card lock. changed: the
// token's expiry changed.
func (h *Handler) refreshToken(q *request, next *record, now time.Time) (changed bool, err error) {
	t := next.currentToken()
	if t == nil || (t.ExpMonth == next.ExpMonth && t.ExpYear == next.ExpYear) {
		return false, nil
	}
	tokenPAN, err := h.revealOne(q, t.PANAlias)
	if err != nil {
		return false, err
	}
	if err := h.ts().Update(q.ctx, tokenPAN, strconv.Itoa(next.ExpMonth), strconv.Itoa(next.ExpYear)); err != nil {
		return false, fmt.Errorf("%w: update: %w", errTokenService, err)
	}
	t.ExpMonth, t.ExpYear, t.UpdatedAt = next.ExpMonth, next.ExpYear, now
	return true, nil
}

// tokenTimeLayout is the network tokens page's timestamp: UTC, microseconds
// at most, no zone designator.
const tokenTimeLayout = "2006-01-02T15:04:05.999999"

func formatTokenTime(t time.Time) string { return t.UTC().Format(tokenTimeLayout) }

// cryptogramRequest reads a cryptogram request body: the payment's use
// (data.attributes.transaction_type; "" when there is none: the token
// type's use) and the token it names (data.id; "" when none). A body that
// is empty or white space only is the token type's use; any other body
// that is no valid JSON is 400 malformed_json; a JSON body must be
// the page's document: an object whose data, when present, is an object
// (400 invalid_document) whose attributes, when present, are an object
// (422 invalid_attributes), as the other /cards documents are read. Such
// a body was ignored, so a transaction_type sent inside it was dropped and
// the cryptogram made for the default use. data.type, when present, is
// "network_tokens" (409 type_mismatch); data.id, when present and not
// null or "", a string (409 id_mismatch); an attribute other than
// transaction_type is 422 unknown_attribute. The caller checks the id
// against the card's token.
func cryptogramRequest(body []byte) (use tsp.Use, tokenID string, err error) {
	var doc struct {
		Data struct {
			Type       json.RawMessage            `json:"type"`
			ID         json.RawMessage            `json:"id"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	// A repeated member (or one spelled in another letter case, which
	// encoding/json would read as the same) is refused as in every other
	// /cards document.
	if err := jsonapi.CheckMembersExact(body, &doc); err != nil {
		return "", "", err
	}
	if !json.Valid(body) {
		if len(bytes.TrimSpace(body)) == 0 {
			return "", "", nil // no body: the token type's use
		}
		// A document gone wrong (cut short, more bytes after it, a byte
		// order mark) or a body in another syntax (a form, XML, text): a
		// transaction_type in it would be dropped.
		if err := jsonapi.Decode(body, false, &doc); err != nil {
			return "", "", err
		}
		return "", "", jsonapi.NewError(http.StatusBadRequest, "malformed_json", "Bad Request", "the request body is not valid JSON")
	}
	if json.Unmarshal(body, &doc) != nil {
		return "", "", cryptogramDocError(body)
	}
	if doc.Data.Type != nil {
		var s string
		if json.Unmarshal(doc.Data.Type, &s) != nil || s != typeNetworkTokens {
			e := jsonapi.NewError(http.StatusConflict, "type_mismatch", "Conflict", `data.type must be "network_tokens"`)
			e.Objects[0].Source = &jsonapi.Source{Pointer: "/data/type"}
			return "", "", e
		}
	}
	if doc.Data.ID != nil && !namesNoID(doc.Data.ID) {
		if json.Unmarshal(doc.Data.ID, &tokenID) != nil {
			return "", "", tokenIDMismatch()
		}
	}
	var c errs
	checkAllowed(&c, doc.Data.Attributes, "transaction_type")
	if err := c.err(); err != nil {
		return "", "", err
	}
	raw, ok := doc.Data.Attributes["transaction_type"]
	if !ok {
		return "", tokenID, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" { // null or "": unset, as when absent (tsp.ParseUse would read "" as ecommerce)
			return "", tokenID, nil
		}
		if u, err := tsp.ParseUse(s); err == nil {
			return u, tokenID, nil
		}
	}
	return "", "", invalid("transaction_type", "invalid_transaction_type",
		`transaction_type is "ecommerce" or "card_on_file"`)
}

// tokenIDMismatch is the answer to a cryptogram request whose data.id is
// not the card's active token (409, JSON:API's answer to an id that does
// not match the endpoint's resource).
func tokenIDMismatch() error {
	e := jsonapi.NewError(http.StatusConflict, "id_mismatch", "Conflict",
		"data.id must be the id of the card's active network token")
	e.Objects[0].Source = &jsonapi.Source{Pointer: "/data/id"}
	return e
}

// cryptogramDocError says which part of a JSON cryptogram request body is
// not of the page's shape (encoding/json could not read it into one).
func cryptogramDocError(body []byte) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top == nil {
		return jsonapi.NewError(http.StatusBadRequest, "invalid_document", "Bad Request",
			"the body must be a JSON:API document (an object)")
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(top["data"], &data) != nil || data == nil {
		e := jsonapi.NewError(http.StatusBadRequest, "invalid_document", "Bad Request", "data must be an object")
		e.Objects[0].Source = &jsonapi.Source{Pointer: "/data"}
		return e
	}
	return jsonapi.Invalid(attrPointer, "invalid_attributes", "attributes must be an object")
}
