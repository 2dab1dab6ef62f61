// Package cards is the Card Management API: JSON:API documents for cards
// (POST and GET /cards, GET, PATCH and DELETE /cards/{id}) and their card
// updates. A card
// record holds aliases only: the PAN is kept in the vault under a persistent
// UUID alias and the CVC under a volatile one, so the CVC disappears with the
// volatile TTL (cvc_status "expired"). Clients with the PCI flag see pan and
// cvc in clear when their principal holds cards:read (request.showsClear),
// in the answers of writes too; all others get the document without those
// two attributes.
//
// Decisions where the spec pages are silent:
//   - exp_month and exp_year are required on POST and are JSON integers;
//     exp_year is kept as sent (2 digits, 0–99 meaning 2000–2099, or 4 digits
//     2000–2099). A card that has expired is accepted on POST and PATCH (an
//     account updater refreshes exactly those; the spec page's PATCH example
//     updates a card that expired in 24) and shown with "expired": true once
//     its expiry month has ended (it is valid through the month's last day,
//     UTC); the attribute is absent otherwise. A card expiring more than 50
//     years ahead is refused (422).
//   - CVC: digits only, 4 for AMEX and 3 for every other brand.
//   - meta: string → string, at most 50 keys, keys 1–40 characters, values at
//     most 500 characters, keys and values never holding a card number a
//     reader sees (pan.ContainsShownValue: any script's digits, any
//     separator but ':', which ends a number, so that a date and a time
//     of day is not read as one); PATCH replaces
//     the whole object (null or {} clears it). It is returned as the "meta"
//     attribute when not empty.
//   - Unknown or read-only attributes → 422 with the attribute's pointer.
//     A data.type other than "cards" → 409; a data.id on POST → 403
//     (JSON:API's answer to an unsupported client-generated id; it was
//     422), but null or "" names no id and is a create (namesNoID); a
//     data.id on PATCH different from the path → 409; a
//     data.relationships member → 403 (JSON:API's answer to an
//     unsupported relationship update; it was ignored) unless it names
//     exactly the card's own linkage, in any order (card_updates and
//     network_tokens as GET include links them; both empty on POST): a
//     client library sends its model's relationships back, asking for no
//     change (checkRelationships). {} or null is accepted. Member names
//     are read exactly (sentLinkage): "data", "links", "meta" in a
//     relationship, "type", "id", "meta" in an identifier; any other,
//     another letter case included, is 403.
//   - first8 is the first 8 digits only for PANs of 16 digits or more; shorter
//     PANs show their first 6 there too (PCI DSS display limit).
//   - capabilities: "network-tokens" for VISA, MASTERCARD, AMEX and
//     DISCOVER (the schemes with a token service); "card-updates" besides
//     only while the card has a network token (active or suspended): the
//     network's lifecycle updates (token updates, account updater reissues)
//     reach a card through its token (lifecycle.go), so a card without one
//     receives none. [] for the other brands.
//   - cvc_alias is omitted when the card has no CVC (cvc_status "none"); cvc is
//     omitted for PCI clients too when the CVC has expired or was never given.
//   - A duplicate PAN (same account) answers 303 with Location and a document
//     {"data":{"type":"cards","id":…},"metadata":…}; the existing card is not
//     changed. An account with duplicate detection off (an operator setting)
//     gets a new card (201) sharing the others' pan_alias and
//     card_fingerprint: see duplicates.go.
//   - PATCH records a card update only when something changed (a sent CVC
//     always counts as a change; the CVC it replaces is deleted from the
//     vault once the card is stored with the new one, as a reissue and a
//     card's deletion delete theirs: it stayed revealable until it
//     expired); with no change the card is returned with
//     "included": [] (the page's answer has included; it was left out, and
//     is empty on a replay of such a PATCH too, idempotency.go).
//   - card_type comes from DefaultBINTable; Options.BINTable lines are merged
//     over it (same prefix replaced), the longest matching prefix wins.
//   - card_fingerprint is base58(HMAC-SHA256(HMAC-SHA256(FingerprintKey,
//     account), PAN)), 44 characters; duplicates are detected by it.
//   - A 201 also carries Location: /cards/{id}.
//   - GET include takes card_updates and network_tokens (the active network
//     token, if any); anything else → 400 with source.parameter "include".
//     Each relationship asked for is in data.relationships (to-many, an
//     empty data array for none) naming exactly what included holds of
//     it: JSON:API's full linkage (it was left out, and client libraries
//     found no included resource). Without include, and in the PATCH
//     answer, the card keeps the spec page's shape (no relationships).
//   - Content negotiation (jsonapi.Negotiate, every endpoint, after
//     authentication, before anything is read or written): a JSON:API
//     Content-Type with a parameter other than profile and charset=utf-8
//     → 415 (POST and PATCH also need the media type: CheckContentType);
//     an Accept whose every instance of the JSON:API media type has such
//     a parameter (an ext: none is supported) or q=0 → 406. A body in a
//     content coding (Content-Encoding other than identity) → 415
//     unsupported_content_encoding: bodies are read as sent.
//   - Query parameters: include on GET /cards/{id} and the list's (list.go)
//     only. Any other (sparse fieldsets fields[…] included, which are not
//     implemented: JSON:API makes them binding) → 400 invalid_parameter
//     with source.parameter when its name is safe to echo, before anything
//     is read or written (they were ignored: a PCI client asking for
//     fields[cards]=last4 got pan and cvc, a DELETE with a parameter
//     deleted).
//   - Network tokens: see tokens.go. DELETE /cards/{id}: see delete.go.
//     Lifecycle events from the network (token updated, suspended,
//     resumed, deleted; card reissued): see lifecycle.go. Events published
//     to Options.Events (card.created …): see events.go.
//     GET /cards (list, cursor pagination, filters): see list.go.
//   - A PCI client names pan_alias or cvc_alias only with aliases:reveal
//     (403 insufficient_scope before the vault is asked): it would be shown
//     the alias's value in clear (revealInputs). Clients without the PCI flag
//     name aliases with cards:write alone.
//   - Accounts (issue 18): every vault call acts for the client's account
//     (vault.WithAccount): pan_alias and cvc_alias resolve among that
//     account's aliases only (another account's alias is unknown_alias,
//     exactly as a missing one), and the aliases a card gets belong to it.
//     A card whose PAN (or network token PAN) the vault no longer gives
//     this account answers 409 card_data_gone wherever the PAN is needed;
//     through an inbound route in front of the API (internal:cards), which
//     acts for its account (its request filters made their aliases there,
//     its leak guard judges the answer there), only that account's clients
//     are served: another's is 403 account_not_allowed after authentication
//     (vault.Service.RouteServes; the built-in /cards serves every account);
//     AliasUse (vault.Options.InUse) keeps the vault API from deleting a
//     card's pan_alias, or the PAN alias of its live network token (the
//     token alias index, tokenaliases.go), 409 alias_in_use. A card
//     stored with a pan_alias that a concurrent delete removed gets its
//     number back under a new alias (restore.go). MigrateAccounts (migrate.go)
//     gives the cards of every account the records they referenced before
//     accounts existed.
//   - Card records are written with compare-and-swap (cas.go): every write
//     that replaces a record stores it only when the store still holds the
//     bytes it was made from, else the card is read again and the change
//     re-applied (at most 16 tries, then 409 card_conflict), so gateways
//     sharing one store never undo each other's changes. Work outside the
//     record (token service, vault, events) is not repeated on a retry.
//   - A card write the store answers with an error may have been made all
//     the same (PostgreSQL: the connection lost at COMMIT, the context
//     cancelled after the statement ran). The card is read back
//     (writeOutcome, cas.go): holding what was written, the write is taken
//     as made and the request answered as such; holding what it replaced
//     (a create's card absent), as not made; unreadable or changed since,
//     the outcome is unknown (500) and nothing the written record may
//     reference is released (mayHaveWritten): not the create's own
//     aliases, not those of the route in front of the API, not a reissue's
//     new number. A leftover alias is the lesser harm; a card pointing at
//     deleted card data is not. A release of aliases that fails is logged
//     and counted (ReleaseFailures: aliasgate_alias_releases_failed_total).
package cards

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/base58"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// Store keeps card records as opaque bytes (the vault stores cannot import this package).
type Store interface {
	// PutCard stores record under (account, id) unless the account already has a card with the same
	// fingerprint; then it stores nothing and returns the existing card's id (existingID != "").
	// The fingerprint arguments of the Store are index keys (a fingerprint, or for a card made with
	// duplicate detection off "<fingerprint>/<card id>", duplicates.go) and opaque to it.
	PutCard(ctx context.Context, account, id, fingerprint string, record []byte) (existingID string, err error)
	// GetCard returns the record of (account, id); ok false when absent.
	GetCard(ctx context.Context, account, id string) (record []byte, ok bool, err error)
	// CardsByFingerprint returns the ids of the account's cards indexed under fingerprint or under a
	// key that starts with fingerprint and vault.CardIndexSep (cards made with duplicate detection
	// off, duplicates.go), in index key order.
	CardsByFingerprint(ctx context.Context, account, fingerprint string) (ids []string, err error)
	// UpdateCard replaces the record of (account, id) and appends update to its card updates, atomically.
	// old is the record as the caller read it: every write that replaces
	// a record is a compare-and-swap, stored only when the record is still
	// exactly old, else vault.ErrCardChanged and nothing is written (cas.go).
	UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error
	// CardUpdates returns the card's updates in order.
	CardUpdates(ctx context.Context, account, id string) ([][]byte, error)
	// ReplaceCard replaces an existing card record without recording a card update.
	ReplaceCard(ctx context.Context, account, id string, old, record []byte) error
	// ReissueCard replaces the record of (account, id), moves its fingerprint entry from
	// oldFingerprint to fingerprint and appends update, atomically, unless another card of
	// the account has fingerprint: then it writes nothing and returns that card's id.
	ReissueCard(ctx context.Context, account, id, oldFingerprint, fingerprint string, old, record, update []byte) (existingID string, err error)
	// DeleteCard removes the card (account, id), its card updates and its fingerprint entry; ok
	// false when there is no such card.
	DeleteCard(ctx context.Context, account, id, fingerprint string) (ok bool, err error)
	// ListCards returns up to limit of the account's cards whose id sorts after after ("" from
	// the first), in id order.
	ListCards(ctx context.Context, account, after string, limit int) (ids []string, records [][]byte, err error)
	// ClaimIdempotency stores record under (account, key) until expires unless a record that
	// has not expired at now is there; then it returns that one and writes nothing.
	ClaimIdempotency(ctx context.Context, account, key string, record []byte, now, expires time.Time) (existing []byte, err error)
	// FinishIdempotency replaces the record of (account, key) and its expiry.
	FinishIdempotency(ctx context.Context, account, key string, record []byte, expires time.Time) error
	// ReleaseIdempotency removes (account, key).
	ReleaseIdempotency(ctx context.Context, account, key string) error
	TokenAliases
}

// TokenAliases is the token alias index of a Store (tokenaliases.go):
// which of an account's cards have a network token whose PAN the vault
// holds under an alias, so that AliasUse finds the token from the alias
// the vault API is asked to delete.
type TokenAliases interface {
	// PutTokenAliases adds entries (those already there stay, once).
	PutTokenAliases(ctx context.Context, entries []vault.TokenAlias) error
	// CardsByTokenAlias returns the ids of the account's cards indexed
	// under alias, in id order.
	CardsByTokenAlias(ctx context.Context, account, alias string) ([]string, error)
	// RemoveTokenAlias removes every entry of the account's alias; none is
	// no error.
	RemoveTokenAlias(ctx context.Context, account, alias string) error
	// TokenAliasesIndexed reports whether MarkTokenAliasesIndexed was called.
	TokenAliasesIndexed(ctx context.Context) (bool, error)
	// MarkTokenAliasesIndexed records that the index was built over every
	// card (IndexTokenAliases).
	MarkTokenAliasesIndexed(ctx context.Context) error
}

// Vault turns values into aliases and back (*vault.Service).
type Vault interface {
	Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error)
	Reveal(ctx context.Context, aliases []string) ([]vault.Revealed, error)
	// Delete removes one alias of the context's account (DELETE /cards/{id}).
	Delete(ctx context.Context, alias string) error
	// Release deletes an alias the request of ctx made, as Delete does,
	// unless another caller was given it since (vault.ErrHandedOut: it
	// stays); the releases of what a request that stored nothing made.
	Release(ctx context.Context, alias string) error
	// RouteServes reports whether a client of account may be served
	// through the inbound routes the request came through, if any
	// (vault.WithRouteAccount): only their account's clients.
	RouteServes(ctx context.Context, account string) bool
}

// Guard authenticates requests and checks scopes (*auth.Service).
type Guard interface {
	Require(scope string, allowBasic bool, contentType string, next http.Handler) http.Handler
}

// Options configures a Handler.
type Options struct {
	VaultID        string    // metadata.observability.vault_id
	FingerprintKey []byte    // 32 bytes; per-account keys are derived from it (HMAC(key, account))
	BINTable       io.Reader // optional CSV "prefix,card_type" lines overriding the embedded default
	Now            func() time.Time
	Logger         *slog.Logger
	// TSP provisions network tokens and makes cryptograms. nil → a tsp.Simulator keyed with
	// HMAC-SHA256(FingerprintKey, SimulatorKeyLabel).
	TSP tsp.Provider
	// TokenServiceTimeout bounds each call to TSP (provisioning, a
	// cryptogram, an expiry update, a delete); 0: DefaultTokenServiceTimeout.
	// A call that passes it answers 502 token_service_unavailable.
	TokenServiceTimeout time.Duration
	// Duplicates, when set, is told of every duplicate answer (303) before
	// it is given; an error (a *vault.ThrottleError: the client is flagged
	// for probing which card numbers exist) answers 429 instead.
	Duplicates DuplicateWatch
	// Settings gives each account's settings (network tokens, token type;
	// settings.go); nil: every account has the defaults (network tokens off).
	Settings Settings
	// Events receives the card and network token events (events.go;
	// serve: the webhook outbox); nil: no events.
	Events Events
	// Numbers is the numbers index of every account's cards (numbers.go;
	// serve: *vault.Numbers); nil: a token PAN is checked against the
	// account's own vault only.
	Numbers Numbers
}

// DuplicateWatch counts duplicate answers per caller (internal/abuse).
type DuplicateWatch interface {
	NoteDuplicate(ctx context.Context) error
}

// SimulatorKeyLabel derives the default TSP simulator's key from the fingerprint key.
const SimulatorKeyLabel = "aliasgate cards tsp simulator key v1"

// Limits and constants of the API.
const (
	// MaxMetaKeys, MaxMetaKeyLen and MaxMetaValueLen limit the meta object.
	MaxMetaKeys     = 50
	MaxMetaKeyLen   = 40
	MaxMetaValueLen = 500
	// MaxBody is the largest request body accepted.
	MaxBody = 64 << 10

	typeCards       = "cards"
	typeCardUpdates = "card_updates"
	idPrefix        = "CRD"
	idLen           = len(idPrefix) + 22
	maxFutureYears  = 50
	maxAliasLen     = 256
)

// Handler serves /cards and /cards/{id}.
type Handler struct {
	store      Store
	vault      Vault
	log        *slog.Logger
	now        func() time.Time
	vaultID    string
	fpKey      []byte
	idemKey    []byte         // HMAC key of Idempotency-Keys and request bodies (idempotency.go)
	dups       DuplicateWatch // nil: duplicates are not counted
	accounts   Settings       // nil: defaults (settings.go)
	bins       binTable
	tsp        tsp.Provider // called through ts() (tsptimeout.go)
	tspTimeout time.Duration
	events     Events     // nil: no events (events.go)
	numbers    Numbers    // nil: no numbers index (numbers.go)
	locks      *cardLocks // per-card write lock of this process (cas.go)
	// releaseFailures counts the releases of aliases that failed
	// (ReleaseFailures).
	releaseFailures atomic.Uint64

	create, get, patch, list, del      http.Handler
	provision, deleteToken, cryptogram http.Handler
}

// New returns the Card Management API handler.
func New(store Store, v Vault, guard Guard, opts Options) (*Handler, error) {
	if store == nil || v == nil || guard == nil {
		return nil, errors.New("cards: New needs a store, a vault and a guard")
	}
	if len(opts.FingerprintKey) != 32 {
		return nil, errors.New("cards: the fingerprint key must be 32 bytes")
	}
	h := &Handler{store: store, vault: v, log: opts.Logger, now: opts.Now, vaultID: opts.VaultID, locks: newCardLocks(),
		fpKey: append([]byte(nil), opts.FingerprintKey...), bins: binTable{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.tsp = opts.TSP
	h.dups = opts.Duplicates
	h.accounts = opts.Settings
	h.events = opts.Events
	h.numbers = opts.Numbers
	if h.tsp == nil {
		m := hmac.New(sha256.New, opts.FingerprintKey)
		m.Write([]byte(SimulatorKeyLabel))
		h.tsp = tsp.NewSimulator(m.Sum(nil))
	}
	h.tspTimeout = opts.TokenServiceTimeout
	if h.tspTimeout <= 0 {
		h.tspTimeout = DefaultTokenServiceTimeout
	}
	h.tsp.Subscribe(tokenEvents{h}) // network lifecycle events (lifecycle.go)
	if err := parseBINTable(h.bins, strings.NewReader(DefaultBINTable)); err != nil {
		return nil, err
	}
	if opts.BINTable != nil {
		if err := parseBINTable(h.bins, opts.BINTable); err != nil {
			return nil, err
		}
	}
	m := hmac.New(sha256.New, opts.FingerprintKey)
	m.Write([]byte(IdempotencyKeyLabel))
	h.idemKey = m.Sum(nil)
	h.create = guard.Require(auth.ScopeCardsWrite, false, jsonapi.MediaType, negotiated(onlyParams(h.idempotent(http.HandlerFunc(h.serveCreate)))))
	h.get = guard.Require(auth.ScopeCardsRead, false, jsonapi.MediaType, negotiated(onlyParams(http.HandlerFunc(h.serveGet), "include")))
	h.patch = guard.Require(auth.ScopeCardsWrite, false, jsonapi.MediaType, negotiated(onlyParams(h.idempotent(http.HandlerFunc(h.servePatch)))))
	h.list = guard.Require(auth.ScopeCardsRead, false, jsonapi.MediaType, negotiated(http.HandlerFunc(h.serveList))) // parseListQuery
	h.del = guard.Require(auth.ScopeCardsWrite, false, jsonapi.MediaType, negotiated(onlyParams(http.HandlerFunc(h.serveDelete))))
	h.provision = guard.Require(auth.ScopeNetworkTokensWrite, false, jsonapi.MediaType, negotiated(onlyParams(http.HandlerFunc(h.serveProvision))))
	h.deleteToken = guard.Require(auth.ScopeNetworkTokensWrite, false, jsonapi.MediaType, negotiated(onlyParams(http.HandlerFunc(h.serveDeleteToken))))
	h.cryptogram = guard.Require(auth.ScopeNetworkTokensWrite, false, jsonapi.MediaType, negotiated(onlyParams(http.HandlerFunc(h.serveCryptogram))))
	return h, nil
}

// ServeHTTP routes POST and GET /cards, GET, PATCH and DELETE /cards/{id}
// and the network token endpoints. A request whose inbound route made
// aliases is followed by releaseUnwritten: what the route made and no
// card took leaves the vault.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(vault.RouteAliases(r.Context())) > 0 {
		vault.ClaimRelease(r.Context()) // the proxy leaves the release to releaseUnwritten
		h.releaseUnwritten(w, r)
		return
	}
	h.serve(w, r)
}

// serve is ServeHTTP's routing.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/cards" || p == "/cards/":
		switch r.Method {
		case http.MethodPost:
			h.create.ServeHTTP(w, r)
		case http.MethodGet:
			h.list.ServeHTTP(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case strings.HasPrefix(p, "/cards/") && !strings.Contains(p[len("/cards/"):], "/"):
		switch r.Method {
		case http.MethodGet:
			h.get.ServeHTTP(w, r)
		case http.MethodPatch:
			h.patch.ServeHTTP(w, r)
		case http.MethodDelete:
			h.del.ServeHTTP(w, r)
		default:
			methodNotAllowed(w, "GET, PATCH, DELETE")
		}
	case strings.HasPrefix(p, "/cards/") && strings.HasSuffix(p, "/"+pathNetworkTokens) &&
		strings.Count(p, "/") == 3:
		switch r.Method {
		case http.MethodPost:
			h.provision.ServeHTTP(w, r)
		case http.MethodDelete:
			h.deleteToken.ServeHTTP(w, r)
		default:
			methodNotAllowed(w, "POST, DELETE")
		}
	case strings.HasPrefix(p, "/cards/") && strings.HasSuffix(p, "/"+pathCryptogram) && strings.Count(p, "/") == 3:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		h.cryptogram.ServeHTTP(w, r)
	default:
		jsonapi.WriteError(w, jsonapi.MediaType, errNotFound())
	}
}

// onlyParams refuses (400 invalid_parameter, before next runs) a request
// with a query parameter other than accepted: JSON:API has a server that
// cannot process a parameter answer 400, and makes a sparse fieldset
// (fields[…], which this API does not implement) binding, so a client
// asking for fewer fields must not get pan and cvc all the same, nor a
// write be made without the parameters its client meant.
func onlyParams(next http.Handler, accepted ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" {
			next.ServeHTTP(w, r)
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			jsonapi.WriteError(w, jsonapi.MediaType, jsonapi.NewError(http.StatusBadRequest, "invalid_parameter",
				"Bad Request", "the query string is malformed"))
			return
		}
		for _, name := range sortedKeys(q) {
			if !contains(accepted, name) {
				jsonapi.WriteError(w, jsonapi.MediaType, unknownParam(name, accepted))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// unknownParam is the 400 invalid_parameter of a query parameter name an
// endpoint does not read, listing those it does (onlyParams, and the
// list's parseListQuery).
func unknownParam(name string, accepted []string) *jsonapi.Error {
	detail := "this endpoint takes no query parameters"
	if len(accepted) > 0 {
		detail = "unknown query parameter; accepted: " + strings.Join(accepted, ", ")
	}
	if strings.HasPrefix(name, "fields[") {
		detail = "sparse fieldsets (fields[…]) are not supported: every attribute is returned; " + detail
	}
	return badParam(name, detail)
}

// negotiated refuses, before next runs, a request that JSON:API's content
// negotiation refuses (jsonapi.Negotiate): 415 for a JSON:API Content-Type
// with a parameter other than profile and a UTF-8 charset, on every
// endpoint (provisioning and the cryptogram read or ignore their bodies,
// but the client declared what the server does not support), and 406 for
// an Accept that takes the JSON:API media type only with such a parameter
// (an ext): every answer of the API is the media type without parameters.
func negotiated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := jsonapi.Negotiate(r); err != nil {
			jsonapi.WriteError(w, jsonapi.MediaType, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	jsonapi.WriteError(w, jsonapi.MediaType, jsonapi.NewError(http.StatusMethodNotAllowed,
		"method_not_allowed", "Method Not Allowed", "allowed methods: "+allow))
}

func errNotFound() *jsonapi.Error {
	return jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found", "no such card")
}

// errCardDataGone answers a card whose PAN (or network token PAN) the
// vault no longer gives this client: its alias was deleted, or (a card made
// before accounts existed) it belongs to another account. The card record
// is still there, but nothing that needs the PAN can be done with it.
func errCardDataGone() *jsonapi.Error {
	return jsonapi.NewError(http.StatusConflict, "card_data_gone", "Conflict",
		"the vault no longer holds this card's number for this account (its alias was deleted); create the card again")
}

// record is the stored card: aliases and the PCI-displayable parts of the PAN.
type record struct {
	ID          string            `json:"id"`
	PANAlias    string            `json:"pan_alias"`
	CVCAlias    string            `json:"cvc_alias,omitempty"`
	BIN         string            `json:"bin"`
	First8      string            `json:"first8"`
	Last4       string            `json:"last4"`
	Brand       string            `json:"brand"`
	Type        string            `json:"type"`
	Fingerprint string            `json:"fingerprint"`
	ExpMonth    int               `json:"exp_month"`
	ExpYear     int               `json:"exp_year"`
	Meta        map[string]string `json:"meta,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Tokens      []tokenRecord     `json:"network_tokens,omitempty"`
	// Deleting is set by DELETE /cards/{id} before it removes the card's
	// aliases: the card answers 404 from then on (see delete.go).
	Deleting bool `json:"deleting,omitempty"`
	// Cardholder and TokenType are kept as sent (compat.go).
	Cardholder *Cardholder `json:"cardholder,omitempty"`
	TokenType  string      `json:"token_type,omitempty"`
	// Enrollment is EnrollmentFailed or EnrollmentUnsupported after an
	// automatic provisioning that did not give a token (settings.go).
	Enrollment string `json:"enrollment,omitempty"`
	// IndexKey is the card's fingerprint index key when it is not
	// Fingerprint: "<fingerprint>/<card id>" for a card made with
	// duplicate detection off (duplicates.go).
	IndexKey string `json:"index_key,omitempty"`
	// PANAliasOrigin says who made PANAlias (delete.go): originCard (the
	// card's create, repair or reissue, or a duplicate card that did) or
	// originAccount (the account held it before the card: the vault API, a
	// proxy route, an earlier request), whose alias a delete of the card
	// leaves in the vault. "" on cards stored before the mark existed
	// (legacyAliasHeld decides for them).
	PANAliasOrigin string `json:"pan_alias_origin,omitempty"`

	// raw is the record as read from (or last written to) the store: the
	// old bytes of its compare-and-swap write (cas.go).
	raw []byte
}

// Attributes is the attributes object of a card resource, in the spec's order.
type Attributes struct {
	PAN             string            `json:"pan,omitempty"`
	CVCStatus       string            `json:"cvc_status"`
	PANAlias        string            `json:"pan_alias"`
	CVC             string            `json:"cvc,omitempty"`
	CVCAlias        string            `json:"cvc_alias,omitempty"`
	TokenType       string            `json:"token_type"`
	BIN             string            `json:"bin"`
	First8          string            `json:"first8"`
	Last4           string            `json:"last4"`
	ExpMonth        int               `json:"exp_month"`
	ExpYear         int               `json:"exp_year"`
	CardFingerprint string            `json:"card_fingerprint"`
	Capabilities    []string          `json:"capabilities"`
	CreatedAt       string            `json:"created_at"`
	UpdatedAt       string            `json:"updated_at"`
	CardBrand       string            `json:"card_brand"`
	CardType        string            `json:"card_type"`
	Meta            map[string]string `json:"meta,omitempty"`
	Cardholder      *Cardholder       `json:"cardholder,omitempty"`
	Expired         bool              `json:"expired,omitempty"`
	// EnrollmentStatus is the network token enrollment (settings.go).
	EnrollmentStatus string `json:"enrollment_status,omitempty"`
}

// CVC statuses.
const (
	CVCActive  = "active"
	CVCExpired = "expired"
	CVCNone    = "none"
)

// Resource is a JSON:API resource object.
type Resource struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Attributes any    `json:"attributes,omitempty"`
	// Relationships links the card of GET /cards/{id}?include=… to
	// the resources of included (JSON:API's full linkage); absent
	// otherwise, as on the spec pages' examples.
	Relationships map[string]Relationship `json:"relationships,omitempty"`
}

// Relationship is a to-many relationship object: the identifiers of the
// related resources (an empty array for none).
type Relationship struct {
	Data []Identifier `json:"data"`
}

// Identifier is a JSON:API resource identifier object.
type Identifier struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Observability is metadata.observability.
type Observability struct {
	TraceID     string `json:"trace_id"`
	ClientID    string `json:"client_id"`
	VaultID     string `json:"vault_id"`
	AccountID   string `json:"account_id"`
	Fingerprint string `json:"fingerprint"`
}

// Metadata is the top-level metadata member.
type Metadata struct {
	Observability Observability `json:"observability"`
}

// Document is a response document.
type Document struct {
	Data     Resource    `json:"data"`
	Included *[]Resource `json:"included,omitempty"`
	Metadata Metadata    `json:"metadata"`
}

// CardUpdate is the attributes of a card_updates resource.
type CardUpdate struct {
	ChangedFields []string       `json:"changed_fields"`
	UpdatedValues []UpdatedValue `json:"updated_values"`
	Event         string         `json:"event"`
	ReceivedAt    string         `json:"received_at"`
}

// UpdatedValue is one non-sensitive field's change.
type UpdatedValue struct {
	FieldName string          `json:"field_name"`
	OldValue  json.RawMessage `json:"old_value"`
	NewValue  json.RawMessage `json:"new_value"`
}

// storedUpdate is the stored form of a card update.
type storedUpdate struct {
	ID string `json:"id"`
	CardUpdate
}

// request is the state of one API call.
type request struct {
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context
	p   auth.Principal
	obs Observability
}

// showsClear reports whether the answers to q carry clear card data (pan,
// cvc, a network token's PAN): for a PCI client whose principal holds
// cards:read, the scope of GET /cards/{id}. The answers of writes (POST,
// PATCH, provisioning) carry them on the same terms, so a token asked for
// with cards:write or network-tokens:write alone reads no card in clear.
func (q *request) showsClear() bool {
	return q.p.PCI && q.p.HasScope(auth.ScopeCardsRead)
}

func (h *Handler) begin(w http.ResponseWriter, r *http.Request) (*request, bool) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		h.log.ErrorContext(r.Context(), "cards: no principal in the request context")
		jsonapi.WriteError(w, jsonapi.MediaType, errors.New("no principal"))
		return nil, false
	}
	if p.Account == "" {
		jsonapi.WriteError(w, jsonapi.MediaType, jsonapi.NewError(http.StatusForbidden, "no_account",
			"Forbidden", "the client is not bound to an account"))
		return nil, false
	}
	if !h.vault.RouteServes(r.Context(), p.Account) { // the route's account only (vault.WithRouteAccount)
		jsonapi.WriteError(w, jsonapi.MediaType, errAccountNotAllowed())
		return nil, false
	}
	// The client is the actor of audited reveals, and acts for its account:
	// pan_alias and cvc_alias resolve among that account's aliases only,
	// and the aliases the API makes belong to it.
	ctx := vault.WithAccount(vault.WithClient(r.Context(), p.ClientID), p.Account)
	return &request{w: w, r: r, ctx: ctx, p: p, obs: Observability{
		TraceID: traceID(r.Header.Get("traceparent")), ClientID: p.ClientID, VaultID: h.vaultID,
		AccountID: p.Account, Fingerprint: p.Fingerprint,
	}}, true
}

// errAccountNotAllowed is the refusal of a client of another account than
// the inbound route's in front of the API (Vault.RouteServes).
func errAccountNotAllowed() error {
	return jsonapi.NewError(http.StatusForbidden, "account_not_allowed", "Forbidden",
		"this route acts for another account than the client's: use the gateway's /cards, or a route of the client's account")
}

// fail writes err; errors that are not *jsonapi.Error are logged and become
// 429 for a throttled caller (vault.ErrThrottled), 503 when the vault or its
// store is unavailable (the client may retry), else 500.
func (h *Handler) fail(q *request, what string, err error) {
	var je *jsonapi.Error
	var te *vault.ThrottleError
	if errors.As(err, &te) {
		h.log.WarnContext(q.ctx, "cards: "+what+" refused: caller throttled", "limit", te.Limit,
			"client_id", q.p.ClientID, "trace_id", q.obs.TraceID)
		je = jsonapi.NewError(http.StatusTooManyRequests, "rate_limited", "Too Many Requests",
			"too many new card numbers or duplicates from this client; try again after the time in Retry-After")
		je.RetryAfter = te.RetryAfter
		err = je
	}
	if !errors.As(err, &je) {
		h.log.ErrorContext(q.ctx, "cards: "+what+" failed", "error", err.Error(), "account_id", q.p.Account,
			"trace_id", q.obs.TraceID)
		switch {
		case errors.Is(err, errTokenService):
			err = jsonapi.NewError(http.StatusBadGateway, "token_service_unavailable", "Bad Gateway",
				"the network token service failed or gave an answer that cannot be used; try again later")
		case vault.Unavailable(err):
			je = jsonapi.NewError(http.StatusServiceUnavailable, "vault_unavailable", "Service Unavailable",
				"the vault is unavailable; try again later")
			je.RetryAfter = vault.UnavailableRetryAfter
			err = je
		}
	}
	jsonapi.WriteError(q.w, jsonapi.MediaType, err)
}

// traceID returns the trace id of a W3C traceparent header, or a new one.
// A trace id is logged and returned, so one holding a card-like run (13–19
// Luhn-valid digits: a client's or, one time in a few hundred, a random
// one), or starting with a number whose value is one ("18e14…": the log
// scrubber's pan.MaskAll masks it), is never used: PCI scans of logs and
// answers would flag it.
func traceID(tp string) string {
	parts := strings.Split(strings.TrimSpace(tp), "-")
	if len(parts) >= 4 && len(parts[0]) == 2 && parts[0] != "ff" && isLowerHex(parts[0]) &&
		len(parts[1]) == 32 && isLowerHex(parts[1]) && parts[1] != strings.Repeat("0", 32) &&
		!pan.ContainsAllString(parts[1]) {
		return parts[1]
	}
	b := make([]byte, 16)
	for {
		_, _ = rand.Read(b)
		if id := hex.EncodeToString(b); !pan.ContainsAllString(id) {
			return id
		}
	}
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func newCardID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return idPrefix + base58.EncodeFixed(b, 22)
}

func validCardID(id string) bool {
	return len(id) == idLen && strings.HasPrefix(id, idPrefix) && base58.Valid(id[len(idPrefix):])
}

// newUUID returns a random (version 4) UUID, the id of a card update. It
// is returned, published in card.updated events and printed by `tsp
// simulate`, so, like a trace id, one holding a card-like run (its
// dash-joined digit groups are read as one number; about one UUID in 400)
// is never used.
func newUUID() string {
	b := make([]byte, 16)
	for {
		_, _ = rand.Read(b)
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		s := hex.EncodeToString(b)
		if id := s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]; !pan.ContainsAllString(id) {
			return id
		}
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// attributes renders rec. pan and cvc are the clear values, shown only
// when q.showsClear; cvcStatus is active, expired or none.
func (h *Handler) attributes(q *request, rec *record, pan, cvc, cvcStatus string) Attributes {
	a := Attributes{
		CVCStatus: cvcStatus, PANAlias: rec.PANAlias, CVCAlias: rec.CVCAlias, TokenType: "pan",
		BIN: rec.BIN, First8: rec.First8, Last4: rec.Last4, ExpMonth: rec.ExpMonth, ExpYear: rec.ExpYear,
		CardFingerprint: rec.Fingerprint, Capabilities: capabilities(rec.Brand, rec.currentToken() != nil),
		CreatedAt: formatTime(rec.CreatedAt), UpdatedAt: formatTime(rec.UpdatedAt),
		CardBrand: rec.Brand, CardType: rec.Type, Meta: rec.Meta, Cardholder: rec.Cardholder,
		Expired: cardExpired(rec.ExpMonth, rec.ExpYear, h.now()), EnrollmentStatus: h.enrollment(q.p.Account, rec),
	}
	if rec.TokenType != "" {
		a.TokenType = rec.TokenType
	}
	if q.showsClear() {
		a.PAN = pan
		if cvcStatus == CVCActive {
			a.CVC = cvc
		}
	}
	return a
}

// reveal returns the clear PAN (when q.showsClear) and CVC state of rec.
func (h *Handler) reveal(q *request, rec *record) (pan, cvc, status string, err error) {
	var aliases []string
	if q.showsClear() {
		aliases = append(aliases, rec.PANAlias)
	}
	if rec.CVCAlias != "" {
		aliases = append(aliases, rec.CVCAlias)
	}
	status = CVCNone
	if len(aliases) == 0 {
		return "", "", status, nil
	}
	out, err := h.vault.Reveal(q.ctx, aliases)
	if err != nil {
		return "", "", "", err
	}
	if q.showsClear() {
		if errors.Is(out[0].Err, vault.ErrNotFound) {
			return "", "", "", errCardDataGone()
		}
		if out[0].Err != nil {
			return "", "", "", fmt.Errorf("reveal the PAN alias of card %s: %w", rec.ID, out[0].Err)
		}
		pan = out[0].Value
		out = out[1:]
	}
	if rec.CVCAlias != "" {
		switch {
		case out[0].Err == nil:
			status, cvc = CVCActive, out[0].Value
		case errors.Is(out[0].Err, vault.ErrNotFound):
			status = CVCExpired
		default:
			return "", "", "", out[0].Err
		}
	}
	return pan, cvc, status, nil
}

func (h *Handler) write(q *request, status int, doc Document) {
	doc.Metadata = Metadata{Observability: q.obs}
	jsonapi.WriteJSON(q.w, status, jsonapi.MediaType, doc)
}

// load reads the card of the path in the principal's account.
func (h *Handler) load(q *request) (*record, error) {
	return h.loadID(q, strings.TrimPrefix(q.r.URL.Path, "/cards/"))
}

// loadID reads card id in the principal's account; a card being deleted
// is not found.
func (h *Handler) loadID(q *request, id string) (*record, error) {
	rec, err := h.loadAny(q, id)
	if err == nil && rec.Deleting {
		return nil, errNotFound()
	}
	return rec, err
}

// loadAny reads card id in the principal's account, being deleted or not.
func (h *Handler) loadAny(q *request, id string) (*record, error) {
	if !validCardID(id) {
		return nil, errNotFound()
	}
	b, ok, err := h.store.GetCard(q.ctx, q.p.Account, id)
	if err != nil {
		return nil, fmt.Errorf("get card: %w", err)
	}
	if !ok {
		return nil, errNotFound()
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return nil, err
	}
	rec.raw = b
	return rec, nil
}

func decodeRecord(b []byte) (*record, error) {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode card record: %w", err)
	}
	return &rec, nil
}

func (h *Handler) serveGet(w http.ResponseWriter, r *http.Request) {
	q, ok := h.begin(w, r)
	if !ok {
		return
	}
	var wantUpdates, wantTokens, include bool
	if v, ok := r.URL.Query()["include"]; ok {
		include = true
		for _, s := range strings.Split(strings.Join(v, ","), ",") {
			switch strings.TrimSpace(s) {
			case "card_updates":
				wantUpdates = true
			case "network_tokens":
				wantTokens = true
			default:
				e := jsonapi.NewError(http.StatusBadRequest, "invalid_include", "Bad Request",
					"include takes a comma-separated list of card_updates and network_tokens")
				e.Objects[0].Source = &jsonapi.Source{Parameter: "include"}
				h.fail(q, "get", e)
				return
			}
		}
	}
	rec, err := h.load(q)
	if err != nil {
		h.fail(q, "get card", err)
		return
	}
	pan, cvc, status, err := h.reveal(q, rec)
	if err != nil {
		h.fail(q, "get card", err)
		return
	}
	doc := Document{Data: Resource{Type: typeCards, ID: rec.ID, Attributes: h.attributes(q, rec, pan, cvc, status)}}
	if include {
		included := []Resource{}
		// Each relationship asked for is in data.relationships, naming
		// what included holds of it: JSON:API's full linkage, by which
		// client libraries find the included resources of the card.
		doc.Data.Relationships = map[string]Relationship{}
		link := func(name string, res Resource) {
			r := doc.Data.Relationships[name]
			r.Data = append(r.Data, Identifier{Type: res.Type, ID: res.ID})
			doc.Data.Relationships[name] = r
			included = append(included, res)
		}
		if wantUpdates {
			doc.Data.Relationships[typeCardUpdates] = Relationship{Data: []Identifier{}}
			raw, err := h.store.CardUpdates(q.ctx, q.p.Account, rec.ID)
			if err != nil {
				h.fail(q, "get card updates", err)
				return
			}
			for _, b := range raw {
				var u storedUpdate
				if err := json.Unmarshal(b, &u); err != nil {
					h.fail(q, "decode card update", err)
					return
				}
				link(typeCardUpdates, Resource{Type: typeCardUpdates, ID: u.ID, Attributes: u.CardUpdate})
			}
		}
		if wantTokens {
			doc.Data.Relationships[typeNetworkTokens] = Relationship{Data: []Identifier{}}
			if t := rec.currentToken(); t != nil {
				a, err := h.tokenAttributes(q, t, "")
				if err != nil {
					h.fail(q, "get card: network token", err)
					return
				}
				link(typeNetworkTokens, Resource{Type: typeNetworkTokens, ID: t.ID, Attributes: a})
			}
		}
		doc.Included = &included
	}
	h.write(q, http.StatusOK, doc)
}
