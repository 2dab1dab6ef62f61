package inspector

import (
	"sync"
	"time"
)

// Entry is one captured exchange, masked. Entries are immutable once added
// to a Buffer.
type Entry struct {
	ID        uint64    `json:"id"`
	Time      time.Time `json:"time"`
	Direction string    `json:"direction"`
	Method    string    `json:"method"`
	Host      string    `json:"host"`
	Path      string    `json:"path"`
	Query     string    `json:"query,omitempty"`
	// Route is the route id, a built-in mount (internal:cards) or "-".
	Route      string   `json:"route"`
	Filters    []string `json:"filters"`
	Status     int      `json:"status"`
	DurationMS float64  `json:"duration_ms"`
	VaultMS    float64  `json:"vault_ms"`
	UpstreamMS float64  `json:"upstream_ms"`
	// Request and Response are the message as received and as sent on
	// (nil: not seen, e.g. a request refused by a filter was not sent).
	Request  Passage `json:"request"`
	Response Passage `json:"response"`
}

// Passage is a message on both sides of the proxy.
type Passage struct {
	Received *View `json:"received"`
	Sent     *View `json:"sent"`
}

// Summary is what the live list shows of an entry.
type Summary struct {
	ID         uint64    `json:"id"`
	Time       time.Time `json:"time"`
	Direction  string    `json:"direction"`
	Method     string    `json:"method"`
	Host       string    `json:"host"`
	Path       string    `json:"path"`
	Route      string    `json:"route"`
	Filters    []string  `json:"filters"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	VaultMS    float64   `json:"vault_ms"`
	UpstreamMS float64   `json:"upstream_ms"`
}

// Summary returns the entry's summary.
func (e *Entry) Summary() Summary {
	return Summary{ID: e.ID, Time: e.Time, Direction: e.Direction, Method: e.Method, Host: e.Host, Path: e.Path,
		Route: e.Route, Filters: e.Filters, Status: e.Status, DurationMS: e.DurationMS, VaultMS: e.VaultMS, UpstreamMS: e.UpstreamMS}
}

// Buffer is a bounded ring of the most recent entries, in memory only. It
// is safe for concurrent use. Subscribers get each new entry; one that
// does not keep up loses entries and is told so.
type Buffer struct {
	mu     sync.RWMutex
	ring   []*Entry
	next   uint64 // id of the next entry; ids start at 1
	subs   map[*Subscription]struct{}
	closed bool
}

// NewBuffer returns a Buffer holding at most size entries (at least 1).
func NewBuffer(size int) *Buffer {
	return &Buffer{ring: make([]*Entry, max(size, 1)), next: 1, subs: map[*Subscription]struct{}{}}
}

// Size is the most entries the buffer holds.
func (b *Buffer) Size() int { return len(b.ring) }

// Add gives e the next id, stores it in place of the oldest entry when the
// buffer is full, and notifies the subscribers.
func (b *Buffer) Add(e *Entry) {
	b.mu.Lock()
	e.ID = b.next
	b.next++
	b.ring[e.ID%uint64(len(b.ring))] = e
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.offer(e)
	}
}

// Get returns the entry with id while it is still in the buffer.
func (b *Buffer) Get(id uint64) (*Entry, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if id == 0 || id >= b.next {
		return nil, false
	}
	e := b.ring[id%uint64(len(b.ring))]
	if e == nil || e.ID != id {
		return nil, false
	}
	return e, true
}

// List returns up to limit entries, newest first (limit <= 0: all).
func (b *Buffer) List(limit int) []*Entry {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := len(b.ring)
	if limit > 0 && limit < n {
		n = limit
	}
	out := make([]*Entry, 0, n)
	for id := b.next - 1; id > 0 && len(out) < n; id-- {
		e := b.ring[id%uint64(len(b.ring))]
		if e == nil || e.ID != id {
			break
		}
		out = append(out, e)
	}
	return out
}

// Len is the number of entries held.
func (b *Buffer) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return int(min(b.next-1, uint64(len(b.ring))))
}

// Subscription receives new entries.
type Subscription struct {
	b *Buffer
	// C delivers new entries. It is closed when the subscription ends
	// (Cancel, or the buffer closes).
	C      chan *Entry
	mu     sync.Mutex
	lagged bool
	done   bool
}

// Subscribe returns a subscription to new entries; cancel it when done.
func (b *Buffer) Subscribe() *Subscription {
	s := &Subscription{b: b, C: make(chan *Entry, 64)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.done = true
		close(s.C)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

func (s *Subscription) offer(e *Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	select {
	case s.C <- e:
	default:
		s.lagged = true
	}
}

// Lagged reports, and clears, whether entries were dropped because the
// subscriber did not keep up.
func (s *Subscription) Lagged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lagged
	s.lagged = false
	return l
}

// Cancel ends the subscription.
func (s *Subscription) Cancel() {
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
	s.end()
}

func (s *Subscription) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done = true
		close(s.C)
	}
}

// Close ends every subscription; later ones end at once.
func (b *Buffer) Close() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = map[*Subscription]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		s.end()
	}
}
