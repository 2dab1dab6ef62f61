package tsp

// Network-side lifecycle events (issue 22).
//
// A real token service pushes notifications to the token requestor: the
// token's expiry changed, it was suspended, resumed or deleted, or the card
// behind it was reissued (the account updater: a new PAN and/or expiry, the
// token itself kept). A Provider delivers them to the Sink the Card
// Management side registers once, at construction (Subscribe). The
// simulator raises each of them on demand (Simulator.Raise: the admin
// endpoint POST /admin/tsp/simulate and `aliasgate tsp simulate`).
//
// Decisions:
//   - An event names its token by the token PAN and by the requestor's
//     reference of the token (Requestor; the Card Management side's
//     "account/card id"). A real token service is given that reference at
//     provisioning and echoes it in its notifications; the simulator is
//     given it with each Raise. The receiver checks that the token PAN is
//     the named card's, so a reference alone reaches nothing.
//   - A reissue with a new PAN: the simulator makes the new PAN itself
//     (same BIN and length as the old one, random digits, Luhn-valid, never
//     the old PAN); a caller cannot choose it, so a PAN never travels on a
//     command line or in an admin request.
//   - The simulator enforces a deletion it raised (or was asked for by
//     Delete): a deleted token never makes a cryptogram again
//     (ErrDeleted). It keeps no suspension: the token's status lives in
//     the card record, which every gateway on one vault shares and the
//     Card Management side enforces (a suspended token makes no
//     cryptogram there). Each gateway process has its own Simulator, so a
//     suspension remembered in one would outlive a resume raised through
//     another (that gateway would refuse the resumed token's cryptograms
//     until restarted); a deletion is final, so its in-memory mark is
//     never wrong. A real token service, one for all gateways, may still
//     refuse a suspended token's cryptogram with ErrSuspended.
//   - Event's String and LogValue never show the PANs.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
)

// EventType is the kind of a lifecycle event.
type EventType string

// Lifecycle event types.
const (
	EventTokenUpdated   EventType = "token-updated"   // new token expiry
	EventTokenSuspended EventType = "token-suspended" // no cryptogram until resumed
	EventTokenResumed   EventType = "token-resumed"   // usable again
	EventTokenDeleted   EventType = "token-deleted"   // gone for good
	EventCardReissued   EventType = "card-reissued"   // account updater: new PAN and/or expiry
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventTokenUpdated, EventTokenSuspended, EventTokenResumed, EventTokenDeleted, EventCardReissued}

// ParseEventType returns the event type named s.
func ParseEventType(s string) (EventType, error) {
	for _, t := range EventTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", ErrInvalidEvent
}

// Event is one lifecycle notification of the token service.
type Event struct {
	Type      EventType
	TokenPAN  string // the token concerned (sensitive)
	Requestor string // the token requestor's reference of the token
	// ExpMonth and ExpYear are the new expiry (token-updated: the token's;
	// card-reissued: the card's and the token's); "" when unchanged.
	ExpMonth, ExpYear string
	// NewPAN is the card's new PAN of a card-reissued event (sensitive);
	// "" when only the expiry changed.
	NewPAN string
}

// String describes the event without its PANs.
func (e Event) String() string {
	return fmt.Sprintf("tsp event %s (requestor %q, new expiry %q/%q, new PAN %t)", e.Type, e.Requestor,
		e.ExpMonth, e.ExpYear, e.NewPAN != "")
}

// LogValue logs the event without its PANs.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", string(e.Type)), slog.String("requestor", e.Requestor),
		slog.Bool("new_pan", e.NewPAN != ""))
}

// GoString keeps %#v from printing the PANs.
func (e Event) GoString() string { return e.String() }

// Sink receives a provider's lifecycle events (the Card Management side).
type Sink interface {
	// TokenEvent applies ev; an error tells the provider it was not applied.
	TokenEvent(ctx context.Context, ev Event) error
}

// Errors of lifecycle events.
var (
	// ErrSuspended is a token service's refusal of a suspended token's
	// cryptogram (the Simulator keeps no suspension: see the decisions above).
	ErrSuspended    = errors.New("tsp: the token is suspended")
	ErrInvalidEvent = errors.New("tsp: invalid lifecycle event")
	ErrNoSink       = errors.New("tsp: no one receives the lifecycle events")
)

// RaiseRequest is what Simulator.Raise needs to raise an event.
type RaiseRequest struct {
	Type      EventType
	TokenPAN  string // the token (sensitive)
	Requestor string
	// CardPAN is the card's current PAN (sensitive); needed by a reissue
	// with NewPAN, whose new PAN has its BIN and length.
	CardPAN string
	// NewPAN asks a card-reissued event for a new PAN.
	NewPAN bool
	// ExpMonth and ExpYear: the new expiry ("" unchanged); token-updated
	// needs both.
	ExpMonth, ExpYear string
}

// Subscribe registers the sink of the simulator's events (the Card
// Management side, at construction); a later call replaces it.
func (s *Simulator) Subscribe(sink Sink) {
	s.mu.Lock()
	s.sink = sink
	s.mu.Unlock()
}

// Raise raises one lifecycle event: a token-deleted marks the token
// deleted in the simulator, and every event is delivered to the sink,
// whose error Raise returns. A deletion is kept even when the sink fails
// (the network's side changed; the receiver learns it when it next uses
// the token).
func (s *Simulator) Raise(ctx context.Context, req RaiseRequest) (Event, error) {
	ev := Event{Type: req.Type, TokenPAN: req.TokenPAN, Requestor: req.Requestor}
	if !digitsOnly(req.TokenPAN) {
		return Event{}, fmt.Errorf("%w: no token", ErrInvalidEvent)
	}
	if (req.ExpMonth == "") != (req.ExpYear == "") {
		return Event{}, fmt.Errorf("%w: give both the expiry month and year", ErrInvalidEvent)
	}
	switch req.Type {
	case EventTokenUpdated:
		if req.ExpMonth == "" {
			return Event{}, fmt.Errorf("%w: %s needs a new expiry (month and year)", ErrInvalidEvent, req.Type)
		}
		if req.NewPAN {
			return Event{}, fmt.Errorf("%w: %s takes a new expiry only, no new PAN", ErrInvalidEvent, req.Type)
		}
		ev.ExpMonth, ev.ExpYear = req.ExpMonth, req.ExpYear
	case EventTokenSuspended, EventTokenResumed, EventTokenDeleted:
		if req.ExpMonth != "" || req.NewPAN {
			return Event{}, fmt.Errorf("%w: %s takes no new expiry or PAN", ErrInvalidEvent, req.Type)
		}
	case EventCardReissued:
		if req.ExpMonth == "" && !req.NewPAN {
			return Event{}, fmt.Errorf("%w: a reissue needs a new PAN, a new expiry or both", ErrInvalidEvent)
		}
		ev.ExpMonth, ev.ExpYear = req.ExpMonth, req.ExpYear
		if req.NewPAN {
			p, err := reissuedPAN(req.CardPAN)
			if err != nil {
				return Event{}, err
			}
			ev.NewPAN = p
		}
	default:
		return Event{}, ErrInvalidEvent
	}
	k := s.tokenKey(req.TokenPAN)
	s.mu.Lock()
	sink := s.sink
	if s.isDeleted(k) {
		s.mu.Unlock()
		return Event{}, ErrDeleted
	}
	if req.Type == EventTokenDeleted {
		s.markDeleted(k)
	}
	s.mu.Unlock()
	if sink == nil {
		return ev, ErrNoSink
	}
	return ev, sink.TokenEvent(ctx, ev)
}

// reissuedPAN returns a new Luhn-valid PAN with old's BIN (first 6) and
// length, never old.
func reissuedPAN(old string) (string, error) {
	if !digitsOnly(old) || len(old) < 13 || len(old) > 19 {
		return "", ErrInvalidPAN
	}
	for {
		p := []byte(old[:6])
		for len(p) < len(old)-1 {
			n, err := rand.Int(rand.Reader, big.NewInt(10))
			if err != nil {
				return "", err
			}
			p = append(p, byte('0'+n.Int64()))
		}
		p = append(p, checkDigit(p))
		if string(p) != old {
			return string(p), nil
		}
	}
}
