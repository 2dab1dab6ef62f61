package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// State is where a delivery stands.
type State string

// The states of a delivery: pending until its endpoint answered 2xx
// (delivered) or the retries ran out or the destination is refused
// (failed). Redeliver makes a finished delivery pending again.
const (
	StatePending   State = "pending"
	StateDelivered State = "delivered"
	StateFailed    State = "failed"
)

// Delivery is one event for one endpoint, with every attempt made. It is
// what the store keeps and what the operator's delivery log shows; it
// holds no secret.
type Delivery struct {
	ID        string          `json:"id"` // dlv_…
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Account   string          `json:"account_id"`
	Endpoint  string          `json:"endpoint_id"`
	Payload   json.RawMessage `json:"payload"` // the envelope, the body sent
	State     State           `json:"state"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// RedeliveredAt is when the operator last made the delivery pending
	// again (RedeliverDelivery); zero if never. The retries of a
	// redelivered delivery run for the dispatcher's RetryFor from it.
	RedeliveredAt time.Time `json:"redelivered_at,omitzero"`
	// Due is when a dispatcher may claim the delivery next: its next
	// attempt, or the end of the lease of the dispatcher that holds it.
	// Only pending deliveries are due.
	Due time.Time `json:"due"`
	// LeaseOwner is the dispatcher holding the delivery until Due; empty
	// when none does.
	LeaseOwner string `json:"lease_owner,omitempty"`
	// Attempts are the delivery's attempts, oldest first: the last
	// MaxAttempts of them (AddAttempt).
	Attempts []Attempt `json:"attempts"`
	// AttemptsDropped counts the oldest attempts dropped to keep
	// MaxAttempts.
	AttemptsDropped int `json:"attempts_dropped,omitempty"`
}

// MaxAttempts is the most attempts a delivery keeps: its record stays
// small (an attempt holds up to ExcerptLen bytes of the receiver's
// answer) however often it is retried and redelivered. The dispatcher's
// backoff, which counts the attempts kept, is at its longest well before.
const MaxAttempts = 50

// AddAttempt appends a to d's attempts, dropping the oldest beyond
// MaxAttempts (counted in AttemptsDropped).
func (d *Delivery) AddAttempt(a Attempt) {
	d.Attempts = append(d.Attempts, a)
	if n := len(d.Attempts) - MaxAttempts; n > 0 {
		d.Attempts = append(d.Attempts[:0:0], d.Attempts[n:]...)
		d.AttemptsDropped += n
	}
}

// Attempt is one POST of a delivery: when, how it ended and when the next
// one is due. Excerpt is at most ExcerptLen printable bytes of the
// receiver's answer, card numbers masked; nothing else of it is kept.
type Attempt struct {
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	By         string    `json:"by"`               // the dispatcher (gateway) that made it
	Status     int       `json:"status,omitempty"` // the HTTP status; 0 when none came
	// Error classifies a failure: http_status, timeout,
	// connection_refused, dns, tls_certificate, forbidden_destination,
	// redirect, response_too_large (headers over 64 KiB), connection, and, not sent and retried (another gateway's
	// configuration may be newer): endpoint_removed (the dispatcher's
	// configuration has no endpoint of the id), endpoint_account_changed
	// (its endpoint of the id is another account's), endpoint_unsubscribed
	// (its endpoint's events do not match the type); empty on success.
	Error   string    `json:"error,omitempty"`
	Detail  string    `json:"detail,omitempty"` // the refused address's class, …
	Excerpt string    `json:"excerpt,omitempty"`
	Next    time.Time `json:"next_attempt,omitzero"`
}

// Filter selects deliveries of the log, newest first.
type Filter struct {
	Account string // "" any
	State   State  // "" any
	// Before is a delivery id: only older deliveries (the next page).
	Before string
	// Limit bounds the answer; 0 or less: 100.
	Limit int
}

// ExcerptLen bounds the part of a receiver's answer an Attempt keeps.
const ExcerptLen = 200

// DefaultLimit is Filter's default Limit.
const DefaultLimit = 100

// Errors of a Store.
var (
	// ErrNotFound: no delivery has this id.
	ErrNotFound = errors.New("webhooks: no such delivery")
	// ErrLeaseLost: the delivery is no longer held by this dispatcher
	// (its lease ran out and another took it, or an operator changed it);
	// the attempt's result is dropped, the holder's counts.
	ErrLeaseLost = errors.New("webhooks: delivery lease lost")
	// ErrNotFinished: Redeliver of a delivery that is still pending.
	ErrNotFinished = errors.New("webhooks: delivery is still pending")
)

// EndpointSkipper is implemented by stores whose claims can leave out the
// deliveries to some endpoints (vault/boltstore, vault/pgstore). The
// dispatcher leaves out the endpoints that have a claim's worth of
// attempts under way, so that a receiver that answers slowly, and a
// backlog of its events, never hold back the deliveries to the others:
// another account's (review: they waited behind it, batch after batch),
// or another endpoint of the same account (they waited behind it while
// the claims left out the whole account).
type EndpointSkipper interface {
	// ClaimDeliveriesSkipping is ClaimDeliveries leaving out the
	// deliveries to the endpoints (ids) in skip, which stay due as they
	// were.
	ClaimDeliveriesSkipping(ctx context.Context, owner string, now, until time.Time, max int, skip []string) ([]Delivery, error)
}

// Store keeps the outbox: the deliveries and their attempts, in the
// gateway's persistent store (vault/boltstore, vault/pgstore). Every
// method is safe for concurrent use; with PostgreSQL several gateways
// share one Store.
type Store interface {
	// AddDeliveries writes the deliveries of one event, all or none; a
	// delivery already stored (its id) is left as it is.
	AddDeliveries(ctx context.Context, ds []Delivery) error
	// ClaimDeliveries leases to owner, until until, at most max pending
	// deliveries due at now (oldest due first) and returns them with Due
	// and LeaseOwner set. A delivery is claimed by one caller at a time,
	// across gateways: another claim sees it again only once until has
	// passed. A store shared by gateways also runs the lease (until − now
	// long) on its own clock and frees it only when both have passed, so
	// gateways with clocks apart cannot take each other's live leases.
	ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, max int) ([]Delivery, error)
	// UpdateDelivery writes d (its state, Due, attempts) if owner still
	// holds it: pending with LeaseOwner owner. Else ErrLeaseLost.
	UpdateDelivery(ctx context.Context, owner string, d Delivery) error
	// GetDelivery returns one delivery, or ErrNotFound.
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	// ListDeliveries returns deliveries matching f, newest first.
	ListDeliveries(ctx context.Context, f Filter) ([]Delivery, error)
	// RedeliverDelivery makes a delivered or failed delivery pending and
	// due at now, with RedeliveredAt now; ErrNotFound, or ErrNotFinished
	// for a pending one.
	RedeliverDelivery(ctx context.Context, id string, now time.Time) (Delivery, error)
	// PruneDeliveries removes at most max delivered or failed deliveries
	// last updated before before, and returns how many it removed.
	PruneDeliveries(ctx context.Context, before time.Time, max int) (int, error)
	// PendingDeliveries counts the pending deliveries (the backlog).
	PendingDeliveries(ctx context.Context) (int, error)
}
