package vault

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// LimitVolatileShare is the ThrottleError.Limit of a Redact refused
// because its account holds its share of the volatile store
// (Options.VolatileShare).
const LimitVolatileShare = "account_volatile_share"

// resultShareFull is the Observer's result (store "-") of a Redact refused
// by Options.VolatileShare.
const resultShareFull = "share_full"

// shareSlots is how many parts of one volatile TTL a volatileShare counts
// in: a value is counted until the whole of its part is a TTL old, so an
// account's count may hold values that expired up to TTL/shareSlots ago
// (never fewer than it holds).
const shareSlots = 60

// volatileShare bounds the volatile values each account may create in any
// one volatile TTL (Options.VolatileShare). Every volatile value lives at
// most one TTL, so an account holds at most that many in the volatile
// store: what it creates past its share is refused, instead of evicting
// another account's values from a full store. Values deleted or evicted
// before their expiry are still counted (the count never falls short). It
// counts this Service's calls only: n gateways sharing a store let an
// account hold n shares. It is safe for concurrent use.
type volatileShare struct {
	max  int
	ttl  time.Duration
	slot time.Duration // ttl / shareSlots, at least 1 ns

	mu        sync.Mutex
	accounts  map[string]*shareCount
	lastSweep time.Time
}

// shareCount is what one account created, by slot (oldest first).
type shareCount struct {
	parts []sharePart
	total int
}

// sharePart is what an account created in one slot (start: the slot's
// number, time / slot).
type sharePart struct {
	start int64
	n     int
}

// newVolatileShare returns the bound of limit values per ttl per account,
// or nil (no bound) when limit is 0 or less.
func newVolatileShare(limit int, ttl time.Duration) *volatileShare {
	if limit <= 0 {
		return nil
	}
	return &volatileShare{max: limit, ttl: ttl, slot: max(ttl/shareSlots, 1), accounts: map[string]*shareCount{}}
}

// expire drops the parts whose values have all expired at now.
func (v *volatileShare) expire(c *shareCount, now time.Time) {
	drop := 0
	for _, p := range c.parts {
		if now.Before(v.gone(p)) {
			break
		}
		c.total -= p.n
		drop++
	}
	c.parts = c.parts[drop:]
}

// gone is when every value created in p's slot has expired.
func (v *volatileShare) gone(p sharePart) time.Time {
	return time.Unix(0, (p.start+1)*int64(v.slot)).Add(v.ttl)
}

// reserve counts n new volatile values of account at now, or refuses them
// (a *ThrottleError, RetryAfter when enough of the account's values will
// have expired) when the account would hold more than its share. The
// returned part is what release takes.
func (v *volatileShare) reserve(account string, n int, now time.Time) (sharePart, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.lastSweep) >= v.slot {
		v.sweep(now)
	}
	c := v.accounts[account]
	if c == nil {
		c = &shareCount{}
		v.accounts[account] = c
	}
	v.expire(c, now)
	if c.total+n > v.max {
		wait := v.ttl // a call over the whole share never passes
		if n <= v.max {
			freed := 0
			for _, p := range c.parts {
				if freed += p.n; c.total-freed+n <= v.max {
					wait = v.gone(p).Sub(now)
					break
				}
			}
		}
		return sharePart{}, &ThrottleError{Limit: LimitVolatileShare, RetryAfter: max(wait, time.Second)}
	}
	p := sharePart{start: now.UnixNano() / int64(v.slot), n: n}
	if k := len(c.parts); k > 0 && c.parts[k-1].start >= p.start {
		c.parts[k-1].n += n // the same slot (or a clock that went back)
		p.start = c.parts[k-1].start
	} else {
		c.parts = append(c.parts, p)
	}
	c.total += n
	return p, nil
}

// release gives back a reservation of a call that then stored nothing.
func (v *volatileShare) release(account string, p sharePart) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.accounts[account]
	if c == nil {
		return
	}
	for i := range c.parts {
		if c.parts[i].start == p.start {
			n := min(p.n, c.parts[i].n)
			c.parts[i].n -= n
			c.total -= n
			return
		}
	}
}

// sweep forgets the accounts that hold nothing any more.
func (v *volatileShare) sweep(now time.Time) {
	v.lastSweep = now
	for a, c := range v.accounts {
		if v.expire(c, now); c.total <= 0 {
			delete(v.accounts, a)
		}
	}
}

// reserveShare applies Options.VolatileShare to a Redact of items for the
// context's account; release (never nil) gives the reservation back when
// the call then stores nothing.
func (s *Service) reserveShare(ctx context.Context, items []item) (release func(), err error) {
	n := 0
	for i := range items {
		if items[i].storage == StorageVolatile {
			n++
		}
	}
	if s.share == nil || n == 0 {
		return func() {}, nil
	}
	account := s.owner(ctx)
	p, err := s.share.reserve(account, n, s.now())
	if err != nil {
		if s.observer != nil {
			s.observer.ObserveVault(opRedact, noStore, resultShareFull, 0)
		}
		return nil, fmt.Errorf("vault: redact: %w", err)
	}
	return func() { s.share.release(account, p) }, nil
}
