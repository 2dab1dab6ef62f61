package cards

// Network tokens (POST/DELETE /cards/{id}/network-tokens, POST /cards/{id}/cryptogram).
//
// Decisions where the spec pages are silent:
//   - The token state lives inside the card record (record.Tokens); the token
//     PAN itself is only in the vault, under a persistent UUID alias. A card
//     keeps its deleted tokens (state "deleted") for the record; only the
//     active one is ever shown.
//   - Provisioning, deletion, cryptograms and PATCH of a card are serialized
//     per card by a mutex in the Handler (one gateway process; several nodes
//     sharing a store could still race — see the issue note).
//   - network_token, bin and last4 are JSON strings; exp_month and exp_year
//     integers that follow the card's expiry. network_token is shown only to
//     PCI clients.
//   - Brands the TSP does not tokenize (see cards/tsp) → 422
//     network_tokens_unsupported. Cryptogram without an active token → 409
//     no_active_network_token. DELETE without an active token → 404.
//   - The request body of the three endpoints is ignored (the spec's
//     cryptogram body is {"data":{"attributes":{}}}).
//   - Each cryptogram uses the next value of the token's counter (stored in
//     the card record before the cryptogram is returned).

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	TokenActive  = "active"
	TokenDeleted = "deleted"
)

// tokenRecord is a network token as stored in the card record.
type tokenRecord struct {
	ID        string    `json:"id"`
	PANAlias  string    `json:"token_alias"` // persistent vault alias of the token PAN
	BIN       string    `json:"bin"`
	Last4     string    `json:"last4"`
	PAR       string    `json:"par"`
	ExpMonth  int       `json:"exp_month"`
	ExpYear   int       `json:"exp_year"`
	State     string    `json:"state"`
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

// lock serializes the token and PATCH operations of one card.
func (h *Handler) lock(account, id string) func() {
	m, _ := h.locks.LoadOrStore(account+"/"+id, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// tokenAttributes renders t; tokenPAN is the clear token PAN when the
// caller has it ("" → revealed from the vault for PCI clients only).
func (h *Handler) tokenAttributes(q *request, t *tokenRecord, tokenPAN string) (NetworkToken, error) {
	a := NetworkToken{BIN: t.BIN, CreatedAt: formatTime(t.CreatedAt), ExpMonth: t.ExpMonth, ExpYear: t.ExpYear,
		Last4: t.Last4, PaymentAccountReference: t.PAR, State: t.State, UpdatedAt: formatTime(t.UpdatedAt)}
	if !q.p.PCI {
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
	out, err := h.vault.Reveal(q.ctx, []string{alias})
	if err != nil {
		return "", err
	}
	if len(out) != 1 {
		return "", errors.New("vault reveal: wrong number of results")
	}
	if out[0].Err != nil {
		if errors.Is(out[0].Err, vault.ErrNotFound) {
			return "", errCardDataGone()
		}
		return "", out[0].Err
	}
	return out[0].Value, nil
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

func (h *Handler) replace(q *request, rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return h.store.ReplaceCard(q.ctx, q.p.Account, rec.ID, b)
}

func (h *Handler) serveProvision(w http.ResponseWriter, r *http.Request) {
	q, rec, unlock, ok := h.beginToken(w, r, "provision network token")
	if !ok {
		return
	}
	defer unlock()
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
	tok, err := h.tsp.Provision(q.ctx, pan, strconv.Itoa(rec.ExpMonth), strconv.Itoa(rec.ExpYear))
	if errors.Is(err, tsp.ErrUnsupportedBrand) {
		h.fail(q, "provision network token", jsonapi.NewError(http.StatusUnprocessableEntity,
			"network_tokens_unsupported", "Unprocessable Entity", "the card brand has no network token service"))
		return
	}
	if err != nil {
		h.fail(q, "provision network token: tsp", err)
		return
	}
	if len(tok.PAN) < 12 || !allDigits(tok.PAN) {
		h.fail(q, "provision network token", errors.New("tsp returned a malformed token PAN"))
		return
	}
	toks, err := h.vault.Redact(q.ctx, []vault.RedactRequest{{Value: tok.PAN, Format: vault.FormatUUID,
		Storage: vault.StoragePersistent}})
	if err != nil {
		h.fail(q, "provision network token: redact", err)
		return
	}
	now := h.now().UTC()
	t := tokenRecord{ID: newTokenID(), PANAlias: toks[0].Alias, BIN: tok.PAN[:6], Last4: tok.PAN[len(tok.PAN)-4:],
		PAR: tok.PAR, ExpMonth: rec.ExpMonth, ExpYear: rec.ExpYear, State: TokenActive, CreatedAt: now, UpdatedAt: now}
	rec.Tokens = append(rec.Tokens, t)
	if err := h.replace(q, rec); err != nil {
		h.fail(q, "provision network token: store", err)
		return
	}
	h.log.InfoContext(q.ctx, "cards: network token provisioned", "card_id", rec.ID, "network_token_id", t.ID,
		"account_id", q.p.Account, "trace_id", q.obs.TraceID)
	a, _ := h.tokenAttributes(q, &t, tok.PAN)
	h.write(q, http.StatusOK, Document{Data: Resource{Type: typeNetworkTokens, ID: t.ID, Attributes: a}})
}

func (h *Handler) serveDeleteToken(w http.ResponseWriter, r *http.Request) {
	q, rec, unlock, ok := h.beginToken(w, r, "delete network token")
	if !ok {
		return
	}
	defer unlock()
	t := rec.activeToken()
	if t == nil {
		h.fail(q, "delete network token", jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found",
			"the card has no active network token"))
		return
	}
	tokenPAN, err := h.revealOne(q, t.PANAlias)
	if err != nil {
		h.fail(q, "delete network token: reveal", err)
		return
	}
	if err := h.tsp.Delete(q.ctx, tokenPAN); err != nil {
		h.fail(q, "delete network token: tsp", err)
		return
	}
	t.State, t.UpdatedAt = TokenDeleted, h.now().UTC()
	if err := h.replace(q, rec); err != nil {
		h.fail(q, "delete network token: store", err)
		return
	}
	h.log.InfoContext(q.ctx, "cards: network token deleted", "card_id", rec.ID, "network_token_id", t.ID,
		"account_id", q.p.Account, "trace_id", q.obs.TraceID)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) serveCryptogram(w http.ResponseWriter, r *http.Request) {
	q, rec, unlock, ok := h.beginToken(w, r, "cryptogram")
	if !ok {
		return
	}
	defer unlock()
	t := rec.activeToken()
	if t == nil {
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusConflict, "no_active_network_token", "Conflict",
			"the card has no active network token; provision one first"))
		return
	}
	tokenPAN, err := h.revealOne(q, t.PANAlias)
	if err != nil {
		h.fail(q, "cryptogram: reveal", err)
		return
	}
	t.Counter++
	c, err := h.tsp.Cryptogram(q.ctx, tokenPAN, t.Counter, h.now())
	if errors.Is(err, tsp.ErrDeleted) {
		h.fail(q, "cryptogram", jsonapi.NewError(http.StatusConflict, "no_active_network_token", "Conflict",
			"the network token was deleted by the token service"))
		return
	}
	if err != nil {
		h.fail(q, "cryptogram: tsp", err)
		return
	}
	if err := h.replace(q, rec); err != nil {
		h.fail(q, "cryptogram: store", err)
		return
	}
	a, _ := h.tokenAttributes(q, t, tokenPAN)
	a.Cryptogram = &c
	h.write(q, http.StatusOK, Document{Data: Resource{Type: typeNetworkTokens, ID: t.ID, Attributes: a}})
}

// refreshToken applies a card expiry change to the active token of next
// (lifecycle update); called by PATCH under the card lock.
func (h *Handler) refreshToken(q *request, next *record, now time.Time) error {
	t := next.activeToken()
	if t == nil || (t.ExpMonth == next.ExpMonth && t.ExpYear == next.ExpYear) {
		return nil
	}
	tokenPAN, err := h.revealOne(q, t.PANAlias)
	if err != nil {
		return err
	}
	if err := h.tsp.Update(q.ctx, tokenPAN, strconv.Itoa(next.ExpMonth), strconv.Itoa(next.ExpYear)); err != nil {
		return err
	}
	t.ExpMonth, t.ExpYear, t.UpdatedAt = next.ExpMonth, next.ExpYear, now
	return nil
}
