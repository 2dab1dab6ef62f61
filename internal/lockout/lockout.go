// Package lockout throttles guesses of a secret per remote address: the
// admin listener's key endpoints and the inspector's login and API ask one
// Table before they compare an admin token, so that wrong tokens from one
// address lock out that address only and the operator elsewhere is not
// affected; the API clients' credential checks (package auth: the token
// endpoint, the vault API, the Card Management API) ask another, under
// the request's source address.
//
// The rule: an address (see Key) may get Options.Free tokens wrong; every
// wrong token after that locks it out for a time that doubles with each
// further failure, from Options.Base up to Options.Max. While it is locked
// out the secret is not compared at all (the caller answers 429 with
// Retry-After). Each attempt is charged as a failure before its check
// runs, so concurrent guesses cannot slip through the gap between a check
// and the lockout it causes: a burst from a fresh address gets its free
// failures and one more, not a check per request; an attempt that finds
// its address locked out only by attempts still being checked waits for
// them, so correct tokens sent at once are all allowed. A correct token
// resets the address. A check that cannot judge the secret (Attempt's
// Void: its store failed, say) has its charge taken back, as has one that
// panics (the panic goes on). An address's
// failures are forgotten Options.Forget after its last one.
//
// The table is bounded: it holds only addresses with failures (and those
// whose check is running), at most Options.MaxEntries of them; a new one
// evicts the one whose last failure is oldest. A successful check leaves
// no entry.
//
// Key groups IPv6 addresses by /64 (one subscriber's usual allocation, so
// an attacker cannot step through 2^64 addresses) and unmaps IPv4-mapped
// IPv6 addresses. It reads the address it is given (the TCP peer for the
// admin listener; the source address the inbound listener found, through
// its trusted proxies only, for the API clients): forwarding headers are
// not read here.
//
// The package is a leaf: it imports nothing of the module (a rule of
// internal/deptest).
package lockout

import (
	"container/list"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultFree       = 10
	DefaultBase       = time.Second
	DefaultMax        = 15 * time.Minute
	DefaultForget     = time.Hour
	DefaultMaxEntries = 10000
)

// Options configures New. Zero values take the defaults.
type Options struct {
	// Free is the number of wrong secrets an address may send before it is
	// locked out (DefaultFree).
	Free int
	// Base is the first lockout, after failure Free+1 (DefaultBase); each
	// further failure doubles it.
	Base time.Duration
	// Max caps a lockout (DefaultMax).
	Max time.Duration
	// Forget is how long after its last failure an address starts afresh
	// (DefaultForget; at least Max).
	Forget time.Duration
	// MaxEntries caps the addresses held (DefaultMaxEntries).
	MaxEntries int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Verdict is the outcome of Table.Try.
type Verdict int

// Verdicts of Table.Try.
const (
	// Allowed: the check ran and passed; the address's failures are reset.
	Allowed Verdict = iota
	// Denied: the check ran and failed. A wait above zero says that this
	// failure locked the address out for that long.
	Denied
	// LockedOut: the address is locked out; the check did not run. The
	// wait is the time left.
	LockedOut
	// Voided: the check ran and reached no verdict (Table.Attempt's Void):
	// its charge was taken back and the address was not reset.
	Voided
)

// Outcome is what a check run by Table.Attempt found.
type Outcome int

// Outcomes of a check.
const (
	// Pass: the secret is right; the address is reset (Allowed).
	Pass Outcome = iota
	// Fail: the secret is wrong; the attempt's charge stands (Denied).
	Fail
	// Void: the check could not judge the secret (the store that holds it
	// failed, no secret was sent, a right secret of another use): the
	// attempt's charge is taken back and the address is not reset
	// (Voided), so that an outage does not lock out the senders that
	// retry through it, and a right secret of another use does not wipe
	// an address's failures.
	Void
)

// Table holds the failures of the addresses that sent wrong secrets. It is
// safe for concurrent use.
type Table struct {
	opts     Options
	lockouts atomic.Uint64

	mu    sync.Mutex
	done  *sync.Cond // on mu: a check ended (an entry's pending went down)
	m     map[string]*entry
	order *list.List // of *entry, most recent failure first

	// onWait, when set (tests), is called under mu each time an attempt
	// starts waiting for the checks of its address.
	onWait func()
}

type entry struct {
	key      string
	failures int
	last     time.Time // the last failure
	until    time.Time // locked out until
	pending  int       // attempts charged to this entry whose check runs
	// failed counts the failures whose check has ended (failures less
	// those pending): the one that takes it past Options.Free locks the
	// address out (Denied with a wait, a lockout counted), once.
	failed int
	elem   *list.Element
}

// New returns a Table.
func New(opts Options) *Table {
	if opts.Free <= 0 {
		opts.Free = DefaultFree
	}
	if opts.Base <= 0 {
		opts.Base = DefaultBase
	}
	if opts.Max <= 0 {
		opts.Max = DefaultMax
	}
	if opts.Max < opts.Base {
		opts.Max = opts.Base
	}
	if opts.Forget <= 0 {
		opts.Forget = DefaultForget
	}
	if opts.Forget < opts.Max {
		opts.Forget = opts.Max
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Table{opts: opts, m: map[string]*entry{}, order: list.New()}
	t.done = sync.NewCond(&t.mu)
	return t
}

// Try runs check (the secret's comparison, which should take constant
// time) for key unless key is locked out, and records its result. See
// Verdict for what the wait means.
//
// Every attempt is charged as a failure before check runs, and the address
// is reset when it passes: guesses sent at once are counted as they
// arrive, so an address gets its free failures and the one that locks it
// out however many it sends in parallel. An attempt that finds its address
// locked out only by charges whose checks still run waits for them rather
// than answering LockedOut: one of them may pass and reset the address, as
// when the operator sends more requests at once than there are free
// failures (each charged before its check, a correct token too). It then
// runs its own check, or is locked out once they all failed. While a check runs its address
// has an entry, which a success removes; an entry made for it is not
// counted against Options.MaxEntries until the check fails, so a success
// evicts no other address.
func (t *Table) Try(key string, check func() bool) (Verdict, time.Duration) {
	return t.Attempt(key, func() Outcome {
		if check() {
			return Pass
		}
		return Fail
	})
}

// Attempt is Try for a check that may reach no verdict (Void): its
// attempt is charged before it runs as Try's is, and the charge is taken
// back when it returns Void (Voided): the address's failures are as if it
// had not been made, and are not reset either. A check that panics is
// taken back as a Void one, and the panic goes on.
func (t *Table) Attempt(key string, check func() Outcome) (Verdict, time.Duration) {
	t.mu.Lock()
	now := t.opts.Now()
	t.expire(now)
	e := t.m[key]
	for e != nil && now.Before(e.until) {
		if e.pending == 0 {
			wait := e.until.Sub(now) // under the lock: another attempt may charge e once it is released
			t.mu.Unlock()
			return LockedOut, wait
		}
		// Locked out by attempts still being checked, which may hold the
		// right secret (the operator's requests sent at once): wait for
		// their verdict instead of refusing a correct one.
		if t.onWait != nil {
			t.onWait()
		}
		t.done.Wait()
		now = t.opts.Now()
		t.expire(now)
		e = t.m[key]
	}
	if e == nil {
		e = t.insert(key)
	}
	before := e.until
	t.fail(e, now)
	charged := e.failures
	e.pending++
	t.mu.Unlock()

	out := t.run(key, e, charged, before, check)

	t.mu.Lock()
	defer t.mu.Unlock()
	e.pending--
	t.done.Broadcast()
	cur := t.m[key]
	if out == Void {
		if cur == e { // else evicted, or reset by a success: nothing left to take back
			t.refund(e, charged, before)
		}
		return Voided, 0
	}
	if out == Pass {
		if cur != nil {
			t.remove(cur)
		}
		return Allowed, 0
	}
	if cur != e { // evicted, or reset by a success, meanwhile: charge again
		if cur == nil {
			cur = t.insert(key)
		}
		t.fail(cur, now)
	}
	t.bound(cur)
	// Judged by the failures that have ended, this one included, not by
	// the charges: in a burst every guess is charged before the first
	// one ends, and each would find its address past the free failures.
	cur.failed++
	if cur.failed <= t.opts.Free {
		return Denied, 0
	}
	t.lockouts.Add(1)
	return Denied, cur.until.Sub(now)
}

// run runs the check of an attempt charged to e (the charged-th failure;
// e was locked out until before). A check that panics (a client store's
// bug, recovered by net/http for its request) is no verdict: its charge is
// taken back, as a Void one's, before the panic goes on; else its attempt
// would stay pending for good, and the address's later attempts, once it
// was past its free failures, would wait for it for ever.
func (t *Table) run(key string, e *entry, charged int, before time.Time, check func() Outcome) Outcome {
	ok := false
	defer func() {
		if ok {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		e.pending--
		t.done.Broadcast()
		if t.m[key] == e {
			t.refund(e, charged, before)
		}
	}()
	out := check()
	ok = true
	return out
}

// fail counts a failure of e at now and sets its lockout.
func (t *Table) fail(e *entry, now time.Time) {
	e.failures++
	e.last = now
	t.order.MoveToFront(e.elem)
	if over := e.failures - t.opts.Free; over > 0 {
		e.until = now.Add(t.backoff(over))
	}
}

// refund takes back the charge of an attempt whose check was Void: e's
// failures were charged (this attempt's included) and it was locked out
// until before before it. With no charge since, e's lockout is before
// again; else it is the one of its failures left, dated from the last
// charge. An entry left without failures or checks running is dropped, as
// a success drops it. Its last failure stays: it is forgotten later, not
// sooner.
func (t *Table) refund(e *entry, charged int, before time.Time) {
	e.failures--
	switch over := e.failures - t.opts.Free; {
	case over <= 0:
		e.until = time.Time{}
	case e.failures == charged-1:
		e.until = before
	default:
		e.until = e.last.Add(t.backoff(over))
	}
	if e.failures == 0 && e.pending == 0 {
		t.remove(e)
	}
}

// backoff returns the lockout after the over-th failure past the free ones:
// Base·2^(over-1), at most Max.
func (t *Table) backoff(over int) time.Duration {
	d := t.opts.Base
	for i := 1; i < over; i++ {
		if d >= t.opts.Max/2 {
			return t.opts.Max
		}
		d *= 2
	}
	return min(d, t.opts.Max)
}

// bound evicts the entries whose last failure is oldest, keep aside, until
// the table holds at most Options.MaxEntries.
func (t *Table) bound(keep *entry) {
	for len(t.m) > t.opts.MaxEntries {
		old := t.order.Back().Value.(*entry)
		if old == keep {
			old = t.order.Back().Prev().Value.(*entry)
		}
		t.remove(old)
	}
}

// insert adds a fresh entry for key (bound keeps the table's size).
func (t *Table) insert(key string) *entry {
	e := &entry{key: key}
	e.elem = t.order.PushFront(e)
	t.m[key] = e
	return e
}

func (t *Table) remove(e *entry) {
	t.order.Remove(e.elem)
	delete(t.m, e.key)
}

// expire drops the entries whose last failure is Forget old.
func (t *Table) expire(now time.Time) {
	for b := t.order.Back(); b != nil; b = t.order.Back() {
		e := b.Value.(*entry)
		if now.Sub(e.last) < t.opts.Forget {
			return
		}
		t.remove(e)
	}
}

// Len returns the number of addresses held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Lockouts returns how many failures have locked an address out since the
// table was made (each failure past the free ones counts once), for a
// metric.
func (t *Table) Lockouts() uint64 { return t.lockouts.Load() }

// Key returns the address a request from remoteAddr (an http.Request's
// RemoteAddr, "host:port") is counted under: an IPv4 address as is, an
// IPv6 address as its /64 ("2001:db8:1:2::/64"), an IPv4-mapped IPv6
// address as the IPv4 address; zones are dropped. Anything else (a Unix
// socket's peer) is returned as is, without a port when it has one.
func Key(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // cannot fail: an IPv6 address without a zone
	return p.String()
}

// RetryAfter is the Retry-After value of a wait: whole seconds, rounded
// up, at least 1.
func RetryAfter(wait time.Duration) string {
	return strconv.FormatInt(int64(max((wait+time.Second-1)/time.Second, 1)), 10)
}

// WriteLockedOut answers a request from an address locked out for wait:
// 429 with Retry-After (whole seconds, rounded up, at least 1) and a
// JSON:API error document of code "locked_out" (the shape of
// internal/jsonapi's, written here so that the package stays a leaf).
func WriteLockedOut(w http.ResponseWriter, wait time.Duration) {
	after := RetryAfter(wait)
	type object struct {
		Status string `json:"status"`
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	b, _ := json.Marshal(struct { // strings only: cannot fail
		Errors []object `json:"errors"`
	}{[]object{{Status: "429", Code: "locked_out", Title: "Too Many Requests",
		Detail: "too many wrong admin tokens from this address; retry after " + after + " s"}}})
	h := w.Header()
	h.Set("Retry-After", after)
	h.Set("Content-Type", "application/vnd.api+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(append(b, '\n'))
}
