package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Endpoint is one receiver of an account's events.
type Endpoint struct {
	// ID names the endpoint in the delivery log (webhooks.endpoints[].id).
	ID string
	// Account is the account whose events it receives.
	Account string
	// URL is where deliveries are POSTed: https (http only with
	// Options.AllowHTTP).
	URL string
	// Secrets sign every delivery, one v1 value each; the first is the
	// current one, a second one is kept while a rotation is under way.
	// Never logged.
	Secrets [][]byte
	// Events are the patterns of the events it receives (Match).
	Events []string
}

// Wants reports whether ep receives events of type t: one of its Events
// patterns matches t (Match).
func (ep Endpoint) Wants(t string) bool { return matchAny(ep.Events, t) }

// MinSecretLen is the shortest signing secret accepted, in bytes.
const MinSecretLen = 24

// MaxSecrets is the most signing secrets an endpoint may have: each adds a
// v1 value to the signature header, and Verify reads at most this many.
const MaxSecrets = 8

// Options configures an Outbox.
type Options struct {
	// Endpoints receive the events; several may serve one account.
	Endpoints []Endpoint
	// AllowHTTP accepts http:// endpoint URLs (tests, development).
	AllowHTTP bool
	// Notify, when set, is called after each event Publish recorded (the
	// local dispatcher's Wake).
	Notify func()
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Outbox records events for delivery: Publish writes them to the Store,
// the dispatcher (package webhooks/dispatch) delivers them.
type Outbox struct {
	store Store
	opts  Options
}

// ErrBadEndpoint is wrapped by New's refusals of an endpoint.
var ErrBadEndpoint = errors.New("webhooks: bad endpoint")

// New returns an Outbox over store. It checks the endpoints
// (CheckEndpoints).
func New(store Store, opts Options) (*Outbox, error) {
	if store == nil {
		return nil, errors.New("webhooks: no store")
	}
	if err := CheckEndpoints(opts.Endpoints, opts.AllowHTTP); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Outbox{store: store, opts: opts}, nil
}

// CheckEndpoints checks every endpoint: a unique id, an account, an https
// URL (http with allowHTTP) without credentials, 1 to MaxSecrets secrets
// of MinSecretLen bytes or more, and known event patterns.
func CheckEndpoints(eps []Endpoint, allowHTTP bool) error {
	seen := map[string]bool{}
	for i, ep := range eps {
		if err := checkEndpoint(ep, allowHTTP); err != nil {
			return fmt.Errorf("endpoint %d (%s): %w", i, ep.ID, err)
		}
		if seen[ep.ID] {
			return fmt.Errorf("%w: endpoint id %s is used twice", ErrBadEndpoint, ep.ID)
		}
		seen[ep.ID] = true
	}
	return nil
}

// checkEndpoint checks one endpoint's settings.
func checkEndpoint(ep Endpoint, allowHTTP bool) error {
	if ep.ID == "" || ep.Account == "" {
		return fmt.Errorf("%w: id and account are required", ErrBadEndpoint)
	}
	if err := CheckURL(ep.URL, allowHTTP); err != nil {
		return err
	}
	if len(ep.Secrets) == 0 {
		return fmt.Errorf("%w: no signing secret", ErrBadEndpoint)
	}
	if len(ep.Secrets) > MaxSecrets {
		return fmt.Errorf("%w: %d signing secrets, at most %d (receivers' Verify reads no more v1 values)", ErrBadEndpoint, len(ep.Secrets), MaxSecrets)
	}
	for _, s := range ep.Secrets {
		if len(s) < MinSecretLen {
			return fmt.Errorf("%w: a signing secret is shorter than %d bytes", ErrBadEndpoint, MinSecretLen)
		}
	}
	if len(ep.Events) == 0 {
		return fmt.Errorf("%w: no events", ErrBadEndpoint)
	}
	for _, p := range ep.Events {
		if err := CheckPattern(p); err != nil {
			return err
		}
	}
	return nil
}

// CheckURL checks an endpoint URL: absolute https (or http when allowHTTP)
// with a host name (or address) and, when it names a port, a port from 1
// to 65535, without user credentials or a fragment.
func CheckURL(s string, allowHTTP bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Hostname() == "" || u.Opaque != "":
		return fmt.Errorf("%w: the URL must be an absolute https:// URL", ErrBadEndpoint)
	case !validPort(u.Port()):
		return fmt.Errorf("%w: the URL's port must be 1 to 65535", ErrBadEndpoint)
	case u.Scheme == "http" && !allowHTTP:
		return fmt.Errorf("%w: the URL must be https:// (http:// only with webhooks.allow_insecure_http, for tests)", ErrBadEndpoint)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: the URL must be an https:// URL", ErrBadEndpoint)
	case u.User != nil:
		return fmt.Errorf("%w: the URL must not carry credentials (the signature authenticates the gateway)", ErrBadEndpoint)
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("%w: the URL must not have a #fragment", ErrBadEndpoint)
	}
	return nil
}

// validPort reports whether p is empty (the scheme's port) or 1 to 65535.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// envelope is the body of every delivery.
type envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	AccountID string          `json:"account_id"`
	Data      json.RawMessage `json:"data"`
}

// ErrBadEvent is wrapped by Publish's refusals of an event.
var ErrBadEvent = errors.New("webhooks: bad event")

// Publish records one event of account (cards.Events): data, a JSON
// object, is wrapped in the envelope {"id","type","created_at",
// "account_id","data"} and one delivery per endpoint of the account whose
// patterns match eventType is written to the store, all at once, before
// Publish returns; an error means nothing was recorded. An event no
// endpoint wants records nothing.
func (o *Outbox) Publish(ctx context.Context, account, eventType string, data []byte) error {
	data = bytes.TrimSpace(data)
	if eventType == "" || len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		return fmt.Errorf("%w: a type and a JSON object are required", ErrBadEvent)
	}
	var targets []Endpoint
	for _, ep := range o.opts.Endpoints {
		if ep.Account == account && ep.Wants(eventType) {
			targets = append(targets, ep)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	now := o.opts.Now().UTC()
	evt := envelope{ID: newID("evt_", now), Type: eventType, CreatedAt: now.Format(time.RFC3339), AccountID: account, Data: data}
	body, err := json.Marshal(evt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	ds := make([]Delivery, len(targets))
	for i, ep := range targets {
		ds[i] = Delivery{ID: newID("dlv_", now), EventID: evt.ID, EventType: eventType, Account: account, Endpoint: ep.ID,
			Payload: body, State: StatePending, CreatedAt: now, UpdatedAt: now, Due: now, Attempts: []Attempt{}}
	}
	if err := o.store.AddDeliveries(ctx, ds); err != nil {
		return fmt.Errorf("webhooks: record event %s: %w", eventType, err)
	}
	if o.opts.Notify != nil {
		o.opts.Notify()
	}
	return nil
}
