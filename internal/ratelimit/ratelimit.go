// Package ratelimit holds token buckets: one per key (for the APIs, a
// client id), each refilled at a fixed rate up to a burst size. It only
// counts; what a refusal looks like is the caller's business. The APIs'
// guard asks it after authentication (auth.Service.WithLimit takes
// Limiter.Allow), so a request is counted against the client it
// authenticated as and unauthenticated requests never reach a bucket.
//
// The package is a leaf: it imports nothing of the module (a rule of
// internal/deptest), so any layer may use it.
package ratelimit

import (
	"math"
	"sync"
	"time"
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
	return NewPer(rate, time.Second, burst, now)
}

// NewPer is New for a rate of n tokens every per (30 a minute: NewPer(30,
// time.Minute, …)). n or per of 0 or less returns nil, which allows
// everything.
func NewPer(n int, per time.Duration, burst int, now func() time.Time) *Limiter {
	if n <= 0 || per <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: float64(n) / per.Seconds(), burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until there is one. A nil Limiter allows everything.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	ok, wait, _ := l.Take(key, 1)
	return ok, wait
}

// Take takes n tokens from key's bucket, all or none. It returns whether
// it did, how long until n tokens are there when it did not (n over the
// burst can never be taken: the wait is then the time to refill the whole
// bucket), and how many whole tokens are left. A nil Limiter allows
// everything and reports -1 tokens left.
func (l *Limiter) Take(key string, n int) (ok bool, wait time.Duration, left int) {
	return l.take(key, n, false)
}

// Charge is Take for a cost that may be larger than the burst: it takes n
// tokens from key's bucket when the bucket holds at least min(n, Burst)
// of them, leaving it in debt (below zero) when n is more than it holds,
// so that the key waits for the whole of n to refill before its next
// charge. A cost over the burst is slow, not impossible, and the long-run
// rate holds whatever the size of each charge (Take can never take more
// than the burst). It returns what Take returns; left may be negative.
func (l *Limiter) Charge(key string, n int) (ok bool, wait time.Duration, left int) {
	return l.take(key, n, true)
}

// Debit spends n tokens of key's bucket whatever it holds, leaving it in
// debt (below zero) when it holds fewer: for a cost known only after the
// fact, asked for with Peek before acting, when several callers may have
// acted on one Peek. Charge would take nothing from a bucket under
// min(n, Burst) tokens, and each of a wave of concurrent costs after the
// first few would go free; Debit charges every one, so the key waits
// for all of them to refill. A nil Limiter does nothing.
func (l *Limiter) Debit(key string, n int) {
	if l == nil || n <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucketLocked(key, now).tokens -= float64(n)
}

// take is Take, or Charge when debt is set.
func (l *Limiter) take(key string, n int, debt bool) (ok bool, wait time.Duration, left int) {
	if l == nil {
		return true, 0, -1
	}
	need := float64(max(n, 0))
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	enough := need
	if debt {
		enough = min(need, l.burst)
	}
	if b.tokens >= enough {
		b.tokens -= need
		return true, 0, int(math.Floor(b.tokens))
	}
	wait = time.Duration((min(need, l.burst) - b.tokens) / l.rate * float64(time.Second))
	return false, wait, int(math.Floor(b.tokens))
}

// Peek reports whether key's bucket holds a whole token, taking none, and
// when it does not, how long until it does. A caller that spends tokens
// on outcomes (Charge after the fact) asks it before acting. A nil Limiter
// reports true.
func (l *Limiter) Peek(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// Give puts back n tokens a caller took for something that then did not
// happen (a later limit refused it), up to the burst.
func (l *Limiter) Give(key string, n int) {
	if l == nil || n <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	b.tokens = math.Min(l.burst, b.tokens+float64(n))
}

// bucketLocked returns key's bucket refilled to now (made full when there
// is none), sweeping the map first when a sweep is due.
func (l *Limiter) bucketLocked(key string, now time.Time) *bucket {
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
	return b
}

// Full reports whether key's bucket is full: it has none, or it has
// refilled to the burst since it was last taken from. Forgetting a full
// bucket (ForgetFull) loses nothing: a key without one gets a full one. A
// nil Limiter reports true.
func (l *Limiter) Full(key string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fullLocked(l.buckets[key], now)
}

// fullLocked reports whether b (nil: none) has refilled to the burst by
// now. l.mu is held.
func (l *Limiter) fullLocked(b *bucket, now time.Time) bool {
	return b == nil || b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst
}

// ForgetFull drops key's bucket when it is full (Full), for a caller that
// stops tracking key, and reports whether it is gone (or there was none);
// a bucket taken from since it was last seen full is kept, and false
// returned. The check and the drop are one step: a Take between a Full and
// a drop would be forgotten with the bucket. A nil Limiter reports true.
func (l *Limiter) ForgetFull(key string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fullLocked(l.buckets[key], now) {
		return false
	}
	delete(l.buckets, key)
	return true
}

// Burst returns the size of each bucket (0 for a nil Limiter).
func (l *Limiter) Burst() int {
	if l == nil {
		return 0
	}
	return int(l.burst)
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
