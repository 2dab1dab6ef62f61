// Package ratelimit limits how many requests each API client makes: one
// token bucket per client id, refilled at a fixed rate up to a burst size.
// A request over the limit is answered 429 Too Many Requests with a
// Retry-After header (whole seconds until the next token) and a JSON:API
// error document, before the API handler runs.
//
// [Guard] wraps the authentication guard of the Card Management API and the
// vault API (auth.Service.Require), so a request is counted against the
// client it authenticated as; unauthenticated requests are refused by the
// guard before they reach the limiter.
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
)

// Limiter is a set of token buckets, one per key, each refilled at Rate
// tokens a second up to Burst. The zero value is not usable: see New. It is
// safe for concurrent use.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// sweepEvery is how often Allow drops the buckets that are full again (a
// full bucket is the same as no bucket), so the map holds only the clients
// that were active in the last few seconds.
const sweepEvery = time.Minute

// New returns a Limiter of rate requests a second with bursts of up to
// burst requests (burst < 1 counts as 1). now is the clock (nil:
// time.Now). A rate of 0 or less returns nil, which allows everything.
func New(rate, burst int, now func() time.Time) *Limiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: float64(rate), burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until there is one. A nil Limiter allows everything.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// sweep drops the buckets that have refilled completely.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Len returns the number of buckets held (clients seen recently that have
// not refilled yet), for tests and metrics.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RetryAfter formats a wait as the value of a Retry-After header: whole
// seconds, rounded up, at least 1.
func RetryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// Authenticator is the guard the APIs take (auth.Service).
type Authenticator interface {
	Require(scope string, allowBasic bool, contentType string, next http.Handler) http.Handler
}

// Guard is an Authenticator that also rate-limits each authenticated
// client by its client id.
type Guard struct {
	next    Authenticator
	limiter *Limiter
	limited func(api string) // called for each refused request; may be nil
	api     string
}

// NewGuard returns next with the limiter applied after authentication.
// api names the API in the limited callback ("cards", "aliases"), which
// may count refusals in a metric. A nil limiter only authenticates.
func NewGuard(next Authenticator, limiter *Limiter, api string, limited func(api string)) *Guard {
	return &Guard{next: next, limiter: limiter, limited: limited, api: api}
}

// Require implements Authenticator: next's authentication and scope check,
// then the client's token bucket, then h. A refused request gets 429 with
// Retry-After and a JSON:API error in contentType.
func (g *Guard) Require(scope string, allowBasic bool, contentType string, h http.Handler) http.Handler {
	if g.limiter == nil {
		return g.next.Require(scope, allowBasic, contentType, h)
	}
	return g.next.Require(scope, allowBasic, contentType, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		if ok, wait := g.limiter.Allow(p.ClientID); !ok {
			if g.limited != nil {
				g.limited(g.api)
			}
			after := RetryAfter(wait)
			w.Header().Set("Retry-After", after)
			jsonapi.WriteError(w, contentType, jsonapi.NewError(http.StatusTooManyRequests, "rate_limited",
				"Too Many Requests", "this client is over its request rate; retry after "+after+" s"))
			return
		}
		h.ServeHTTP(w, r)
	}))
}
