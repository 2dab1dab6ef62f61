package cards

// Idempotency-Key on POST /cards and PATCH /cards/{id}.
//
// Decisions (the spec pages have no idempotency):
//   - A request with an Idempotency-Key header (1–255 printable ASCII
//     characters; else 400 invalid_idempotency_key) claims the key in the
//     client's account for IdempotencyTTL (24 h) once it succeeds (201, 303
//     or 200). A later request with the same key and the same method, path
//     and body gets the first answer again, with Idempotent-Replayed: true;
//     with anything else → 422 idempotency_key_reused. While the first is
//     still running → 409 idempotency_key_in_use with Retry-After (a claim
//     left by a gateway that died is free again after idempotencyPending;
//     on PostgreSQL that minute runs on the database's clock, which every
//     gateway shares, so a gateway whose clock runs ahead cannot take it).
//     An answer that is not a success releases the key, so the client can
//     correct the request and retry with it.
//   - The first answer is replayed from what the store keeps: its status,
//     the card id and the card update id. The document is the card as it
//     is now (clear pan/cvc are never stored, so they are read again for a
//     PCI client) with the same card update in "included"; a card deleted
//     since answers 404. A request that named an alias (pan_alias,
//     cvc_alias) is authorized again at its replay as it was at first: a
//     token of the same client without aliases:reveal gets the 403 it gets
//     sending the request first, not the card the alias became (the store
//     keeps which attribute it was).
//   - The store keeps a keyed hash of the key (HMAC-SHA256 under a key
//     derived from the fingerprint key) and of method, path and body — the
//     body may hold a card number, so never a plain hash of it. The body
//     hashed is the one the client sent: through an inbound route in front
//     of internal:cards that redacts pan_alias and cvc_alias, the aliases
//     the route made in this request are put back to the values they
//     replaced (internal/redacted), so a retry is the same request although
//     its volatile CVC alias is a new one.
//   - Keys are per client (two clients, of one account or two, may use the
//     same key without meeting: a replay or a 422 never tells one client
//     about another's request), kept in
//     the card store, so every gateway on one PostgreSQL database sees the
//     same claim (one INSERT … ON CONFLICT decides).
//   - POST /cards/{id}/network-tokens is idempotent by itself (the active
//     token is returned); cryptograms and DELETE take no Idempotency-Key
//     (a cryptogram is single-use by design; DELETE is idempotent).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/redacted"
)

// Idempotency-Key constants.
const (
	// IdempotencyTTL is how long a used key is remembered.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyKeyLabel derives the key that hashes Idempotency-Keys and
	// request bodies from the fingerprint key.
	IdempotencyKeyLabel = "aliasgate cards idempotency key v1"

	idempotencyPending = time.Minute
	maxIdempotencyKey  = 255
	headerIdempotency  = "Idempotency-Key"
)

// idemRecord is what the store keeps under a key.
type idemRecord struct {
	Hash     string `json:"h"` // HMAC of method, path and body
	Done     bool   `json:"done,omitempty"`
	Status   int    `json:"status,omitempty"`
	CardID   string `json:"card_id,omitempty"`
	UpdateID string `json:"update_id,omitempty"`
	Alias    string `json:"alias,omitempty"` // the first alias attribute the request named
}

// outcome is filled by the create and PATCH handlers for the middleware.
type outcome struct{ cardID, updateID, alias string }

type outcomeKey struct{}

// noteOutcome tells the idempotency middleware (if any) which card and
// card update an answer is about.
func noteOutcome(ctx context.Context, cardID, updateID string) {
	if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		o.cardID, o.updateID = cardID, updateID
	}
}

// noteAlias tells the idempotency middleware (if any) that the request
// named an alias in attribute name, so that a replay is authorized as the
// request was (aliasScope).
func noteAlias(ctx context.Context, name string) {
	if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok && o.alias == "" {
		o.alias = name
	}
}

func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (h *Handler) idemMAC(parts ...[]byte) string {
	m := hmac.New(sha256.New, h.idemKey)
	for _, p := range parts {
		m.Write(p)
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// idempotent wraps a create or PATCH handler (inside the guard).
func (h *Handler) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, sent := r.Header[headerIdempotency]; !sent {
			next.ServeHTTP(w, r)
			return
		}
		q, ok := h.begin(w, r)
		if !ok {
			return
		}
		key := r.Header.Get(headerIdempotency)
		if len(r.Header.Values(headerIdempotency)) != 1 || !validIdempotencyKey(key) {
			h.fail(q, "idempotency key", jsonapi.NewError(http.StatusBadRequest, "invalid_idempotency_key",
				"Bad Request", "Idempotency-Key is one value of 1 to 255 printable ASCII characters"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		if err != nil {
			h.fail(q, "idempotency key", jsonapi.NewError(http.StatusBadRequest, "invalid_body", "Bad Request",
				"the request body could not be read"))
			return
		}
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		// A key belongs to the client that sent it (within its account):
		// another client reusing it starts its own request, so no client
		// can learn from a replay or a "reused with another body" answer
		// whether a body it guessed is another client's (found in review).
		id := h.idemMAC([]byte("key"), []byte(q.p.ClientID), []byte(key))
		// Through a route in front of internal:cards the body holds the
		// aliases the route just made (a volatile CVC alias is new at each
		// try): the request is hashed as the client sent it.
		rec := idemRecord{Hash: h.idemMAC([]byte(r.Method), []byte(r.URL.Path), redacted.From(r.Context()).Restore(body))}
		b, _ := json.Marshal(rec)
		now := h.now()
		prevRaw, err := h.store.ClaimIdempotency(q.ctx, q.p.Account, id, b, now, now.Add(idempotencyPending))
		if err != nil {
			h.fail(q, "idempotency key: claim", err)
			return
		}
		if prevRaw != nil {
			var prev idemRecord
			if err := json.Unmarshal(prevRaw, &prev); err != nil {
				h.fail(q, "idempotency key: decode", err)
				return
			}
			switch {
			case !hmac.Equal([]byte(prev.Hash), []byte(rec.Hash)):
				h.fail(q, "idempotency key", jsonapi.NewError(http.StatusUnprocessableEntity, "idempotency_key_reused",
					"Unprocessable Entity", "this Idempotency-Key was used with another request; use a new key"))
			case !prev.Done:
				e := jsonapi.NewError(http.StatusConflict, "idempotency_key_in_use", "Conflict",
					"a request with this Idempotency-Key is still being processed; retry later")
				e.RetryAfter = time.Second
				h.fail(q, "idempotency key", e)
			default:
				h.replay(q, &prev)
			}
			return
		}
		o := &outcome{}
		iw := &idemWriter{ResponseWriter: w, finish: func(status int) {
			if (status == http.StatusCreated || status == http.StatusSeeOther || status == http.StatusOK) && o.cardID != "" {
				rec.Done, rec.Status, rec.CardID, rec.UpdateID, rec.Alias = true, status, o.cardID, o.updateID, o.alias
				b, _ := json.Marshal(rec)
				if err := h.store.FinishIdempotency(q.ctx, q.p.Account, id, b, h.now().Add(IdempotencyTTL)); err != nil {
					h.log.ErrorContext(q.ctx, "cards: idempotency key not recorded: a retry will run again",
						"error", err.Error(), "account_id", q.p.Account, "trace_id", q.obs.TraceID)
				}
				return
			}
			if err := h.store.ReleaseIdempotency(q.ctx, q.p.Account, id); err != nil {
				h.log.ErrorContext(q.ctx, "cards: idempotency key not released: retries wait for it to lapse",
					"error", err.Error(), "account_id", q.p.Account, "trace_id", q.obs.TraceID)
			}
		}}
		next.ServeHTTP(iw, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)))
		iw.WriteHeader(http.StatusOK) // a handler that wrote nothing
	})
}

// idemWriter records the outcome before the status goes out, so that a
// retry sent as soon as the answer arrives finds it.
type idemWriter struct {
	http.ResponseWriter
	finish func(status int)
	done   bool
}

func (w *idemWriter) WriteHeader(status int) {
	if w.done {
		return
	}
	w.done = true
	w.finish(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *idemWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// replay answers a request whose key already succeeded.
func (h *Handler) replay(q *request, prev *idemRecord) {
	if prev.Alias != "" {
		if err := aliasScope(q, prev.Alias); err != nil {
			h.fail(q, "idempotent replay", err)
			return
		}
	}
	rec, err := h.loadID(q, prev.CardID)
	if err != nil {
		h.fail(q, "idempotent replay", err)
		return
	}
	q.w.Header().Set("Idempotent-Replayed", "true")
	if prev.Status == http.StatusSeeOther {
		q.w.Header().Set("Location", "/cards/"+rec.ID)
		h.write(q, http.StatusSeeOther, Document{Data: Resource{Type: typeCards, ID: rec.ID}})
		return
	}
	pan, cvc, status, err := h.reveal(q, rec)
	if err != nil {
		h.fail(q, "idempotent replay", err)
		return
	}
	doc := Document{Data: Resource{Type: typeCards, ID: rec.ID, Attributes: h.attributes(q, rec, pan, cvc, status)}}
	if prev.Status == http.StatusOK { // a PATCH: its answer always has included (write.go)
		doc.Included = &[]Resource{}
	}
	if prev.UpdateID != "" {
		raw, err := h.store.CardUpdates(q.ctx, q.p.Account, rec.ID)
		if err != nil {
			h.fail(q, "idempotent replay: card updates", err)
			return
		}
		for _, b := range raw {
			var u storedUpdate
			if json.Unmarshal(b, &u) == nil && u.ID == prev.UpdateID {
				doc.Included = &[]Resource{{Type: typeCardUpdates, ID: u.ID, Attributes: u.CardUpdate}}
			}
		}
	}
	if prev.Status == http.StatusCreated {
		q.w.Header().Set("Location", "/cards/"+rec.ID)
	}
	h.write(q, prev.Status, doc)
}
