// Package vaultapi serves the vault HTTP API (internal:aliases): create,
// reveal, update and delete aliases, compatible with the VGS Vault HTTP API
// v1 so that its clients work unchanged.
//
//	POST   /aliases           aliases:write   1–20 values (or aliases) → 201 with their records
//	GET    /aliases/{alias}   aliases:reveal  → {"data":[record]}
//	GET    /aliases?q=a,b     aliases:reveal  → {"data":{"a":record,"b":record}} (also ?aliases=)
//	PUT    /aliases/{alias}   aliases:write   {"data":{"classifiers":[…]}} → 204
//	DELETE /aliases/{alias}   aliases:write   → 204 (that alias only; the value's other aliases stay);
//	                                          409 alias_in_use when it backs a card
//
// Every call acts for the authenticated client's account: aliases it
// creates belong to that account, and an alias of another account answers
// exactly as one that does not exist (404, or absent from a ?q= answer).
//
// Requests are application/json or application/vnd.api+json; answers are
// application/json, errors JSON:API error documents. Authentication is a
// Bearer JWT from /oauth/token or HTTP Basic with a client's id and secret.
// An error never echoes a value: it names the member (source.pointer).
package vaultapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
)

// Limits of one call.
const (
	MaxItems   = 20
	maxBody    = 256 << 10
	maxAliases = 20
)

// Scopes the API checks.
const (
	ScopeWrite  = "aliases:write"
	ScopeReveal = "aliases:reveal"
)

const contentType = "application/json"

// PurposeCreate is the audit purpose (vault.WithPurpose) of the reveal a
// create makes when an item names an existing alias: the answer holds that
// alias's value.
const PurposeCreate = "create"

// Vault is what the API needs of the vault (vault.Service).
type Vault interface {
	Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error)
	Describe(ctx context.Context, aliases []string) ([]vault.Entry, error)
	Delete(ctx context.Context, alias string) error
	UpdateClassifiers(ctx context.Context, alias string, classifiers []string) error
}

// Guard wraps a handler with authentication and a scope check (auth.Service).
type Guard interface {
	Require(scope string, allowBasic bool, contentType string, next http.Handler) http.Handler
}

// Handler serves the vault API.
type Handler struct {
	vault  Vault
	logger *slog.Logger
	mux    *http.ServeMux
}

// New returns the API handler. Paths are served as /aliases and
// /aliases/{alias}; mount it at the root of a listener or behind a prefix
// stripper.
func New(v Vault, guard Guard, logger *slog.Logger) *Handler {
	h := &Handler{vault: v, logger: logger, mux: http.NewServeMux()}
	w := func(fn http.HandlerFunc) http.Handler {
		return guard.Require(ScopeWrite, true, contentType, asClient(fn))
	}
	r := func(fn http.HandlerFunc) http.Handler {
		return guard.Require(ScopeReveal, true, contentType, asClient(fn))
	}
	h.mux.Handle("POST /aliases", w(h.create))
	h.mux.Handle("GET /aliases", r(h.revealMany))
	h.mux.Handle("GET /aliases/{alias}", r(h.revealOne))
	h.mux.Handle("PUT /aliases/{alias}", w(h.update))
	h.mux.Handle("DELETE /aliases/{alias}", w(h.delete))
	return h
}

// asClient makes the authenticated client the actor of the vault calls
// (for the audit log), acting for its account: the aliases it creates
// belong to that account, and it reaches no other account's (they answer
// 404 like aliases that do not exist). A principal without an account is
// refused (auth never issues one; fail closed).
func asClient(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.Account == "" {
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusForbidden, "no_account", "Forbidden",
				"the client is not bound to an account"))
			return
		}
		r = r.WithContext(vault.WithAccount(vault.WithClient(r.Context(), p.ClientID), p.Account))
		fn(w, r)
	}
}

// ServeHTTP implements http.Handler. Unknown paths get a JSON:API 404 and
// wrong methods a 405 with Allow.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		allow := allowed(r.URL.Path)
		if allow == "" {
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found", "no such endpoint"))
			return
		}
		w.Header().Set("Allow", allow)
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", "allowed: "+allow))
		return
	}
	h.mux.ServeHTTP(w, r)
}

func allowed(path string) string {
	switch {
	case path == "/aliases":
		return "GET, POST"
	case strings.HasPrefix(path, "/aliases/") && len(path) > len("/aliases/") && !strings.Contains(path[len("/aliases/"):], "/"):
		return "GET, PUT, DELETE"
	}
	return ""
}

// record is the VGS record shape.
type record struct {
	Value       string      `json:"value"`
	Classifiers []string    `json:"classifiers"`
	Aliases     []aliasJSON `json:"aliases"`
	CreatedAt   string      `json:"created_at"`
	Storage     string      `json:"storage"`
}

type aliasJSON struct {
	Alias  string `json:"alias"`
	Format string `json:"format"`
}

func toRecord(e vault.Entry) record {
	r := record{Value: e.Value, Classifiers: e.Classifiers, CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339), Storage: string(e.Storage)}
	if r.Classifiers == nil {
		r.Classifiers = []string{}
	}
	for _, a := range e.Aliases {
		r.Aliases = append(r.Aliases, aliasJSON{Alias: a.Alias, Format: string(a.Format)})
	}
	return r
}

type createItem struct {
	Value       *string  `json:"value"`
	Alias       string   `json:"alias"`
	Classifiers []string `json:"classifiers"`
	Format      string   `json:"format"`
	Storage     string   `json:"storage"`
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	if err := jsonapi.CheckContentType(r, "application/json", jsonapi.MediaType); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	var doc struct {
		Data []createItem `json:"data"`
	}
	if err := jsonapi.DecodeBody(r, maxBody, false, &doc); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	switch {
	case len(doc.Data) == 0:
		jsonapi.WriteError(w, contentType, jsonapi.Invalid("/data", "invalid_data", "data must list 1 to 20 items"))
		return
	case len(doc.Data) > MaxItems:
		jsonapi.WriteError(w, contentType, jsonapi.Invalid("/data", "too_many_items", fmt.Sprintf("data lists %d items; at most %d are allowed", len(doc.Data), MaxItems)))
		return
	}
	reqs := make([]vault.RedactRequest, len(doc.Data))
	var bad *jsonapi.Error
	for i, it := range doc.Data {
		switch {
		case it.Value != nil && it.Alias != "":
			bad = appendErr(bad, jsonapi.Invalid(fmt.Sprintf("/data/%d", i), "invalid_item", "give either value or alias, not both"))
			continue
		case it.Value == nil && it.Alias == "":
			bad = appendErr(bad, jsonapi.Invalid(fmt.Sprintf("/data/%d/value", i), "invalid_value", "value is required"))
			continue
		}
		if it.Alias != "" && it.Format == "" {
			bad = appendErr(bad, jsonapi.Invalid(fmt.Sprintf("/data/%d/format", i), "invalid_format", "format is required with alias"))
			continue
		}
		reqs[i] = vault.RedactRequest{Alias: it.Alias, Format: vault.Format(it.Format), Storage: vault.Storage(it.Storage), Classifiers: it.Classifiers,
			Detail: true}
		if it.Value != nil {
			reqs[i].Value = *it.Value
		}
	}
	if bad != nil {
		jsonapi.WriteError(w, contentType, bad)
		return
	}
	// An item naming an existing alias gets that alias's value back in the
	// answer: it is a reveal, and needs the reveal scope too.
	if i := slices.IndexFunc(doc.Data, func(it createItem) bool { return it.Alias != "" }); i >= 0 && !hasScope(r, ScopeReveal) {
		e := jsonapi.NewError(http.StatusForbidden, "insufficient_scope", "Forbidden",
			"an item naming an existing alias returns its value and needs the aliases:reveal scope")
		e.Objects[0].Source = &jsonapi.Source{Pointer: fmt.Sprintf("/data/%d/alias", i)}
		jsonapi.WriteError(w, contentType, e)
		return
	}
	// The answer is made of what Redact returns (Detail): nothing is
	// decrypted for values the client sent. The value of an item naming an
	// existing alias is a reveal, which the vault audits with purpose
	// "create".
	toks, err := h.vault.Redact(vault.WithPurpose(r.Context(), PurposeCreate), reqs)
	if err != nil {
		h.fail(w, r, "create", err)
		return
	}
	out := make([]record, len(toks))
	for i, t := range toks {
		out[i] = toRecord(vault.Entry{Value: t.Value, Classifiers: t.Classifiers, Storage: t.Storage,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
			Aliases: append([]vault.AliasInfo{{Alias: t.Alias, Format: t.Format}}, t.Others...)})
	}
	jsonapi.WriteJSON(w, http.StatusCreated, contentType, map[string]any{"data": out})
}

// hasScope reports whether the request's principal holds scope.
func hasScope(r *http.Request, scope string) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && slices.Contains(p.Scopes, scope)
}

func appendErr(acc, e *jsonapi.Error) *jsonapi.Error {
	if acc == nil {
		return e
	}
	acc.Append(e)
	return acc
}

func (h *Handler) revealOne(w http.ResponseWriter, r *http.Request) {
	alias := r.PathValue("alias")
	es, err := h.vault.Describe(r.Context(), []string{alias})
	if err != nil {
		h.fail(w, r, "reveal", err)
		return
	}
	if es[0].Err != nil {
		h.fail(w, r, "reveal", es[0].Err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, contentType, map[string]any{"data": []record{toRecord(es[0])}})
}

func (h *Handler) revealMany(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	param := "q"
	list := q.Get("q")
	if list == "" {
		param, list = "aliases", q.Get("aliases")
	}
	var aliases []string
	seen := map[string]bool{}
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" && !seen[a] {
			seen[a] = true
			aliases = append(aliases, a)
		}
	}
	if len(aliases) == 0 || len(aliases) > maxAliases {
		e := jsonapi.NewError(http.StatusBadRequest, "invalid_query", "Bad Request",
			fmt.Sprintf("list 1 to %d aliases, comma-separated, in the q parameter", maxAliases))
		e.Objects[0].Source = &jsonapi.Source{Parameter: param}
		jsonapi.WriteError(w, contentType, e)
		return
	}
	es, err := h.vault.Describe(r.Context(), aliases)
	if err != nil {
		h.fail(w, r, "reveal", err)
		return
	}
	out := map[string]record{}
	for i, e := range es {
		if e.Err == nil {
			out[aliases[i]] = toRecord(e)
		}
	}
	if len(out) == 0 {
		h.fail(w, r, "reveal", vault.ErrNotFound)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, contentType, map[string]any{"data": out})
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	if err := jsonapi.CheckContentType(r, "application/json", jsonapi.MediaType); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	var doc struct {
		Data *struct {
			Classifiers *[]string `json:"classifiers"`
		} `json:"data"`
	}
	if err := jsonapi.DecodeBody(r, maxBody, false, &doc); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	if doc.Data == nil || doc.Data.Classifiers == nil {
		jsonapi.WriteError(w, contentType, jsonapi.Invalid("/data/classifiers", "invalid_classifiers", "data.classifiers is required"))
		return
	}
	if err := h.vault.UpdateClassifiers(r.Context(), r.PathValue("alias"), *doc.Data.Classifiers); err != nil {
		h.fail(w, r, "update", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.vault.Delete(r.Context(), r.PathValue("alias")); err != nil {
		h.fail(w, r, "delete", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail maps a vault error to a client-safe answer and logs what is not the
// client's fault. Vault errors carry no values, so they are safe to log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var be *vault.BatchError
	var te *vault.ThrottleError
	switch {
	case errors.As(err, &te):
		h.logger.WarnContext(r.Context(), "vault api call refused: caller throttled", "op", op, "limit", te.Limit)
		je := jsonapi.NewError(http.StatusTooManyRequests, "rate_limited", "Too Many Requests",
			"too many new values or guesses from this client; try again after the time in Retry-After")
		je.RetryAfter = te.RetryAfter
		jsonapi.WriteError(w, contentType, je)
	case errors.As(err, &be):
		var out *jsonapi.Error
		for _, it := range be.Items {
			ptr := "/data/" + fmt.Sprint(it.Index) + "/" + it.Field
			if r.Method == http.MethodPut {
				ptr = "/data/" + it.Field
			}
			out = appendErr(out, jsonapi.Invalid(ptr, codeOf(it.Err), detailOf(it.Err)))
		}
		jsonapi.WriteError(w, contentType, out)
	case errors.Is(err, vault.ErrNotFound):
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found", "alias not found"))
	case errors.Is(err, vault.ErrInUse):
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusConflict, "alias_in_use", "Conflict",
			"the alias backs a card of the Card Management API; it cannot be deleted while the card uses it"))
	case errors.Is(err, context.Canceled):
		// the client went away; nothing to answer
	default:
		status, code, title := http.StatusInternalServerError, "internal_error", "Internal Server Error"
		if errors.Is(err, vault.ErrUnavailable) || errors.Is(err, vault.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
			status, code, title = http.StatusServiceUnavailable, "vault_unavailable", "Service Unavailable"
			w.Header().Set("Retry-After", "1")
		}
		h.logger.ErrorContext(r.Context(), "vault api call failed", "op", op, "err", err)
		jsonapi.WriteError(w, contentType, jsonapi.NewError(status, code, title, ""))
	}
}

func codeOf(err error) string {
	switch {
	case errors.Is(err, vault.ErrInvalidValue):
		return "invalid_value"
	case errors.Is(err, vault.ErrInvalidFormat), errors.Is(err, vault.ErrFormatNotApplicable):
		return "invalid_format"
	case errors.Is(err, vault.ErrInvalidStorage):
		return "invalid_storage"
	case errors.Is(err, vault.ErrInvalidClassifier):
		return "invalid_classifiers"
	case errors.Is(err, vault.ErrNotFound):
		return "alias_not_found"
	}
	return "invalid_item"
}

// detailOf returns the vault's message without its "vault: " prefix. Vault
// item errors never contain the value.
func detailOf(err error) string {
	return strings.TrimPrefix(err.Error(), "vault: ")
}
