package cards

// Compare-and-swap writes of card records (issue 22 review).
//
// Several gateways may share one store (PostgreSQL), so the per-process
// card lock cannot serialize the read-modify-write of a card record. Every
// write that replaces a stored record therefore goes through mutate: it
// applies a change to the record as read, writes it only when the store
// still holds exactly the bytes read (cards.Store UpdateCard, ReplaceCard,
// ReissueCard take them), and when another writer came first
// (vault.ErrCardChanged) waits a short random time, reads the card again
// and applies the change to the new record, at most casTries times; then
// 409 card_conflict.
//
// The change function is pure: it decides from the record it is given
// (a fresh copy each try) and changes only that copy, so re-applying it
// never repeats anything outside the record. Work outside the record (token
// service, vault, events) is done by the callers once, before mutate when
// the record must hold its outcome (a provisioned token, a deleted token's
// state, a reissued PAN's alias), or after it when it follows the record
// (events, a cryptogram made with a counter the record has reserved).
// Each change function re-checks what its caller checked on the first read
// (the card being deleted, the token still the card's and active, ...), so
// a change made by another gateway in between stops it instead of being
// overwritten.
//
// The card lock (lock) stays: within one process it makes conflicts rare.
// It is a fixed table of striped mutexes (a hash of account and card id),
// so it does not grow with the cards touched; no path holds two card locks
// at once, so two cards sharing a stripe cannot deadlock.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/sleep"
	"github.com/aliasgate/aliasgate/vault"
)

const (
	// casTries bounds the reads and writes of one mutate.
	casTries = 16
	// casBackoffUnit and casBackoffMax bound the random wait before a
	// retry (casBackoff).
	casBackoffUnit = 50 * time.Microsecond
	casBackoffMax  = 20 * time.Millisecond
	// lockStripes is the number of card lock stripes of a Handler.
	lockStripes = 256
)

// cardLocks serializes the writes of one card within a process: a fixed
// set of mutexes, a card's chosen by a hash of its account and id.
type cardLocks struct {
	seed    maphash.Seed
	stripes [lockStripes]sync.Mutex
}

func newCardLocks() *cardLocks { return &cardLocks{seed: maphash.MakeSeed()} }

// lock locks the stripe of card (account, id) and returns its unlock.
func (l *cardLocks) lock(account, id string) func() {
	var m maphash.Hash
	m.SetSeed(l.seed)
	_, _ = m.WriteString(account)
	_ = m.WriteByte(0)
	_, _ = m.WriteString(id)
	mu := &l.stripes[m.Sum64()%lockStripes]
	mu.Lock()
	return mu.Unlock
}

// lock serializes the writes of one card in this process (see cardLocks).
// A caller never holds two card locks at once.
func (h *Handler) lock(account, id string) func() { return h.locks.lock(account, id) }

// codeCardConflict is the error code of errCardConflict (and of
// ErrCardConflict, its payment refusal).
const codeCardConflict = "card_conflict"

// errCardConflict answers a write that lost the compare-and-swap casTries
// times in a row: the card is being changed by other requests; the client
// may try again.
func errCardConflict() *jsonapi.Error {
	return jsonapi.NewError(http.StatusConflict, codeCardConflict, "Conflict",
		"the card was changed by concurrent requests while this one was applied; try again")
}

// errNoWrite is returned by a change function that has nothing to write;
// mutate returns the record as read and no error.
var errNoWrite = errors.New("cards: nothing to write")

// cardChange changes next, a private copy of the card's current record,
// and returns the card update to record with it (nil: the record only,
// ReplaceCard). errNoWrite: nothing to store; another error stops mutate
// and is returned.
type cardChange func(next *record) (*storedUpdate, error)

// mutate applies change to the card rec (as loaded: rec.raw holds the
// bytes read) and stores the result with compare-and-swap, reloading and
// re-applying change when another writer stored the card first. It
// returns the record that was replaced (old) and the one stored (next;
// old again when change had nothing to write). A card gone meanwhile is
// errNotFound (also when it went between the read and the write);
// casTries lost races errCardConflict. A reissue whose new index key
// another card holds is ErrReissueConflict.
func (h *Handler) mutate(q *request, rec *record, change cardChange) (old, next *record, err error) {
	cur := rec
	for try := 1; ; try++ {
		if next, err = decodeRecord(cur.raw); err != nil {
			return cur, nil, err
		}
		upd, err := change(next)
		if errors.Is(err, errNoWrite) {
			return cur, cur, nil
		}
		if err != nil {
			return cur, nil, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return cur, nil, err
		}
		err = h.writeCard(q, cur, next, b, upd)
		if err == nil {
			next.raw = b
			return cur, next, nil
		}
		if !errors.Is(err, vault.ErrCardChanged) {
			// The write may have been made all the same (writeOutcome);
			// each store has its own not-found error: a card deleted
			// meanwhile (another gateway) is told apart by reading it.
			if err = h.writeOutcome(q, cur.ID, cur.raw, b, err); err == nil {
				next.raw = b
				return cur, next, nil
			}
			return cur, nil, err
		}
		if try == casTries {
			h.log.WarnContext(q.ctx, "cards: card write lost to concurrent writes", "card_id", rec.ID,
				"account_id", q.p.Account, "tries", casTries, "trace_id", q.obs.TraceID)
			return cur, nil, errCardConflict()
		}
		if err := casBackoff(q, try); err != nil {
			return cur, nil, err
		}
		fresh, err := h.loadAny(q, rec.ID)
		if err != nil {
			return cur, nil, err
		}
		cur = fresh
	}
}

// casBackoff waits a random time of up to casBackoffUnit << try (at most
// casBackoffMax) before try+1, so writers that keep meeting on one card
// fall out of step; the request's context ends the wait.
func casBackoff(q *request, try int) error {
	limit := min(casBackoffUnit<<try, casBackoffMax)
	return sleep.For(q.ctx, rand.N(limit)+1)
}

// writeCard stores next (encoded b) over cur when the store still holds
// cur.raw: ReplaceCard without a card update, UpdateCard with one, and
// ReissueCard when the fingerprint index key moves.
func (h *Handler) writeCard(q *request, cur, next *record, b []byte, upd *storedUpdate) error {
	if upd == nil {
		return h.store.ReplaceCard(q.ctx, q.p.Account, cur.ID, cur.raw, b)
	}
	u, err := json.Marshal(upd)
	if err != nil {
		return err
	}
	if next.indexKey() == cur.indexKey() {
		return h.store.UpdateCard(q.ctx, q.p.Account, cur.ID, cur.raw, b, u)
	}
	existing := ""
	if !h.settings(q.p.Account).DuplicateDetectionOff { // any card of the new number is a conflict
		held, err := cardsOfFingerprint(q.ctx, h.store, q.p.Account, next.Fingerprint)
		if err != nil {
			return err
		}
		for _, o := range held {
			if o.ID != cur.ID {
				existing = o.ID
				break
			}
		}
	}
	if existing == "" {
		if existing, err = h.store.ReissueCard(q.ctx, q.p.Account, cur.ID, cur.indexKey(), next.indexKey(), cur.raw, b, u); err != nil {
			return err
		}
	}
	if existing != "" {
		h.log.WarnContext(q.ctx, "cards: reissue refused: the new card number is another card of the account",
			"card_id", cur.ID, "other_card_id", existing, "account_id", q.p.Account)
		return ErrReissueConflict
	}
	return nil
}

// errWriteUnknown marks a card write whose outcome is unknown
// (writeOutcome): the store answered an error and reading the card back
// did not tell whether the write was made. Nothing the written record
// references is released after it (mayHaveWritten).
var errWriteUnknown = errors.New("cards: the outcome of the card write is unknown")

// writeOutcome tells what a card write of card id that the store answered
// with err did, by reading the card back (past the client's disconnect,
// a cause of such errors): on PostgreSQL a write can be made and its
// answer lost (the connection lost at COMMIT, the context cancelled
// after the statement ran, a timeout). before is the record the write
// replaced (nil: a create, no card before), wrote the record written
// (records are stored byte for byte). It returns nil when the card holds
// wrote: the write was made, and the caller goes on as written; err when
// the card holds before (a create's card absent): the write was not
// made; errNotFound when a replaced card is gone (deleted meanwhile: its
// delete released what it held); and err wrapped in errWriteUnknown
// when the read fails or the card holds another record (another writer
// replaced it since: the write may have been made, and its record's
// aliases copied on). It is the one rule of a write's unknown outcome:
// the aliases a stored card may reference are never released on a
// guess; a leftover alias is the lesser harm (docs/DECISIONS.md).
func (h *Handler) writeOutcome(q *request, id string, before, wrote []byte, err error) error {
	got, ok, rerr := h.store.GetCard(context.WithoutCancel(q.ctx), q.p.Account, id)
	switch {
	case rerr != nil:
		return fmt.Errorf("%w: %w (read back: %w)", errWriteUnknown, err, rerr)
	case ok && bytes.Equal(got, wrote):
		h.log.WarnContext(q.ctx, "cards: a card write answered with an error was made; it is taken as written",
			"card_id", id, "account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
		return nil
	case !ok && before == nil, ok && before != nil && bytes.Equal(got, before):
		return err
	case !ok:
		return errNotFound()
	}
	return fmt.Errorf("%w: %w", errWriteUnknown, err)
}

// mayHaveWritten reports whether err, a card write's failure, leaves the
// card possibly holding the write (errWriteUnknown): what the request
// made is then kept, not released.
func mayHaveWritten(err error) bool { return errors.Is(err, errWriteUnknown) }
