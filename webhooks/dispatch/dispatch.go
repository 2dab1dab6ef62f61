package dispatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aliasgate/aliasgate/internal/netguard"
	"github.com/aliasgate/aliasgate/webhooks"
)

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultBackoffBase  = 30 * time.Second
	DefaultBackoffMax   = time.Hour
	DefaultRetryFor     = 24 * time.Hour
	DefaultPollInterval = time.Second
	DefaultRetention    = 30 * 24 * time.Hour
	DefaultBatch        = 16
	// leaseMargin is added to Timeout for a claim's lease: a dispatcher's
	// deliveries run at once, each bounded by Timeout, so the lease ends
	// well after the last answer.
	leaseMargin = 30 * time.Second
	// pruneEvery is how often a dispatcher removes old finished
	// deliveries; pruneBatch how many at most one store call removes.
	pruneEvery       = 10 * time.Minute
	pruneBatch       = 1000
	prunePassBatches = 100
	// bodyReadLimit is how much of an answer is read at all (its first
	// webhooks.ExcerptLen bytes are kept).
	bodyReadLimit = 64 << 10
	// headerReadLimit bounds an answer's headers (the transport's
	// MaxResponseHeaderBytes, 10 MiB by default): an answer with more is
	// not read, the attempt fails as response_too_large. With 4×Batch
	// attempts at once, the default let one account's receiver make the
	// gateway hold hundreds of MiB (TestHugeAnswerHeadersAreNotRead).
	headerReadLimit = 64 << 10
)

// Options configures a Dispatcher.
type Options struct {
	// Endpoints are where deliveries go, by their ID (the Outbox's).
	Endpoints []webhooks.Endpoint
	// Owner names this dispatcher in leases and attempts (the gateway's
	// host name and a random suffix); "" picks a random one.
	Owner string
	// AllowHTTP accepts http:// endpoint URLs (tests, development).
	AllowHTTP bool
	// AllowPrivate lets deliveries reach the addresses
	// netguard.ForbiddenAddr refuses (loopback, private, metadata, …).
	AllowPrivate bool
	// RootCAs verifies the endpoints' certificates; nil: the system roots.
	// TLS is verified always.
	RootCAs *x509.CertPool
	// Resolver resolves endpoint hosts; nil: net.DefaultResolver.
	Resolver netguard.Resolver
	// Timeout bounds one attempt (connect to the end of the answer).
	Timeout time.Duration
	// BackoffBase is the wait after the first failed attempt; each next
	// wait doubles, up to BackoffMax, each with jitter (between half and
	// all of it).
	BackoffBase, BackoffMax time.Duration
	// RetryFor: a delivery whose next attempt would come later than this
	// after its event (or after the operator's last redelivery of it) is
	// marked failed instead.
	RetryFor time.Duration
	// PollInterval is how often Run looks for due deliveries (Publish
	// wakes the local dispatcher at once).
	PollInterval time.Duration
	// Retention is how long delivered and failed deliveries stay in the
	// log.
	Retention time.Duration
	// Batch is how many deliveries one claim takes at most. An endpoint
	// with Batch attempts under way is left out of the claims (with a
	// store that can skip endpoints, webhooks.EndpointSkipper) until one
	// ends, so a slow receiver or its backlog holds back no other
	// endpoint, of its account or another; at most 4×Batch attempts run
	// at once, and beyond that one for each endpoint that has none under
	// way.
	Batch int
	// Logger gets one line per failed attempt and per refused destination
	// (never a secret, a payload or more of an answer than the excerpt).
	Logger *slog.Logger
	// Registerer gets the metrics; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Dispatcher delivers the outbox's deliveries: Run claims, POSTs and
// records them.
type Dispatcher struct {
	store     webhooks.Store
	opts      Options
	endpoints map[string]webhooks.Endpoint
	client    *http.Client
	log       *slog.Logger
	now       func() time.Time
	wake      chan struct{}
	results   *prometheus.CounterVec // nil: no metrics
	lastPrune time.Time

	// mu guards the attempts under way: per endpoint, by delivery and in
	// all. freed tells Run that one ended (room for a claim).
	mu       sync.Mutex
	inFlight map[string]int
	underWay map[string]bool // delivery ids
	running  int
	freed    chan struct{}
}

// New returns a Dispatcher over store. It checks the endpoints
// (webhooks.CheckEndpoints) and registers its metrics.
func New(store webhooks.Store, opts Options) (*Dispatcher, error) {
	if store == nil {
		return nil, errors.New("webhooks: no store")
	}
	if err := webhooks.CheckEndpoints(opts.Endpoints, opts.AllowHTTP); err != nil {
		return nil, err
	}
	o := &Dispatcher{store: store, endpoints: map[string]webhooks.Endpoint{}, log: opts.Logger, now: opts.Now, wake: make(chan struct{}, 1),
		inFlight: map[string]int{}, underWay: map[string]bool{}, freed: make(chan struct{}, 1)}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	for _, ep := range opts.Endpoints {
		o.endpoints[ep.ID] = ep
	}
	setDefault(&opts.Timeout, DefaultTimeout)
	setDefault(&opts.BackoffBase, DefaultBackoffBase)
	setDefault(&opts.BackoffMax, DefaultBackoffMax)
	setDefault(&opts.RetryFor, DefaultRetryFor)
	setDefault(&opts.PollInterval, DefaultPollInterval)
	setDefault(&opts.Retention, DefaultRetention)
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.Owner == "" {
		opts.Owner = "dsp_" + strconv.FormatInt(o.now().UnixNano(), 36) + "_" + strconv.FormatUint(rand.Uint64(), 36)
	}
	o.opts = opts
	o.client = newClient(opts)
	if opts.Registerer != nil {
		o.results = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aliasgate_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: delivered (2xx), retrying (failed, another attempt is due), failed (given up or refused)."},
			[]string{"result"})
		backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aliasgate_webhook_outbox_backlog",
			Help: "Webhook deliveries pending in the outbox (every gateway's, with a shared store)."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				n, err := store.PendingDeliveries(ctx)
				if err != nil {
					return -1
				}
				return float64(n)
			})
		for _, c := range []prometheus.Collector{o.results, backlog} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("webhooks: metrics: %w", err)
			}
		}
	}
	return o, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// newClient is the deliveries' HTTP client: the checked dialer, verified
// TLS 1.2+, no proxy from the environment, no redirects followed, no
// cookies, answers' headers bounded (headerReadLimit).
func newClient(opts Options) *http.Client {
	d := netguard.NewDialer(opts.Resolver, opts.AllowPrivate)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            d.DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    opts.Timeout,
			ResponseHeaderTimeout:  opts.Timeout,
			MaxResponseHeaderBytes: headerReadLimit,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Wake makes Run look for due deliveries now.
func (o *Dispatcher) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Owner is the name of this dispatcher in leases and attempts.
func (o *Dispatcher) Owner() string { return o.opts.Owner }

// Run delivers due deliveries until ctx ends, then waits for the attempts
// under way (each bounded by Timeout), closes its idle connections to the
// receivers and returns. Several Runs on one
// store (several gateways on one PostgreSQL) share the work: each claim
// leases its deliveries, so one delivery is attempted by one dispatcher
// at a time; a dispatcher that dies leaves its lease to run out
// (Timeout + 30 s) and another takes the delivery over. That makes
// delivery at-least-once: a receiver that answered after the lease ran
// out, or whose 2xx was lost, sees the event again, with the same event
// id.
func (o *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(o.opts.PollInterval)
	defer t.Stop()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		// The receivers' kept-alive connections (and the goroutines that
		// read them) end with Run (TestRunLeavesNoGoroutineBehind).
		o.client.CloseIdleConnections()
	}()
	for {
		o.prune(ctx)
		for ctx.Err() == nil {
			more, err := o.dispatchOnce(ctx, &wg)
			if err != nil {
				if ctx.Err() == nil {
					o.log.Warn("webhooks: claim deliveries failed", "err", err)
				}
				break
			}
			if !more {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.wake:
		case <-o.freed:
		}
	}
}

// dispatchOnce claims up to one batch, leaving out the endpoints with a
// batch of attempts under way, and starts an attempt of each delivery it
// got without waiting for them (wg counts them, freed is told when one
// ends). more: the claim was full, so more may be due now.
//
// Attempts are not waited for batch by batch: a batch holding one
// delivery to a receiver that answers at the timeout held every other
// account's deliveries back for that long, and a backlog of such an
// account's events (its API client changing cards at its rate) kept them
// waiting without end (review; TestSlowAccountDoesNotStarveOthers).
//
// When maxRunningBatches batches are under way, an endpoint with no
// attempt under way still gets one delivery at a time (claims leaving out
// every endpoint with an attempt under way): with more slow receivers
// than attempts run at once, the freed room went to the oldest due
// delivery, always one of theirs, and a receiver that answers at once
// waited behind their whole backlogs (TestSeveralSlowAccountsDoNotStarveOthers).
// The attempts beyond the bound are one per configured endpoint.
//
// Endpoints, not accounts, are left out: an account's receiver that
// answers slowly held back the account's other endpoints while the whole
// account was left out (TestSlowEndpointDoesNotStarveItsAccountsOtherEndpoint).
//
// A claimed delivery whose attempt is still under way is not attempted
// again: claims go on while attempts run, and a lease that ran out before
// its attempt was recorded (a wall clock that stepped, a slow record)
// gave the same delivery back to this dispatcher, which POSTed it twice
// at once (TestInFlightDeliveryIsNotAttemptedTwice). The claim renewed
// the lease to this dispatcher, so the attempt under way records it.
func (o *Dispatcher) dispatchOnce(ctx context.Context, wg *sync.WaitGroup) (more bool, err error) {
	o.mu.Lock()
	room := min(o.opts.Batch, maxRunningBatches*o.opts.Batch-o.running)
	var skip []string
	for endpoint, n := range o.inFlight {
		if n >= o.opts.Batch || room <= 0 {
			skip = append(skip, endpoint)
		}
	}
	o.mu.Unlock()
	skipper, canSkip := o.store.(webhooks.EndpointSkipper)
	if room <= 0 {
		if !canSkip {
			return false, nil
		}
		room = 1 // an endpoint with nothing under way
	}
	now := o.now()
	until := now.Add(o.opts.Timeout + leaseMargin)
	var ds []webhooks.Delivery
	if canSkip {
		ds, err = skipper.ClaimDeliveriesSkipping(ctx, o.opts.Owner, now, until, room, skip)
	} else {
		ds, err = o.store.ClaimDeliveries(ctx, o.opts.Owner, now, until, room)
	}
	if err != nil {
		return false, err
	}
	for _, d := range ds {
		o.mu.Lock()
		if o.underWay[d.ID] {
			o.mu.Unlock()
			o.log.Warn("webhooks: delivery lease ran out while its attempt is under way; not attempted twice", "delivery", d.ID)
			continue
		}
		o.underWay[d.ID] = true
		o.inFlight[d.Endpoint]++
		o.running++
		o.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer o.ended(d)
			// A stop lets the attempt under way end (bounded by Timeout)
			// and records it.
			o.attempt(context.WithoutCancel(ctx), d)
		}()
	}
	return len(ds) == room, nil
}

// maxRunningBatches bounds the attempts under way: this many batches.
const maxRunningBatches = 4

// ended counts the attempt of d as ended and tells Run.
func (o *Dispatcher) ended(d webhooks.Delivery) {
	o.mu.Lock()
	delete(o.underWay, d.ID)
	if o.inFlight[d.Endpoint]--; o.inFlight[d.Endpoint] <= 0 {
		delete(o.inFlight, d.Endpoint)
	}
	o.running--
	o.mu.Unlock()
	select {
	case o.freed <- struct{}{}:
	default:
	}
}

// attempt POSTs d once and records the result.
func (o *Dispatcher) attempt(ctx context.Context, d webhooks.Delivery) {
	ep, ok := o.endpoints[d.Endpoint]
	start := o.now()
	a := webhooks.Attempt{At: start.UTC(), By: o.opts.Owner}
	// An endpoint this gateway's configuration does not have, or does not
	// have for the delivery's account or type, gets nothing from it. The
	// delivery is retried, not failed: gateways on one store are
	// restarted one by one, and one still on an older configuration
	// failed the deliveries of an endpoint added (or subscribed) on the
	// others, events lost until redelivered
	// (TestGatewayWithOlderConfigurationDoesNotFailNewEndpointsDeliveries).
	// If no gateway takes it within RetryFor it fails.
	var status int
	switch {
	case !ok:
		a.Error, a.Detail = "endpoint_removed", "the endpoint is not in this gateway's configuration"
	case ep.Account != d.Account:
		// The id names another account's endpoint now (the operator
		// reused it): the delivery is not that account's to receive.
		a.Error, a.Detail = "endpoint_account_changed", "the endpoint belongs to another account in this gateway's configuration"
		o.log.Warn("webhooks: delivery refused: its endpoint belongs to another account", "delivery", d.ID,
			"endpoint", d.Endpoint, "account_id", d.Account)
	case !ep.Wants(d.EventType):
		// The endpoint's events do not take the type (the operator took
		// it off since the event was recorded; it was sent all the same,
		// TestUnsubscribedEventIsNotSentToItsEndpoint).
		a.Error, a.Detail = "endpoint_unsubscribed", "the endpoint does not receive this event type in this gateway's configuration"
	default:
		var excerpt string
		var err error
		status, excerpt, err = o.post(ctx, ep, d)
		a.DurationMS = o.now().Sub(start).Milliseconds()
		a.Status, a.Excerpt = status, excerpt
		switch {
		case err == nil && status >= 200 && status < 300:
			o.finish(ctx, d, a, webhooks.StateDelivered)
			return
		case err == nil && status >= 300 && status < 400:
			a.Error, a.Detail = "redirect", "redirects are not followed"
		case err == nil:
			a.Error = "http_status"
		default:
			a.Error, a.Detail = classify(err)
		}
	}
	if a.Error == "forbidden_destination" {
		// A refused address is the configuration's problem, not the
		// receiver's: failed at once (fail closed), the operator may
		// redeliver once it is fixed.
		o.log.Warn("webhooks: destination refused", "delivery", d.ID, "endpoint", d.Endpoint, "reason", a.Detail)
		o.finish(ctx, d, a, webhooks.StateFailed)
		return
	}
	next := start.Add(o.backoff(retriesSoFar(d) + 1))
	if next.After(retryFrom(d).Add(o.opts.RetryFor)) {
		o.log.Warn("webhooks: delivery failed, no retry left", "delivery", d.ID, "endpoint", d.Endpoint,
			"attempts", len(d.Attempts)+1, "status", status, "error", a.Error)
		o.finish(ctx, d, a, webhooks.StateFailed)
		return
	}
	a.Next = next.UTC()
	o.log.Info("webhooks: delivery attempt failed, will retry", "delivery", d.ID, "endpoint", d.Endpoint,
		"attempt", len(d.Attempts)+1, "status", status, "error", a.Error, "detail", a.Detail, "next_attempt", a.Next)
	o.finish(ctx, d, a, webhooks.StatePending)
}

// retryFrom is when d's retry window (RetryFor) began: its event, or the
// operator's last redelivery. From the event only, a delivery redelivered
// after the window was failed again after one failed attempt
// (TestRedeliveryGetsAFullRetryWindow).
func retryFrom(d webhooks.Delivery) time.Time {
	if d.RedeliveredAt.After(d.CreatedAt) {
		return d.RedeliveredAt
	}
	return d.CreatedAt
}

// retriesSoFar counts d's attempts since its event, or, once redelivered,
// since the last redelivery: the backoff of a redelivered delivery starts
// again from BackoffBase (counted from the event, a day of attempts
// before the redelivery made its first retry wait BackoffMax;
// TestRedeliveryGetsAFullRetryWindow). Since a redelivery only the
// attempts kept (webhooks.MaxAttempts) are counted: past that many the
// backoff is at BackoffMax whatever the count.
func retriesSoFar(d webhooks.Delivery) int {
	if d.RedeliveredAt.IsZero() {
		return len(d.Attempts) + d.AttemptsDropped
	}
	n := 0
	for _, a := range d.Attempts {
		if !a.At.Before(d.RedeliveredAt) {
			n++
		}
	}
	return n
}

// backoff is the wait after the n-th failed attempt: BackoffBase·2^(n-1)
// up to BackoffMax, then a random part of it between half and all.
func (o *Dispatcher) backoff(n int) time.Duration {
	w := o.opts.BackoffBase
	for i := 1; i < n && w < o.opts.BackoffMax; i++ {
		w *= 2
	}
	w = min(w, o.opts.BackoffMax)
	return w/2 + rand.N(w/2+1)
}

// finish records attempt a of d with its new state.
func (o *Dispatcher) finish(ctx context.Context, d webhooks.Delivery, a webhooks.Attempt, st webhooks.State) {
	now := o.now().UTC()
	d.AddAttempt(a) // the last webhooks.MaxAttempts are kept
	d.State, d.UpdatedAt, d.LeaseOwner = st, now, ""
	d.Due = a.Next
	if st != webhooks.StatePending {
		d.Due = now
	}
	if o.results != nil {
		res := string(st)
		if st == webhooks.StatePending {
			res = "retrying"
		}
		o.results.WithLabelValues(res).Inc()
	}
	err := o.store.UpdateDelivery(ctx, o.opts.Owner, d)
	switch {
	case errors.Is(err, webhooks.ErrLeaseLost):
		o.log.Warn("webhooks: delivery lease ran out before its attempt was recorded; its new holder delivers it", "delivery", d.ID)
	case err != nil:
		// The lease runs out and the delivery is attempted again.
		o.log.Error("webhooks: record delivery attempt failed", "delivery", d.ID, "err", err)
	}
}

// post sends d's payload to ep, signed, and returns the status and an
// excerpt of the answer.
func (o *Dispatcher) post(ctx context.Context, ep webhooks.Endpoint, d webhooks.Delivery) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aliasgate-webhooks/1")
	req.Header.Set(webhooks.SignatureHeader, webhooks.Sign(ep.Secrets, o.now(), d.Payload))
	req.Header.Set(webhooks.EventIDHeader, d.EventID)
	req.Header.Set(webhooks.EventTypeHeader, d.EventType)
	req.Header.Set(webhooks.DeliveryIDHeader, d.ID)
	resp, err := o.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	// The answer's read ends with the attempt's deadline whatever the
	// transport does: a 101 Switching Protocols answer's body is the
	// connection itself, out of the request's deadline, and a receiver
	// that kept it open held the attempt, and the gateway's shutdown,
	// for as long as it liked (TestProtocolSwitchAnswerDoesNotHoldTheAttempt).
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	return resp.StatusCode, readExcerpt(resp.Body), nil
}

// prune removes finished deliveries older than Retention, every
// pruneEvery: batches of pruneBatch (one store transaction each) until
// none is left, so the log stays bounded by Retention however many
// deliveries a gateway finishes between two passes. A pass stops after
// prunePassBatches batches and the next one follows the next round of
// deliveries, so a large backlog (a first start after long) does not hold
// the deliveries up.
func (o *Dispatcher) prune(ctx context.Context) {
	now := o.now()
	if now.Sub(o.lastPrune) < pruneEvery {
		return
	}
	o.lastPrune = now
	total := 0
	for i := 0; ctx.Err() == nil; i++ {
		if i == prunePassBatches {
			o.lastPrune = time.Time{} // more to remove: again after the next round
			break
		}
		n, err := o.store.PruneDeliveries(ctx, now.Add(-o.opts.Retention), pruneBatch)
		total += n
		if err != nil {
			o.log.Warn("webhooks: prune the delivery log failed", "err", err, "removed", total)
			return
		}
		if n < pruneBatch {
			break
		}
	}
	if total > 0 {
		o.log.Info("webhooks: pruned the delivery log", "removed", total)
	}
}
