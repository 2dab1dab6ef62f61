// Package abuse holds the limits that keep the vault from being used as an
// oracle or flooded: a caller who may tokenize can confirm guesses (a
// deterministic alias, a duplicate card's 303), so what one caller may
// make the vault do is bounded and watched.
//
// A Guard is the vault's Admission (vault.Options.Admission): before a
// Redact writes anything, it sees the call's persistent values, which of
// them are new, and the caller (vault.Actor: an API client, else the
// source address the inbound proxy saw). It applies, in order:
//
//   - the penalty: a caller flagged for enumeration may not tokenize any
//     digit value (a card number, an account or social security number)
//     for Limits.Penalty, renewed by every refused try. New and known
//     values are refused alike, so the refusal says nothing about which
//     guesses were right;
//   - the enumeration detector: distinct new digit values that share a
//     group (first 6 and last 4 digits for 12 digits or more, which also
//     covers first 8 / last 4; length and last 4 for 9 to 11 digits) are
//     counted per caller and group over Limits.Window. A call that would
//     take a group past Limits.Threshold is refused and flags the caller;
//   - for callers without a client (the inbound proxy's anonymous
//     senders), a token bucket of new persistent values per source address
//     (Limits.SourceNew a minute, bursts of Limits.SourceBurst), and one
//     of new volatile values (CVCs; Limits.SourceVolatile a minute, bursts
//     of Limits.SourceVolatileBurst). Every volatile value is a new
//     record, and the in-memory volatile store makes room by evicting the
//     oldest values: without this bucket one anonymous sender's flood of
//     CVCs evicted every other customer's before the merchant used it. A
//     message with more volatile values than the burst passes when the
//     bucket is full and leaves it in debt (ratelimit.Limiter.Charge), so
//     the rate holds whatever the size of the messages.
//
// Duplicate answers (the Card Management API's 303) are counted per caller
// through NoteDuplicate; past Limits.Duplicates in a Window the caller is
// flagged the same way.
//
// A flag raises one Alert (an audit line, a metric and a log line naming
// the caller, never a digit) per caller and penalty. Refusals are
// *vault.ThrottleError, which the APIs and the proxy answer 429 with
// Retry-After; nothing of a refused call is stored.
//
// Memory is bounded: at most Limits.MaxCallers API clients and, apart from
// them, at most Limits.MaxCallers other callers (source addresses) are
// tracked. Past its kind's bound, a caller not yet tracked takes the place
// of one with nothing worth remembering: not serving a penalty, its
// buckets full again, and, of a few such callers sampled, the lowest count
// in any group (a customer who tokenized one card), the one seen longest
// ago among equals; its buckets go with it (while still full). The sample
// skips the callers that cannot make room. Only when none of those looked
// at (a few hundred) can make room does the new caller share one state
// with the others of its kind (fail closed: limited together, never let
// through untracked). So a busy gateway's new customers are not limited
// together once the table is full of earlier ones, and filling it so that
// they are takes nearly every entry flagged, or kept from refilling its
// buckets (spending every few seconds, or a flood of CVCs that leaves a
// bucket in debt for minutes). The two kinds never share a state, so
// anonymous senders with many addresses cannot push the API clients of
// any account into a state they got flagged. Each caller keeps at most
// maxGroupsPerCaller groups, forgetting its least-counted group first.
package abuse

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/ratelimit"
	"github.com/aliasgate/aliasgate/vault"
)

// Limits are the Guard's limits. A zero field turns its limit off.
type Limits struct {
	// SourceNew is how many new persistent values a minute one source
	// address may have tokenized when it has no client (the inbound
	// proxy); SourceBurst is the bucket's size.
	SourceNew   int
	SourceBurst int
	// SourceVolatile is how many new volatile values (CVCs) a minute one
	// source address may have tokenized when it has no client;
	// SourceVolatileBurst is the bucket's size.
	SourceVolatile      int
	SourceVolatileBurst int
	// Threshold is how many distinct new digit values of one group one
	// caller may have tokenized in a Window.
	Threshold int
	// Duplicates is how many duplicate answers (303) one caller may get in
	// a Window.
	Duplicates int
	// Window is the detectors' window.
	Window time.Duration
	// Penalty is how long a flagged caller is refused digit values; every
	// refused try starts it again.
	Penalty time.Duration
	// MaxCallers bounds the callers of each kind tracked at once: API
	// clients, and other callers (source addresses); default 100000.
	MaxCallers int
}

// DefaultLimits are the limits aliasgate runs with when none are set (see
// config/README.md for the reasons behind each).
func DefaultLimits() Limits {
	return Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120, Threshold: 10, Duplicates: 100,
		Window: time.Hour, Penalty: time.Hour, MaxCallers: 100_000}
}

// Alert is raised once when a caller is flagged.
type Alert struct {
	// Caller names the caller: "client:<id>" or "source:<address>".
	Caller string
	// Kind is "enumeration" or "duplicates".
	Kind string
}

// Options are a Guard's collaborators; all optional.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Alert is called (outside the Guard's lock) when a caller is flagged.
	Alert func(ctx context.Context, a Alert)
	// Refused is called for every refusal with the limit's name.
	Refused func(limit string)
}

// Limit names, as in vault.ThrottleError.Limit and metrics.
const (
	LimitEnumeration = "enumeration"
	LimitDuplicates  = "duplicates"
	LimitSourceNew   = "source_new_values"
	// LimitSourceVolatile is the per-source bucket of new volatile values.
	LimitSourceVolatile = "source_volatile_values"
)

// Guard applies Limits. It is safe for concurrent use.
type Guard struct {
	lim     Limits
	now     func() time.Time
	alert   func(context.Context, Alert)
	refused func(string)
	source  *ratelimit.Limiter
	// volatile is the per-source bucket of new volatile values.
	volatile *ratelimit.Limiter

	mu        sync.Mutex
	callers   map[string]*caller
	lastSweep time.Time
	// tracked counts the callers of each kind in callers (the overflow
	// states not included): [kindClient] and [kindOther].
	tracked [2]int
}

// Kinds of callers, bounded apart (Limits.MaxCallers each).
const (
	kindClient = iota
	kindOther
)

// kindOf is the kind of a caller named by CallerOf.
func kindOf(name string) int {
	if strings.HasPrefix(name, clientPrefix) {
		return kindClient
	}
	return kindOther
}

// caller is what the Guard remembers of one caller.
type caller struct {
	// name is the caller's key in Guard.callers (its CallerOf, or its
	// kind's overflow state).
	name         string
	flaggedUntil time.Time
	groups       map[group]*count
	dups         count
	seen         time.Time // last time the caller tokenized or was refused
	// peak is the highest count one of the caller's groups (or its
	// duplicates) reached in windows that end at peakUntil or sooner, so
	// that no count of the caller still open is higher: what a full table
	// weighs before it forgets the caller (makeRoomLocked).
	peak      int
	peakUntil time.Time
}

// notePeak records that a count of c whose window ends at until reached
// n. While an earlier peak holds, the peak keeps the higher count and the
// later end: it may weigh more than c's counts (never less), until every
// window it covers is over.
func (c *caller) notePeak(now, until time.Time, n int) {
	if !now.Before(c.peakUntil) {
		c.peak, c.peakUntil = n, until
		return
	}
	c.peak = max(c.peak, n)
	if until.After(c.peakUntil) {
		c.peakUntil = until
	}
}

// weight is what forgetting c would lose: at least its highest count in a
// window still open.
func (c *caller) weight(now time.Time) int {
	if !now.Before(c.peakUntil) {
		return 0
	}
	return c.peak
}

// count is a number of events in a fixed window starting at start.
type count struct {
	start time.Time
	n     int
}

// add adds n to c, starting a new window when c's is over, and returns the
// total.
func (c *count) add(now time.Time, window time.Duration, n int) int {
	if now.Sub(c.start) >= window {
		c.start, c.n = now, 0
	}
	c.n += n
	return c.n
}

// peek returns c's total in the window that holds now.
func (c *count) peek(now time.Time, window time.Duration) int {
	if now.Sub(c.start) >= window {
		return 0
	}
	return c.n
}

// group is the part of a digit value two guesses at the same secret share.
type group [12]byte

// maxGroupsPerCaller bounds the groups remembered for one caller. A caller
// tokenizing more distinct groups in a window (a bulk import) has its
// least-counted group forgotten for each new one: a group being guessed at
// has a count of 2 or more and outlives the single-value groups of normal
// traffic, so flushing it takes as many values per group as it holds
// guesses, which the other limits make slow.
const maxGroupsPerCaller = 4096

// makeRoom drops c's groups whose window is over, or else the one with the
// lowest count (the oldest of those), so that one more fits.
func (c *caller) makeRoom(now time.Time, window time.Duration) {
	var victim group
	found := false
	var low *count
	for k, cnt := range c.groups {
		if now.Sub(cnt.start) >= window {
			delete(c.groups, k)
			continue
		}
		if low == nil || cnt.n < low.n || cnt.n == low.n && cnt.start.Before(low.start) {
			victim, low, found = k, cnt, true
		}
	}
	if len(c.groups) >= maxGroupsPerCaller && found {
		delete(c.groups, victim)
	}
}

// overflowCaller and clientOverflowCaller are the states shared by the
// callers past Limits.MaxCallers: the sources' and the API clients'.
const (
	overflowCaller       = "overflow"
	clientOverflowCaller = "client-overflow"
	clientPrefix         = "client:"
)

// New returns a Guard of lim.
func New(lim Limits, opts Options) *Guard {
	if lim.MaxCallers <= 0 {
		lim.MaxCallers = DefaultLimits().MaxCallers
	}
	g := &Guard{lim: lim, now: opts.Now, alert: opts.Alert, refused: opts.Refused, callers: map[string]*caller{}}
	if g.now == nil {
		g.now = time.Now
	}
	g.source = ratelimit.NewPer(lim.SourceNew, time.Minute, lim.SourceBurst, g.now)
	g.volatile = ratelimit.NewPer(lim.SourceVolatile, time.Minute, lim.SourceVolatileBurst, g.now)
	return g
}

// CallerOf names the caller of a vault call: its client, else its source
// address (an IPv6 address by its /64), else its route, else "unknown".
func CallerOf(a vault.Actor) string {
	var buf [callerBuf]byte
	return string(appendCaller(buf[:0], a))
}

// callerBuf is the stack buffer a caller's name is built in: "source:"
// and the longest IPv6 /64 prefix, with room to spare.
const callerBuf = 96

// appendCaller appends CallerOf(a) to dst: Admit and NoteDuplicate build
// the name on the stack and look it up without making a string (the
// caller's state keeps the one made when it was first seen).
func appendCaller(dst []byte, a vault.Actor) []byte {
	switch {
	case a.Client != "":
		return append(append(dst, clientPrefix...), a.Client...)
	case a.Source != "":
		return appendSourceKey(append(dst, "source:"...), a.Source)
	case a.Route != "":
		return append(append(dst, "route:"...), a.Route...)
	}
	return append(dst, "unknown"...)
}

// appendSourceKey appends the unit one sender controls of an address: the
// address itself for IPv4, its /64 for IPv6 (one host's usual share); an
// address that does not parse as it is.
//
// An address of digits and dots only (every IPv4 address the proxies
// see) is appended as it is without being parsed: netip.ParseAddr takes
// only the dotted-decimal form, with no leading zeros, which its
// AppendTo gives back byte for byte, and such a string that does not
// parse is appended as it is too (FuzzSourceKeyAgainstParse).
func appendSourceKey(dst []byte, addr string) []byte {
	if digitsAndDots(addr) {
		return append(dst, addr...)
	}
	return appendParsedSourceKey(dst, addr)
}

// digitsAndDots reports whether s holds only ASCII digits and dots.
func digitsAndDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// appendParsedSourceKey is appendSourceKey by parsing addr.
func appendParsedSourceKey(dst []byte, addr string) []byte {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return append(dst, addr...)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.AppendTo(dst)
		}
	}
	return ip.AppendTo(dst)
}

// Admit implements vault.Admission.
func (g *Guard) Admit(ctx context.Context, values [][]byte, isNew []bool, volatile int) (refused error) {
	actor := vault.ActorFrom(ctx)
	var gs []group // groups of the new digit values
	digits := false
	for i, v := range values {
		k, ok := groupOf(v)
		if !ok {
			continue
		}
		digits = true
		if isNew[i] {
			gs = append(gs, k)
		}
	}
	newCount := 0
	for _, n := range isNew {
		if n {
			newCount++
		}
	}
	// The anonymous senders' buckets: new persistent values, new volatile
	// values.
	bucketNew := actor.Client == "" && newCount > 0 && g.source != nil
	bucketVolatile := actor.Client == "" && volatile > 0 && g.volatile != nil
	if !digits && !bucketNew && !bucketVolatile {
		return nil
	}

	now := g.now()
	g.mu.Lock()
	var buf [callerBuf]byte
	c, name := g.callerLocked(appendCaller(buf[:0], actor), now)
	c.seen = now
	if digits && now.Before(c.flaggedUntil) {
		c.flaggedUntil = now.Add(g.lim.Penalty)
		g.mu.Unlock()
		return g.refuse(LimitEnumeration, g.lim.Penalty)
	}
	if g.lim.Threshold > 0 && len(gs) > 0 {
		per := map[group]int{}
		for _, k := range gs {
			per[k]++
		}
		for k, n := range per {
			have := 0
			if cnt := c.groups[k]; cnt != nil {
				have = cnt.peek(now, g.lim.Window)
			}
			if have+n > g.lim.Threshold {
				c.flaggedUntil = now.Add(g.lim.Penalty)
				c.groups = nil
				g.mu.Unlock()
				g.raise(ctx, name, LimitEnumeration)
				return g.refuse(LimitEnumeration, g.lim.Penalty)
			}
		}
		if c.groups == nil {
			c.groups = map[group]*count{}
		}
		for k, n := range per {
			cnt := c.groups[k]
			if cnt == nil {
				if len(c.groups) >= maxGroupsPerCaller {
					c.makeRoom(now, g.lim.Window)
				}
				cnt = &count{start: now}
				c.groups[k] = cnt
			}
			total := cnt.add(now, g.lim.Window, n)
			c.notePeak(now, cnt.start.Add(g.lim.Window), total)
		}
		defer func() {
			if refused != nil {
				g.unreserve(c, per, now)
			}
		}()
	}
	g.mu.Unlock()

	if bucketVolatile {
		if ok, wait, _ := g.volatile.Charge(name, volatile); !ok {
			return g.refuse(LimitSourceVolatile, wait)
		}
	}
	if bucketNew {
		// A message over the bucket's size takes the whole bucket rather
		// than never passing: limits.max_new_per_message bounds it.
		ok, wait, _ := g.source.Take(name, min(newCount, g.source.Burst()))
		if !ok {
			if bucketVolatile { // what was not stored is not counted
				g.volatile.Give(name, volatile)
			}
			return g.refuse(LimitSourceNew, wait)
		}
	}
	return nil
}

// unreserve takes back the group counts a call reserved (under the lock, so
// that concurrent calls cannot all pass the threshold) when the call was
// refused by a later limit: what was not stored is not counted. It takes
// them from c, the state they were reserved in, not from the state now
// kept under the caller's name: a full table may have forgotten c in
// between (makeRoomLocked) and a later call of the caller made a new one,
// whose counts are that call's.
func (g *Guard) unreserve(c *caller, per map[group]int, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, n := range per {
		if cnt := c.groups[k]; cnt != nil && cnt.peek(now, g.lim.Window) >= n {
			cnt.n -= n
		}
	}
}

// NoteDuplicate counts a duplicate answer (the Card Management API's 303)
// for the context's caller. It returns a *vault.ThrottleError, and the
// answer must not be given, when the caller is flagged or this answer
// flags it.
func (g *Guard) NoteDuplicate(ctx context.Context) error {
	var buf [callerBuf]byte
	key := appendCaller(buf[:0], vault.ActorFrom(ctx))
	now := g.now()
	g.mu.Lock()
	c, name := g.callerLocked(key, now)
	c.seen = now
	if now.Before(c.flaggedUntil) {
		c.flaggedUntil = now.Add(g.lim.Penalty)
		g.mu.Unlock()
		return g.refuse(LimitDuplicates, g.lim.Penalty)
	}
	if g.lim.Duplicates > 0 {
		n := c.dups.add(now, g.lim.Window, 1)
		if n > g.lim.Duplicates {
			c.flaggedUntil = now.Add(g.lim.Penalty)
			c.dups = count{}
			g.mu.Unlock()
			g.raise(ctx, name, LimitDuplicates)
			return g.refuse(LimitDuplicates, g.lim.Penalty)
		}
		c.notePeak(now, c.dups.start.Add(g.lim.Window), n)
	}
	g.mu.Unlock()
	return nil
}

// Flagged reports whether the named caller (as CallerOf names it) is
// serving a penalty, for tests and the admin view.
func (g *Guard) Flagged(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.callers[name]
	return c != nil && g.now().Before(c.flaggedUntil)
}

// Tracked returns how many callers the Guard holds state for.
func (g *Guard) Tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.callers)
}

// callerLocked returns the state of the named caller, making it. Past
// MaxCallers of its kind (after a sweep) it makes room by forgetting a
// caller with nothing worth remembering (makeRoomLocked); when none can
// be forgotten, new callers share their kind's overflow state. It returns
// the name the state is kept under. key is the caller's name as CallerOf
// makes it (appendCaller): a string of it is made only for a caller not
// tracked yet.
func (g *Guard) callerLocked(key []byte, now time.Time) (*caller, string) {
	if c := g.callers[string(key)]; c != nil {
		return c, c.name
	}
	name := string(key)
	kind := kindOf(name)
	if g.tracked[kind] >= g.lim.MaxCallers && now.Sub(g.lastSweep) >= time.Second {
		g.sweepLocked(now)
	}
	if g.tracked[kind] >= g.lim.MaxCallers {
		g.makeRoomLocked(kind, now)
	}
	if g.tracked[kind] >= g.lim.MaxCallers {
		name = overflowCaller
		if kind == kindClient {
			name = clientOverflowCaller
		}
		if c := g.callers[name]; c != nil {
			return c, name
		}
	} else {
		g.tracked[kind]++
	}
	c := &caller{name: name}
	g.callers[name] = c
	return c, name
}

// Bounds of makeRoomLocked's search, the work it does under the Guard's
// lock for each new caller of a full table: the callers that can make room
// it weighs, the callers whose buckets it looks up (two limiter look-ups
// each, the costly part), and the entries it looks at in all.
const (
	roomSample = 16
	roomChecks = 32
	roomLooks  = 256
)

// makeRoomLocked forgets one caller of kind that has nothing worth
// remembering, so that a new caller gets a state of its own instead of the
// overflow state: not serving a penalty, its buckets full again (forgetting
// them loses nothing), and, of up to roomSample such callers, the one with
// the lowest weight (a customer who tokenized one card), the one seen
// longest ago among equals. The search goes on past the callers that
// cannot make room (Go's map order, starting at a random place): past
// those serving a penalty, which cost nothing to skip, for up to roomLooks
// entries in all, and past those whose buckets are not full again for up
// to roomChecks callers looked up. A table mostly flagged still makes room
// while some callers can, where weighing the first roomSample of the kind
// whatever they were sent (flagged fraction)^16 of new senders to the
// overflow state. A caller with higher counts (a guesser) is forgotten
// only when every one sampled has as much, and a source must keep its
// buckets from refilling, or be flagged, to keep its place: filling the
// table so that new senders share the overflow state takes that for
// nearly every entry, not one request per address an hour.
func (g *Guard) makeRoomLocked(kind int, now time.Time) {
	victim, weight, seen := "", 0, time.Time{}
	sampled, checked, looked := 0, 0, 0
	for name, c := range g.callers {
		if looked++; looked > roomLooks || sampled >= roomSample || checked >= roomChecks {
			break
		}
		if name == overflowCaller || name == clientOverflowCaller || kindOf(name) != kind {
			continue
		}
		if now.Before(c.flaggedUntil) { // no look-up
			continue
		}
		checked++
		if !g.source.Full(name) || !g.volatile.Full(name) {
			continue
		}
		sampled++
		w := c.weight(now)
		if victim == "" || w < weight || w == weight && c.seen.Before(seen) {
			victim, weight, seen = name, w, c.seen
		}
	}
	if victim == "" {
		return
	}
	// Its buckets go with it only if they are still full: a call of the
	// victim takes from them outside the Guard's lock, and may have done
	// so since they were looked up. A full one dropped loses nothing.
	if !g.source.ForgetFull(victim) || !g.volatile.ForgetFull(victim) {
		return
	}
	delete(g.callers, victim)
	g.tracked[kind]--
}

// sweepLocked forgets callers with nothing left to remember: no penalty, and
// no count in a window that is still open.
func (g *Guard) sweepLocked(now time.Time) {
	g.lastSweep = now
	for name, c := range g.callers {
		if now.Before(c.flaggedUntil) || now.Sub(c.seen) < g.lim.Window {
			continue
		}
		delete(g.callers, name)
		if name != overflowCaller && name != clientOverflowCaller {
			g.tracked[kindOf(name)]--
		}
	}
}

func (g *Guard) raise(ctx context.Context, name, kind string) {
	if g.alert != nil {
		g.alert(ctx, Alert{Caller: name, Kind: kind})
	}
}

func (g *Guard) refuse(limit string, wait time.Duration) error {
	if g.refused != nil {
		g.refused(limit)
	}
	return &vault.ThrottleError{Limit: limit, RetryAfter: max(wait, time.Second)}
}

// groupOf returns the group of a digit value: a value that is 9 to 19
// ASCII digits once spaces and dashes are removed. 12 digits or more: the
// length, first 6 and last 4; fewer: the length and last 4.
func groupOf(v []byte) (group, bool) {
	var d [19]byte
	n := 0
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return group{}, false
			}
			d[n] = c
			n++
		case c == ' ' || c == '-':
		default:
			return group{}, false
		}
	}
	if n < 9 {
		return group{}, false
	}
	var k group
	k[0] = byte(n)
	if n >= 12 {
		copy(k[1:7], d[:6])
	}
	copy(k[7:11], d[n-4:n])
	return k, true
}
