// Package memstore is an in-memory vault.Store with expiry, the default home
// of volatile values (CVCs) on a single gateway. Nothing it holds survives a
// restart, which is what volatile data wants: a CVC must not outlive its use.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// Options tunes a Store. Zero values take the defaults.
type Options struct {
	// Now is the clock records expire by; default time.Now.
	Now func() time.Time
	// SweepInterval is how often expired records are dropped from memory;
	// default 30 s; negative turns the sweeper off (expired records are
	// never returned either way).
	SweepInterval time.Duration
	// MaxRecords bounds the records held; zero means no bound. A Put that
	// would go over it drops the expired records first and then, still
	// over, fails whole with ErrFull (an ErrUnavailable: callers answer
	// 503 and store nothing), so that a flood of new volatile values
	// cannot take the gateway's memory.
	MaxRecords int
}

// ErrFull is Put's error when Options.MaxRecords would be exceeded.
var ErrFull = fmt.Errorf("memstore: full (vault.volatile_max_records): %w", vault.ErrUnavailable)

// fullSweepEvery spaces the sweeps a full store runs before it refuses.
const fullSweepEvery = time.Second

// Store is an in-memory vault.Store. It is safe for concurrent use.
type Store struct {
	now       func() time.Time
	max       int
	fullSwept time.Time // last sweep run because the store was full

	mu sync.RWMutex
	// records holds each record encoded (vault.MarshalRecord) with its
	// expiry beside it: one pointer per record for the garbage collector to
	// follow instead of a dozen, which matters with a million CVCs held.
	records map[string]entry
	index   map[string]string
	meta    map[string][]byte
	clients map[string][]byte
	cards   map[string][]byte   // account ‖ 0 ‖ id → record
	fingers map[string]string   // account ‖ 0 ‖ fingerprint → id
	updates map[string][][]byte // account ‖ 0 ‖ id → updates
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// New returns an empty Store and starts its sweeper; Close stops it.
func New(opts Options) *Store {
	s := &Store{now: opts.Now, max: max(opts.MaxRecords, 0), records: map[string]entry{}, index: map[string]string{},
		meta: map[string][]byte{}, clients: map[string][]byte{},
		cards: map[string][]byte{}, fingers: map[string]string{}, updates: map[string][][]byte{}}
	if s.now == nil {
		s.now = time.Now
	}
	iv := opts.SweepInterval
	if iv == 0 {
		iv = 30 * time.Second
	}
	if iv > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.sweep(iv)
	}
	return s
}

func (s *Store) sweep(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops every expired record now and returns how many it dropped.
func (s *Store) Sweep() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweepLocked(now)
}

func (s *Store) sweepLocked(now time.Time) int {
	n := 0
	for a, e := range s.records {
		if e.expired(now) {
			if r := e.decode(a); r != nil {
				s.deleteLocked(a, r)
			} else {
				delete(s.records, a)
			}
			n++
		}
	}
	return n
}

// entry is a stored record: its encoding and its expiry (UnixNano; 0:
// never).
type entry struct {
	exp int64
	rec string
}

func newEntry(r *vault.Record) entry {
	e := entry{rec: string(vault.MarshalRecord(r))}
	if !r.ExpiresAt.IsZero() {
		e.exp = r.ExpiresAt.UnixNano()
	}
	return e
}

// expired is Record.Expired on the entry.
func (e entry) expired(now time.Time) bool { return e.exp != 0 && now.UnixNano() >= e.exp }

// decode returns a fresh copy of the record (nil if it does not decode,
// which a record this package encoded always does).
func (e entry) decode(alias string) *vault.Record {
	r, err := vault.UnmarshalRecord(alias, []byte(e.rec))
	if err != nil {
		return nil
	}
	return r
}

func (s *Store) deleteLocked(alias string, r *vault.Record) {
	delete(s.records, alias)
	if r.IndexKey != nil && s.index[string(r.IndexKey)] == alias {
		delete(s.index, string(r.IndexKey))
	}
}

// live returns a fresh copy of the record of alias if it exists and has
// not expired.
func (s *Store) live(alias string, now time.Time) *vault.Record {
	e, ok := s.records[alias]
	if !ok || e.expired(now) {
		return nil
	}
	return e.decode(alias)
}

// alive reports whether alias has a record that has not expired.
func (s *Store) alive(alias string, now time.Time) bool {
	e, ok := s.records[alias]
	return ok && !e.expired(now)
}

// Get implements vault.Store.
func (s *Store) Get(_ context.Context, aliases []string) ([]*vault.Record, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	out := make([]*vault.Record, len(aliases))
	for i, a := range aliases {
		out[i] = s.live(a, now)
	}
	return out, nil
}

// LookupIndex implements vault.Store.
func (s *Store) LookupIndex(_ context.Context, keys [][]byte) ([]string, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		if a, ok := s.index[string(k)]; ok && s.alive(a, now) {
			out[i] = a
		}
	}
	return out, nil
}

// Put implements vault.Store.
func (s *Store) Put(_ context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	if s.max > 0 && len(s.records)+len(items) > s.max {
		if now.Sub(s.fullSwept) >= fullSweepEvery || now.Before(s.fullSwept) {
			s.fullSwept = now
			s.sweepLocked(now)
		}
		if len(s.records)+len(items) > s.max {
			return nil, ErrFull
		}
	}
	out := make([]vault.PutResult, len(items))
	for i, it := range items {
		r := it.Record
		if r.IndexKey != nil {
			if a, ok := s.index[string(r.IndexKey)]; ok {
				if ex := s.live(a, now); ex != nil {
					out[i] = vault.PutResult{Status: vault.PutExisting, Record: ex}
					continue
				}
			}
		}
		if ex, ok := s.records[r.Alias]; ok {
			if !ex.expired(now) {
				out[i] = vault.PutResult{Status: vault.PutCollision}
				continue
			}
			if old := ex.decode(r.Alias); old != nil {
				s.deleteLocked(r.Alias, old)
			}
		}
		s.records[r.Alias] = newEntry(r)
		if r.IndexKey != nil {
			s.index[string(r.IndexKey)] = r.Alias
		}
		out[i] = vault.PutResult{Status: vault.PutCreated, Record: r.Clone()}
	}
	return out, nil
}

// Delete implements vault.Store.
func (s *Store) Delete(_ context.Context, alias string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	r := s.live(alias, now)
	if r == nil {
		return vault.ErrNotFound
	}
	s.deleteLocked(alias, r)
	return nil
}

// SetClassifiers implements vault.Store.
func (s *Store) SetClassifiers(_ context.Context, aliases []string, classifiers []string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	n := 0
	for _, a := range aliases {
		if r := s.live(a, now); r != nil {
			r.Classifiers = append([]string(nil), classifiers...)
			s.records[a] = newEntry(r)
			n++
		}
	}
	if n == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// GetMeta implements vault.Store.
func (s *Store) GetMeta(_ context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	v, ok := s.meta[key]
	if !ok {
		return nil, vault.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// PutMetaIfAbsent implements vault.Store.
func (s *Store) PutMetaIfAbsent(_ context.Context, key string, value []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	if v, ok := s.meta[key]; ok {
		return append([]byte(nil), v...), nil
	}
	s.meta[key] = append([]byte(nil), value...)
	return append([]byte(nil), value...), nil
}

// ErrClientExists is returned by PutClient for an id already in use.
var ErrClientExists = errors.New("memstore: client id already exists")

// PutClient stores an API client record (see auth.ClientStore); it never
// overwrites one.
func (s *Store) PutClient(_ context.Context, id string, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	if _, ok := s.clients[id]; ok {
		return fmt.Errorf("memstore: put client: %w", ErrClientExists)
	}
	s.clients[id] = append([]byte(nil), record...)
	return nil
}

// GetClient returns an API client record (see auth.ClientStore).
func (s *Store) GetClient(_ context.Context, id string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, vault.ErrClosed
	}
	r, ok := s.clients[id]
	return append([]byte(nil), r...), ok, nil
}

// ErrCardNotFound: UpdateCard of a card that does not exist.
var ErrCardNotFound = errors.New("memstore: card not found")

// PutCard stores a card record (cards.Store) unless the account has a card
// with the same fingerprint; then it returns that card's id.
func (s *Store) PutCard(_ context.Context, account, id, fingerprint string, record []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", vault.ErrClosed
	}
	fk := account + "\x00" + fingerprint
	if ex, ok := s.fingers[fk]; ok {
		return ex, nil
	}
	s.cards[account+"\x00"+id] = append([]byte(nil), record...)
	s.fingers[fk] = id
	return "", nil
}

// GetCard returns a card record (cards.Store).
func (s *Store) GetCard(_ context.Context, account, id string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, vault.ErrClosed
	}
	r, ok := s.cards[account+"\x00"+id]
	return append([]byte(nil), r...), ok, nil
}

// UpdateCard replaces a card record and appends an update (cards.Store).
func (s *Store) UpdateCard(_ context.Context, account, id string, record, update []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	k := account + "\x00" + id
	if _, ok := s.cards[k]; !ok {
		return fmt.Errorf("memstore: update card: %w", ErrCardNotFound)
	}
	s.cards[k] = append([]byte(nil), record...)
	s.updates[k] = append(s.updates[k], append([]byte(nil), update...))
	return nil
}

// ReplaceCard replaces an existing card record without recording an
// update (cards.Store).
func (s *Store) ReplaceCard(_ context.Context, account, id string, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	k := account + "\x00" + id
	if _, ok := s.cards[k]; !ok {
		return fmt.Errorf("memstore: replace card: %w", ErrCardNotFound)
	}
	s.cards[k] = append([]byte(nil), record...)
	return nil
}

// CardUpdates returns a card's updates in order (cards.Store).
func (s *Store) CardUpdates(_ context.Context, account, id string) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	var out [][]byte
	for _, u := range s.updates[account+"\x00"+id] {
		out = append(out, append([]byte(nil), u...))
	}
	return out, nil
}

// StoreName implements vault.StoreNamer: "memory", for metrics.
func (*Store) StoreName() string { return "memory" }

// Len returns the number of records held, expired or not (for tests and metrics).
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.records)
}

// Close stops the sweeper and drops every record.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.records, s.index = nil, nil
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	return nil
}
