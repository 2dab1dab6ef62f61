// Package vaultapi serves the vault HTTP API (internal:aliases): create,
// reveal, update and delete aliases, compatible with the VGS Vault HTTP API
// v1 (the api.yaml of VGS's published clients, its newer revision
// included) so that its clients work unchanged.
//
//	POST   /aliases           aliases:write   1–20 values (or aliases) → 201 with their records;
//	                                          409 alias_space_exhausted when a format has no free alias left
//	GET    /aliases/{alias}   aliases:reveal  → {"data":[record]}
//	GET    /aliases?q=a,b     aliases:reveal  → {"data":{"a":record,"b":record}} (also ?aliases=)
//	PUT    /aliases/{alias}   aliases:write   {"data":{"classifiers":[…]}} → 204 (?storage= as GET); audited
//	DELETE /aliases/{alias}   aliases:write   → 204 (that alias only; the value's other aliases stay);
//	                                          409 alias_in_use when it backs a card
//	POST   /aliases/delete    aliases:write   {"data":[alias…]} (1–20) → 204; 404 none existed;
//	                                          409 alias_in_use when any backs a card: none deleted
//
// GET /aliases takes one list, comma-separated, in q or in aliases (VGS's
// q is one string). A query that gives q, aliases or storage more than
// once, gives both q and aliases, or that url.ParseQuery reads only in
// part (a pair with a ';', a bad escape) is refused 400 invalid_query
// (source.parameter naming the parameter) on every path, before any vault
// call (readQuery): an API that read the first copy answered part of the
// request as the whole.
//
// A create is all or nothing: when an item is refused (the 400 names each
// one refused, source.pointer /data/<i>/…), none of the request's values
// is stored. A batch delete is not (see deleteMany).
//
// Every call acts for the authenticated client's account: aliases it
// creates belong to that account, and an alias of another account answers
// exactly as one that does not exist (404, or absent from a ?q= answer).
// Through an inbound route in front of the API (internal:aliases), which
// acts for its own account, a client of another account is refused (403
// account_not_allowed; vault.Service.RouteServes). A request through such
// a route that stores nothing (any refusal, any endpoint but a create that
// stored its values) releases the aliases the route's redactions made
// (Handler.ReleaseWith: the Card Management API's rule, so a card that
// took one keeps it and an alias the account held before stays).
//
// Request documents repeat no member and spell member names exactly: a
// name that is one of the API's only when letter case is ignored
// ("Value", "ſtorage"), which encoding/json would read as it, is refused
// (400 inexact_member), as a repeated member is (400 duplicate_member).
// A member the API does not read (a meta object) is the client's own and
// may hold any key.
// Requests are application/json or application/vnd.api+json; answers are
// application/json, written through a small buffer (a reveal of 20 values
// at the value limit is tens of megabytes: it is not built in memory).
// Errors are VGS's error documents:
// {"errors":[{"status":400,"title":"Bad request","detail":"…","href":"<request URL>"}]}
// (status an integer, href the request's URL without its query), with two
// members of aliasgate's own that VGS clients ignore: code (a stable
// machine word) and source (the member or parameter at fault). Every error
// of a request has this shape, those of authentication included
// (jsonapi.ErrorDocumenter). A request the API refuses as malformed or
// invalid is answered 400, as VGS's own example ("Too many values (limit:
// 20)"). Authentication is a Bearer JWT from /oauth/token or HTTP Basic
// with a client's id and secret. An error never echoes a value: it names
// the member (source.pointer). A path http.ServeMux would redirect (an
// empty, "." or ".." element) is answered 404 not_found, not redirected
// (a redirect echoes the path and query in clear).
//
// HEAD is not a method of the API (VGS's has none): it is answered 405
// method_not_allowed with the path's Allow, as any other method the path
// does not take, before authentication and without a vault call. Served
// as GET (as http.ServeMux serves it), it was a reveal, decrypted,
// audited and counted against the client's limits, whose answer said
// only whether the alias exists and how long its record is.
//
// A value the vault holds that is not UTF-8 text (a route's filter stores
// a value whole, whatever its bytes) is never answered: a JSON string
// cannot hold it, and encoding/json would write other text (U+FFFD for
// each bad byte). A reveal of it, or a create naming its alias, is
// answered 422 value_not_text, naming the alias's place in the request
// (source.parameter q, or source.pointer /data/<i>/alias, the create
// refused whole before anything is written), never the value.
//
// A value may be a JSON string or a JSON number (the spec's own example
// sends 122105155): a number is stored as its text, exactly as sent. One
// value is at most the vault's MaxValueLen (vault.max_value_size); one
// request body at most twice that plus 64 KiB, read through a bounded
// reader, so that a large value cannot exhaust memory.
package vaultapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// Limits of one call.
const (
	MaxItems   = 20
	maxAliases = 20
	// maxSmallBody bounds the bodies that hold no value (PUT, batch delete).
	maxSmallBody = 256 << 10
	// bodySlack is what a create body may hold besides one value at the
	// limit (members, classifiers, JSON escapes).
	bodySlack = 64 << 10
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
	// DeleteMany deletes aliases, refusing before it deletes any when one
	// backs a card (a *vault.BatchError of vault.ErrInUse items).
	DeleteMany(ctx context.Context, aliases []string) (deleted int, err error)
	UpdateClassifiers(ctx context.Context, alias string, classifiers []string) error
	// MaxValueLen is the longest value stored, in bytes.
	MaxValueLen() int
	// RouteServes reports whether a client of account may be served
	// through the inbound routes the request came through, if any
	// (vault.WithRouteAccount): only their account's clients.
	RouteServes(ctx context.Context, account string) bool
}

// Guard wraps a handler with authentication and a scope check (auth.Service).
type Guard interface {
	Require(scope string, allowBasic bool, contentType string, next http.Handler) http.Handler
}

// Releaser releases the aliases the inbound route in front of the API
// that r came through made (vault.CreatedAliases), as a create of the
// Card Management API that stores no card releases its own
// (cards.Handler.ReleaseRouteAliases): one rule for both APIs.
type Releaser interface {
	ReleaseRouteAliases(r *http.Request)
}

// storedKey marks the context of a request whose route made aliases; it
// holds a *bool that create sets once its values are stored.
type storedKey struct{}

// Handler serves the vault API.
type Handler struct {
	vault   Vault
	logger  *slog.Logger
	mux     *http.ServeMux
	release Releaser
}

// ReleaseWith has a request through an inbound route in front of the API
// that stores nothing (any refusal: 400, 401, 403, 413, 415, 422, 429, a
// failure; any endpoint but a create that stored its values) release the
// aliases the route made, with r. Without one the inbound proxy releases
// them once the API returned, unless a create stored its values
// (vault.ClaimRelease); the gateway sets the Card Management API's. Call
// it before serving.
func (h *Handler) ReleaseWith(r Releaser) { h.release = r }

// New returns the API handler. Paths are served as /aliases and
// /aliases/{alias}; mount it at the root of a listener or behind a prefix
// stripper.
func New(v Vault, guard Guard, logger *slog.Logger) *Handler {
	h := &Handler{vault: v, logger: logger, mux: http.NewServeMux()}
	w := func(fn http.HandlerFunc) http.Handler {
		return guard.Require(ScopeWrite, true, contentType, h.asClient(fn))
	}
	r := func(fn http.HandlerFunc) http.Handler {
		return guard.Require(ScopeReveal, true, contentType, h.asClient(fn))
	}
	h.mux.Handle("POST /aliases", w(h.create))
	h.mux.Handle("GET /aliases", r(h.revealMany))
	h.mux.Handle("GET /aliases/{alias}", r(h.revealOne))
	h.mux.Handle("PUT /aliases/{alias}", w(h.update))
	h.mux.Handle("DELETE /aliases/{alias}", w(h.delete))
	h.mux.Handle("POST /aliases/delete", w(h.deleteMany))
	return h
}

// asClient makes the authenticated client the actor of the vault calls
// (for the audit log), acting for its account: the aliases it creates
// belong to that account, and it reaches no other account's (they answer
// 404 like aliases that do not exist). A principal without an account is
// refused (auth never issues one; fail closed), and so is a client of
// another account than the inbound route's in front of the API, if any
// (403 account_not_allowed: vault.Service.RouteServes).
func (h *Handler) asClient(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.Account == "" {
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusForbidden, "no_account", "Forbidden",
				"the client is not bound to an account"))
			return
		}
		if !h.vault.RouteServes(r.Context(), p.Account) {
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusForbidden, "account_not_allowed", "Forbidden",
				"this route acts for another account than the client's: use the gateway's /aliases, or a route of the client's account"))
			return
		}
		r = r.WithContext(vault.WithAccount(vault.WithClient(r.Context(), p.ClientID), p.Account))
		fn(w, r)
	}
}

// ServeHTTP implements http.Handler. Unknown paths get a 404 and wrong
// methods (HEAD among them: it is no reveal) a 405 with Allow. Every error
// document of the request is VGS's (see the package documentation).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(vault.RouteAliases(r.Context())) > 0 {
		// An inbound route in front of the API made aliases of what the
		// client sent (the proxy records them for such routes): a
		// request that stored nothing releases them (Releaser). Without
		// a Releaser the proxy releases them unless create stored
		// (vault.ClaimRelease).
		stored := new(bool)
		if h.release != nil {
			vault.ClaimRelease(r.Context()) // the proxy leaves the release to this one
			defer func() {
				if !*stored {
					h.release.ReleaseRouteAliases(r)
				}
			}()
		}
		r = r.WithContext(context.WithValue(r.Context(), storedKey{}, stored))
	}
	w = &vgsErrors{ResponseWriter: w, href: href(r)}
	if r.Method != http.MethodConnect && r.URL.Path != cleanPath(r.URL.Path) {
		// http.ServeMux would redirect to the cleaned path, echoing it and
		// the query (alias lists, any value) in clear in Location and an
		// HTML body: a VGS error instead, its href masked. The gateway's
		// listener cleans paths before (canonicalize); this handler may be
		// mounted elsewhere.
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found", "no such endpoint"))
		return
	}
	// HEAD is no method of the API (VGS's has none): http.ServeMux would
	// serve it as GET, a reveal (decrypted, audited, counted against the
	// client's limits) whose answer is only whether the alias exists and
	// how long its record is. It is refused as any other method the path
	// does not take, before authentication and the vault.
	if _, pattern := h.mux.Handler(r); pattern == "" || r.Method == http.MethodHead {
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

// cleanPath is the path http.ServeMux serves p as (it redirects any other
// spelling there): rooted, no "." or ".." elements nor repeated slashes,
// a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func allowed(path string) string {
	switch {
	case path == "/aliases":
		return "GET, POST"
	case path == "/aliases/delete":
		return "GET, POST, PUT, DELETE" // POST: batch delete; the others: an alias named "delete"
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
	// Value is a JSON string or number (raw, to tell them apart); null or
	// absent is no value.
	Value       json.RawMessage `json:"value"`
	Alias       string          `json:"alias"`
	Classifiers []string        `json:"classifiers"`
	Format      string          `json:"format"`
	Storage     string          `json:"storage"`
}

// valueText returns the text of a value member: a string's content, or a
// number's text exactly as sent. ok is false for another JSON type.
func valueText(raw json.RawMessage) (text string, present, ok bool) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", false, true
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", true, false
		}
		return text, true, true
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw), true, true
	}
	return "", true, false
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	if err := jsonapi.CheckContentType(r, "application/json", jsonapi.MediaType); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	var doc struct {
		Data []createItem `json:"data"`
	}
	if err := jsonapi.DecodeBodyExact(r, h.maxCreateBody(), false, &doc); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	if err := checkCount(len(doc.Data), MaxItems, "items"); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	reqs := make([]vault.RedactRequest, len(doc.Data))
	var bad *jsonapi.Error
	referenced := map[string]bool{}
	for i, it := range doc.Data {
		value, hasValue, ok := valueText(it.Value)
		switch {
		case !ok:
			bad = appendErr(bad, invalid(fmt.Sprintf("/data/%d/value", i), "invalid_value", "value must be a string or a number"))
			continue
		case hasValue && it.Alias != "":
			bad = appendErr(bad, invalid(fmt.Sprintf("/data/%d", i), "invalid_item", "give either value or alias, not both"))
			continue
		case !hasValue && it.Alias == "":
			bad = appendErr(bad, invalid(fmt.Sprintf("/data/%d/value", i), "invalid_value", "value is required"))
			continue
		}
		if it.Alias != "" && it.Format == "" {
			bad = appendErr(bad, invalid(fmt.Sprintf("/data/%d/format", i), "invalid_format", "format is required with alias"))
			continue
		}
		if it.Alias != "" {
			if referenced[it.Alias] {
				bad = appendErr(bad, invalid(fmt.Sprintf("/data/%d/alias", i), "invalid_alias", "an alias may be referenced once in a request"))
				continue
			}
			referenced[it.Alias] = true
		}
		reqs[i] = vault.RedactRequest{Value: value, Alias: it.Alias, Format: vault.Format(it.Format), Storage: vault.Storage(it.Storage),
			Classifiers: it.Classifiers, Detail: true, Text: true}
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
	if stored, _ := r.Context().Value(storedKey{}).(*bool); stored != nil {
		*stored = true                  // the new records may hold the route's aliases (ServeHTTP)
		vault.ClaimRelease(r.Context()) // nor may the proxy release them
	}
	out := make([]record, len(toks))
	for i, t := range toks {
		out[i] = toRecord(vault.Entry{Value: t.Value, Classifiers: t.Classifiers, Storage: t.Storage,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
			Aliases: append([]vault.AliasInfo{{Alias: t.Alias, Format: t.Format}}, t.Others...)})
	}
	writeData(w, http.StatusCreated, nil, out)
}

// maxCreateBody is the largest create body: one value at the vault's limit
// (twice its size: JSON escapes) and the rest of the document.
func (h *Handler) maxCreateBody() int64 {
	return 2*int64(h.vault.MaxValueLen()) + bodySlack
}

// MaxBody returns the largest request body the API reads.
func (h *Handler) MaxBody() int64 { return MaxBodyFor(int64(h.vault.MaxValueLen())) }

// MaxBodyFor returns the largest request body the API reads from a vault
// whose longest value is maxValueLen bytes (Handler.MaxBody).
func MaxBodyFor(maxValueLen int64) int64 { return max(2*maxValueLen+bodySlack, maxSmallBody) }

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
	if _, ok := readQuery(w, r); !ok {
		return
	}
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
	if !utf8.ValidString(es[0].Value) {
		jsonapi.WriteError(w, contentType, notText(nil, "the alias"))
		return
	}
	writeData(w, http.StatusOK, nil, []record{toRecord(es[0])})
}

func (h *Handler) revealMany(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(w, r)
	if !ok {
		return
	}
	// VGS v1 names the list q, its newer revision aliases: take either,
	// and name the one the client sent in an error. Not both: one list is
	// answered, whole (readQuery refuses each given twice).
	param := "q"
	if q.Has("aliases") {
		if q.Has("q") {
			jsonapi.WriteError(w, contentType, invalidQuery("aliases", "give the list of aliases in q or in aliases, not both"))
			return
		}
		param = "aliases"
	}
	list := q.Get(param)
	var aliases []string
	seen := map[string]bool{}
	for a := range strings.SplitSeq(list, ",") { // read lazily: a list of a million commas costs no memory
		if a = strings.TrimSpace(a); a != "" && !seen[a] {
			seen[a] = true
			aliases = append(aliases, a)
			if len(aliases) > maxAliases {
				break // refused below
			}
		}
	}
	if len(aliases) == 0 || len(aliases) > maxAliases {
		jsonapi.WriteError(w, contentType, invalidQuery(param,
			fmt.Sprintf("list 1 to %d aliases, comma-separated, in the %s parameter", maxAliases, param)))
		return
	}
	es, err := h.vault.Describe(r.Context(), aliases)
	if err != nil {
		h.fail(w, r, "reveal", err)
		return
	}
	var keys []string
	var out []record
	var bad *jsonapi.Error
	for i, e := range es {
		switch {
		case e.Err != nil:
		case !utf8.ValidString(e.Value):
			bad = appendErr(bad, notText(&jsonapi.Source{Parameter: param},
				fmt.Sprintf("alias %d of the list (1 is the first, each alias counted once)", i+1)))
		default:
			keys, out = append(keys, aliases[i]), append(out, toRecord(e))
		}
	}
	if bad != nil {
		jsonapi.WriteError(w, contentType, bad)
		return
	}
	if len(out) == 0 {
		h.fail(w, r, "reveal", vault.ErrNotFound)
		return
	}
	writeData(w, http.StatusOK, keys, out)
}

// writeData writes the answer {"data":[record…]}, or {"data":{key:record…}}
// when keys are given (keys[i] names recs[i]; the members in key order, as
// encoding/json writes a map), through a buffer of about answerChunk
// bytes, with the bytes encoding/json (without HTML escaping) would write.
// The answer of a reveal of 20 values at the value limit is tens of
// megabytes (a '\\' or a '"' is written in two bytes, a control character
// in six): encoded whole (jsonapi.WriteJSON: the document in
// encoding/json's buffer, then copied for Content-Length, each grown by
// doubling) one request of a 1.3 KB URL allocated 348 MB, 228 MB of them
// besides its vault call's (TestLargeAnswersAreNotBuiltWhole). The
// answer's length is counted first (strLen, without building it) and sent
// as Content-Length, as before: an answer cut short (the write timeout
// passing while a slow client reads) then shows as cut to every reader,
// where without it an HTTP/1.0 reader (nginx's default towards its
// upstream) took the bytes up to the closed connection for the whole
// answer (TestCutAnswerIsNotTakenAsComplete).
func writeData(w http.ResponseWriter, status int, keys []string, recs []record) {
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	open, end := "[", "]}\n"
	if keys != nil {
		open, end = "{", "}}\n"
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	}
	// The value is streamed; the other members of a record (tails[i])
	// are encoding/json's encoding of the record without it, after its
	// "value":"".
	tails := make([]string, len(recs))
	var rest bytes.Buffer // a record's members after its value: small
	enc := json.NewEncoder(&rest)
	enc.SetEscapeHTML(false) // as jsonapi.WriteJSON: JSON, never HTML
	size := len(`{"data":`) + len(open) + len(end)
	for n, i := range order {
		r := recs[i]
		r.Value = ""
		rest.Reset()
		_ = enc.Encode(r) // strings and string slices: nothing fails
		tails[i] = strings.TrimSuffix(strings.TrimPrefix(rest.String(), `{"value":""`), "\n")
		if n > 0 {
			size++ // ,
		}
		if keys != nil {
			size += strLen(keys[i]) + 1 // :
		}
		size += len(`{"value":`) + strLen(recs[i].Value) + len(tails[i])
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(status)
	j := &jsonWriter{w: w, buf: make([]byte, 0, 2*answerChunk)}
	j.raw(`{"data":` + open)
	for n, i := range order {
		if n > 0 {
			j.raw(",")
		}
		if keys != nil {
			j.str(keys[i])
			j.raw(":")
		}
		j.raw(`{"value":`)
		j.str(recs[i].Value)
		j.raw(tails[i])
		if j.err != nil {
			return // the client went away
		}
	}
	j.raw(end)
	j.flush()
}

// answerChunk is about how much of an answer is held before it is written.
const answerChunk = 32 << 10

// jsonWriter writes JSON text to w through buf, flushed each time it holds
// answerChunk bytes or more; err is the first write error (later writes
// are dropped).
type jsonWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (j *jsonWriter) flush() {
	if j.err == nil && len(j.buf) > 0 {
		_, j.err = j.w.Write(j.buf)
	}
	j.buf = j.buf[:0]
}

func (j *jsonWriter) full() {
	if len(j.buf) >= answerChunk {
		j.flush()
	}
}

func (j *jsonWriter) raw(s string) {
	j.buf = append(j.buf, s...)
	j.full()
}

const hexDigits = "0123456789abcdef"

// strLen returns the number of bytes str writes for s.
func strLen(s string) int {
	n := 2 // the quotes
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			switch {
			case b >= 0x20 && b != '"' && b != '\\':
				n++
			case b == '"', b == '\\', b == '\b', b == '\f', b == '\n', b == '\r', b == '\t':
				n += 2
			default:
				n += len(`\u00XX`)
			}
			i++
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1, c == '\u2028', c == '\u2029':
			n += len(`\ufffd`)
		default:
			n += size
		}
		i += size
	}
	return n
}

// str writes s as a JSON string exactly as encoding/json does without HTML
// escaping (Encoder.SetEscapeHTML(false)): '"' and '\\' escaped, control
// characters as \b \f \n \r \t or \u00XX, U+2028 and U+2029 as \u2028
// and \u2029, a byte that is not UTF-8 as \ufffd; the rest as it is.
// TestJSONWriterWritesAsEncodingJSON checks it against encoding/json.
func (j *jsonWriter) str(s string) {
	j.buf = append(j.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if i-start >= answerChunk {
			j.buf = append(j.buf, s[start:i]...)
			start = i
			j.full()
		}
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			j.buf = append(j.buf, s[start:i]...)
			switch b {
			case '\\', '"':
				j.buf = append(j.buf, '\\', b)
			case '\b':
				j.buf = append(j.buf, '\\', 'b')
			case '\f':
				j.buf = append(j.buf, '\\', 'f')
			case '\n':
				j.buf = append(j.buf, '\\', 'n')
			case '\r':
				j.buf = append(j.buf, '\\', 'r')
			case '\t':
				j.buf = append(j.buf, '\\', 't')
			default:
				j.buf = append(j.buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			j.full()
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			j.buf = append(append(j.buf, s[start:i]...), `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			j.buf = append(append(j.buf, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
		j.full()
	}
	j.buf = append(append(j.buf, s[start:]...), '"')
	j.full()
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	if _, ok := readQuery(w, r); !ok {
		return
	}
	if err := jsonapi.CheckContentType(r, "application/json", jsonapi.MediaType); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	var doc struct {
		Data *struct {
			Classifiers *[]string `json:"classifiers"`
		} `json:"data"`
	}
	if err := jsonapi.DecodeBodyExact(r, maxSmallBody, false, &doc); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	if doc.Data == nil || doc.Data.Classifiers == nil {
		jsonapi.WriteError(w, contentType, invalid("/data/classifiers", "invalid_classifiers", "data.classifiers is required"))
		return
	}
	if err := h.vault.UpdateClassifiers(r.Context(), r.PathValue("alias"), *doc.Data.Classifiers); err != nil {
		h.fail(w, r, "update", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	if _, ok := readQuery(w, r); !ok {
		return
	}
	if err := h.vault.Delete(r.Context(), r.PathValue("alias")); err != nil {
		h.fail(w, r, "delete", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteMany is the batch delete of the newer spec:
// {"data":[alias…],"storage":"PERSISTENT"} → 204 when it deleted any of
// them, 404 when none existed. When one backs a card the answer is 409
// alias_in_use with one error for each such alias (source.pointer
// "/data/<index>") and none of the aliases is deleted (vault.DeleteMany);
// a 503 part way leaves some deleted: sending the same batch again
// finishes it (the ones gone are skipped).
func (h *Handler) deleteMany(w http.ResponseWriter, r *http.Request) {
	if err := jsonapi.CheckContentType(r, "application/json", jsonapi.MediaType); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	var doc struct {
		Data    []string `json:"data"`
		Storage string   `json:"storage"`
	}
	if err := jsonapi.DecodeBodyExact(r, maxSmallBody, false, &doc); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	if _, err := vault.ParseStorage(doc.Storage); err != nil {
		jsonapi.WriteError(w, contentType, invalid("/storage", "invalid_storage", "storage must be PERSISTENT or VOLATILE"))
		return
	}
	if err := checkCount(len(doc.Data), maxAliases, "aliases"); err != nil {
		jsonapi.WriteError(w, contentType, err)
		return
	}
	deleted, err := h.vault.DeleteMany(r.Context(), doc.Data)
	var be *vault.BatchError
	switch {
	case errors.As(err, &be) && errors.Is(err, vault.ErrInUse):
		detail := "the alias backs a card of the Card Management API; no alias of the request was deleted"
		if deleted > 0 {
			detail = fmt.Sprintf("the alias backs a card of the Card Management API; the %d aliases before it were deleted", deleted)
		}
		var out *jsonapi.Error
		for _, it := range be.Items {
			e := jsonapi.NewError(http.StatusConflict, "alias_in_use", "Conflict", detail)
			e.Objects[0].Source = &jsonapi.Source{Pointer: fmt.Sprintf("/data/%d", it.Index)}
			out = appendErr(out, e)
		}
		jsonapi.WriteError(w, contentType, out)
	case err != nil:
		h.fail(w, r, "delete", err)
	case deleted == 0:
		h.fail(w, r, "delete", vault.ErrNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// checkStorage answers 400 and returns false when the query's storage
// parameter (the newer spec's, declared on every method of
// /aliases/{alias} and on GET /aliases) is neither PERSISTENT nor
// VOLATILE. A valid
// one changes nothing: an alias is unique across both stores and is found
// in whichever holds it.
// queryParams are the query parameters the API reads.
var queryParams = [...]string{"q", "aliases", "storage"}

// readQuery returns r's query parameters, having checked them; when they
// do not pass it answers 400 and returns false. Refused (invalid_query): a
// query url.ParseQuery reads only in part (a pair with a ';', a bad
// escape: r.URL.Query drops such a pair without a word, and with it a
// list of aliases or a storage), and a parameter of the API's
// (queryParams) given more than once, whose copies a client, or a proxy
// in front, may read otherwise than the API (the first, the last, all of
// them): the API would answer a part of the request as if it were the
// whole. Neither is named by its value. Then storage (checkStorage).
// Other parameters are the client's and are not read.
func readQuery(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		e := jsonapi.NewError(http.StatusBadRequest, "invalid_query", "Bad Request",
			"the query string does not parse: pairs are separated by '&' only, and each '%' starts an escape of two hex digits")
		jsonapi.WriteError(w, contentType, e)
		return nil, false
	}
	for _, name := range queryParams {
		if len(q[name]) > 1 {
			jsonapi.WriteError(w, contentType, invalidQuery(name, "give the "+name+" parameter once"))
			return nil, false
		}
	}
	return q, checkStorage(w, q)
}

// invalidQuery is the 400 invalid_query error of the query parameter
// param.
func invalidQuery(param, detail string) *jsonapi.Error {
	e := jsonapi.NewError(http.StatusBadRequest, "invalid_query", "Bad Request", detail)
	e.Objects[0].Source = &jsonapi.Source{Parameter: param}
	return e
}

func checkStorage(w http.ResponseWriter, q url.Values) bool {
	if !q.Has("storage") {
		return true
	}
	if st := q.Get("storage"); st != "" {
		if _, err := vault.ParseStorage(st); err == nil {
			return true
		}
	}
	e := jsonapi.NewError(http.StatusBadRequest, "invalid_storage", "Bad Request", "storage must be PERSISTENT or VOLATILE")
	e.Objects[0].Source = &jsonapi.Source{Parameter: "storage"}
	jsonapi.WriteError(w, contentType, e)
	return false
}

// checkCount returns the error for a data list of n entries when n is not
// 1 to limit: over the limit, VGS's "Too many values (limit: 20)".
func checkCount(n, limit int, what string) *jsonapi.Error {
	switch {
	case n == 0:
		return invalid("/data", "invalid_data", fmt.Sprintf("data must list 1 to %d %s", limit, what))
	case n > limit:
		return invalid("/data", "too_many_values", fmt.Sprintf("Too many values (limit: %d)", limit))
	}
	return nil
}

// notText is the 422 value_not_text error of an alias (what names it in
// the request) whose value is not UTF-8 text: a JSON string cannot hold
// it, and encoding/json would write each bad byte as U+FFFD, answering
// other text than the vault holds. The value is never named.
func notText(src *jsonapi.Source, what string) *jsonapi.Error {
	e := jsonapi.NewError(http.StatusUnprocessableEntity, "value_not_text", "Unprocessable Entity",
		"the value of "+what+" is not UTF-8 text, which a JSON answer cannot hold (a route stored it as it came); reveal it through a route")
	e.Objects[0].Source = src
	return e
}

// invalid returns a 400 error about the request member at pointer: the
// vault API answers every refused request 400, as VGS's example.
func invalid(pointer, code, detail string) *jsonapi.Error {
	e := jsonapi.NewError(http.StatusBadRequest, code, "Bad Request", detail)
	e.Objects[0].Source = &jsonapi.Source{Pointer: pointer}
	return e
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
		allNotText := true
		for _, it := range be.Items {
			ptr := "/data/" + fmt.Sprint(it.Index) + "/" + it.Field
			if r.Method == http.MethodPut {
				ptr = "/data/" + it.Field
			}
			if errors.Is(it.Err, vault.ErrNotText) {
				out = appendErr(out, notText(&jsonapi.Source{Pointer: ptr}, "the alias"))
				continue
			}
			allNotText = false
			out = appendErr(out, invalid(ptr, codeOf(it.Err), detailOf(it.Err)))
		}
		if !allNotText {
			out.Status = http.StatusBadRequest // with a refused item: a request the API refuses
		}
		jsonapi.WriteError(w, contentType, out)
	case errors.Is(err, vault.ErrNotFound):
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusNotFound, "not_found", "Not Found", "alias not found"))
	case errors.Is(err, vault.ErrInUse):
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusConflict, "alias_in_use", "Conflict",
			"the alias backs a card of the Card Management API; it cannot be deleted while the card uses it"))
	case errors.Is(err, vault.ErrAliasSpaceExhausted):
		// A short format keeps most of a value's digits, and its few
		// aliases are shared by every account: a longer format is the way
		// out, not a retry.
		jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusConflict, "alias_space_exhausted", "Conflict",
			"no free alias of the requested format is left for this value; use a format with more free characters (UUID, PFPT)"))
	case errors.Is(err, context.Canceled):
		// the client went away; nothing to answer
	default:
		status, code, title := http.StatusInternalServerError, "internal_error", "Internal Server Error"
		if vault.Unavailable(err) {
			status, code, title = http.StatusServiceUnavailable, "vault_unavailable", "Service Unavailable"
			w.Header().Set("Retry-After", strconv.Itoa(int(vault.UnavailableRetryAfter/time.Second)))
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

// vgsErrors is the ResponseWriter of a vault API request: it makes the
// error documents VGS's (jsonapi.ErrorDocumenter).
type vgsErrors struct {
	http.ResponseWriter
	href string
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (w *vgsErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// vgsError is one error object of VGS's ApiError schema, with aliasgate's
// code and source.
type vgsError struct {
	Status int             `json:"status"`
	Title  string          `json:"title"`
	Detail string          `json:"detail"`
	Href   string          `json:"href"`
	Code   string          `json:"code,omitempty"`
	Source *jsonapi.Source `json:"source,omitempty"`
}

// ErrorDocument implements jsonapi.ErrorDocumenter: {"errors":[ApiError…]}
// with the response's status as an integer, its reason phrase in sentence
// case as the title ("Bad request", as VGS's example) and the request URL.
func (w *vgsErrors) ErrorDocument(e *jsonapi.Error) any {
	title := sentenceCase(http.StatusText(e.Status))
	out := make([]vgsError, len(e.Objects))
	for i, o := range e.Objects {
		detail := o.Detail
		if detail == "" {
			detail = title
		}
		out[i] = vgsError{Status: e.Status, Title: title, Detail: detail, Href: w.href, Code: o.Code, Source: o.Source}
	}
	return map[string][]vgsError{"errors": out}
}

// sentenceCase lower-cases every word of s but the first.
func sentenceCase(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i] + strings.ToLower(s[i:])
	}
	return s
}

// href is the URL the request was sent to, without its query (which may
// list aliases), card numbers masked (an alias path could be anything):
// the decoded path as a reader sees it (pan.MaskReadable: digit groups
// apart by a tab, a line break, '_' or two spaces), then the URL as sent
// (escaped digits). Masked as encoded only, "4111%091111%091111%091111"
// came back in clear (TestErrorHrefHoldsNoCardNumberAReaderSees). The Host
// is the client's too, masked the same way ("Host: 4111_1111_1111_1111"
// came back in clear: TestErrorHrefHostHoldsNoCardNumber).
func href(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: pan.MaskShown(r.Host), Path: pan.MaskShown(r.URL.Path)}
	return pan.MaskAll(u.String())
}
