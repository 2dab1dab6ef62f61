// Package memstore is an in-memory vault.Store with expiry, the default home
// of volatile values (CVCs) on a single gateway. Nothing it holds survives a
// restart, which is what volatile data wants: a CVC must not outlive its use.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	// would go over it drops the expired records and then evicts the
	// records closest to expiry (the oldest, since the volatile TTL is the
	// same for all) until the batch fits: a flood of new volatile values
	// shortens how long values live instead of refusing everyone's, and
	// cannot take the gateway's memory. Evictions counts them. Records
	// without an expiry are never evicted. A Put fails whole with ErrFull
	// (an ErrUnavailable: callers answer 503, and nothing is stored) only
	// when its batch alone is larger than MaxRecords or the records it
	// would need to evict have no expiry.
	MaxRecords int
}

// ErrFull is Put's error when a batch cannot fit in Options.MaxRecords.
var ErrFull = fmt.Errorf("memstore: full (vault.volatile_max_records): %w", vault.ErrUnavailable)

// Store is an in-memory vault.Store. It is safe for concurrent use.
type Store struct {
	now       func() time.Time
	max       int
	evictions atomic.Uint64

	mu sync.RWMutex
	// records holds, for each record, where its encoding
	// (vault.MarshalRecord) is in slabs and its expiry, under a
	// pointer-free key (records.go, slabs.go): no pointer per record for
	// the garbage collector to follow, which matters with a million CVCs
	// held.
	records recordMap
	slabs   slabs
	// expq holds the records that expire, in expiry order (a min-heap by
	// expiry, then insertion), for the sweep and the eviction of a full
	// store. Entries of records deleted or replaced since stay until they
	// reach the top or the queue is rebuilt (see pushLocked); seq tells
	// them from the live ones.
	expq queue
	// qmax is the greatest entry ever pushed on expq (by expiry, then
	// seq): no entry of the queue is after it (pops and rebuilds only
	// remove entries), so a push that is not before it needs no sift.
	qmax    qent
	seq     uint64
	forever int // records without an expiry (never evicted)
	index   map[string]string
	handed  map[string]struct{} // aliases HandOut recorded, until their record goes
	meta    map[string][]byte
	clients map[string][]byte
	cards   map[string][]byte   // account ‖ 0 ‖ id → record
	fingers map[string]string   // account ‖ 0 ‖ fingerprint → id
	updates map[string][][]byte // account ‖ 0 ‖ id → updates
	closed  bool

	stop chan struct{}
	done chan struct{}

	idem map[string]idemEntry // account ‖ 0 ‖ key → Idempotency-Key record (idempotency.go)

	numbers        map[string]map[string]struct{} // the numbers index: key → aliases (numbers.go)
	numbersIndexed bool

	tokenAliases        map[string]map[string]struct{} // the token alias index: account ‖ 0 ‖ alias → card ids (tokenaliases.go)
	tokenAliasesIndexed bool

	scratch []byte // the encoding of the record being stored (newEntryLocked), under mu
}

// New returns an empty Store and starts its sweeper; Close stops it.
func New(opts Options) *Store {
	s := &Store{now: opts.Now, max: max(opts.MaxRecords, 0), records: newRecordMap(), index: map[string]string{}, handed: map[string]struct{}{},
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

// sweepLocked drops the expired records, in expiry order: O(k log n) for
// k expired records.
func (s *Store) sweepLocked(now time.Time) int {
	n := 0
	t := now.UnixNano()
	for s.expq.len() > 0 && s.expq.at(0).exp <= t {
		if s.dropTopLocked() {
			n++
		}
	}
	return n
}

// dropTopLocked removes the head of the expiry queue and its record, when
// the entry is still the record's; it reports whether a record was removed.
func (s *Store) dropTopLocked() bool {
	q := s.popLocked()
	e, ok := s.records.m[q.key]
	if !ok || e.seq != q.seq {
		return false // deleted or replaced since
	}
	alias := s.records.alias(q.key)
	if r := s.decode(e, alias); r != nil {
		s.deleteLocked(alias, r)
	} else {
		s.delKeyLocked(q.key)
	}
	return true
}

// makeRoomLocked drops expired records and then evicts the live ones
// closest to expiry until n more records fit under the bound; false when
// they cannot (nothing left that expires).
func (s *Store) makeRoomLocked(now time.Time, n int) bool {
	if s.records.len()+n <= s.max {
		return true
	}
	if s.forever+n > s.max {
		return false // checked first: nothing is evicted for a batch that cannot fit
	}
	s.sweepLocked(now)
	for s.records.len()+n > s.max {
		if s.expq.len() == 0 {
			return false
		}
		if s.dropTopLocked() {
			s.evictions.Add(1)
		}
	}
	return true
}

// Evictions returns how many live records were evicted to make room for
// new ones since the store was made (aliasgate_vault_volatile_evictions_total).
func (s *Store) Evictions() uint64 { return s.evictions.Load() }

// entry is a stored record: where its encoding is, its expiry (UnixNano;
// 0: never) and its place in the expiry queue. It holds no pointer.
type entry struct {
	exp int64
	seq uint64
	rec ref
}

// qent is an entry of the expiry queue (no pointer in it: the collector
// does not scan the queue).
type qent struct {
	exp int64
	seq uint64
	key aliasKey
}

func (a qent) before(b qent) bool { return a.exp < b.exp || a.exp == b.exp && a.seq < b.seq }

// insertLocked stores a new record under alias, whose key is k, and
// queues its expiry. present says whether alias may still have an entry
// (its bytes are then dropped); false when the caller has just found it
// has none, which saves a look-up of the map.
func (s *Store) insertLocked(k aliasKey, alias string, r *vault.Record, present bool) {
	e := s.newEntryLocked(r)
	s.seq++
	e.seq = s.seq
	if present {
		k = s.setLocked(alias, e)
	} else {
		s.records.setKey(k, alias, e)
		s.compactIfWastefulLocked()
	}
	if e.exp != 0 {
		s.pushLocked(qent{exp: e.exp, seq: e.seq, key: k})
	} else {
		s.forever++
	}
}

// replaceLocked re-encodes the record of alias (new classifiers or key),
// keeping its expiry and its place in the queue.
func (s *Store) replaceLocked(alias string, old entry, r *vault.Record) {
	e := s.newEntryLocked(r)
	e.exp, e.seq = old.exp, old.seq
	s.setLocked(alias, e)
}

// setLocked stores e under alias, dropping the bytes of the entry it
// replaces, and returns its key.
func (s *Store) setLocked(alias string, e entry) aliasKey {
	if old, ok := s.records.get(alias); ok {
		s.slabs.drop(old.rec)
	}
	k := s.records.set(alias, e)
	s.compactIfWastefulLocked()
	return k
}

// delKeyLocked removes the record of k and drops its bytes.
func (s *Store) delKeyLocked(k aliasKey) {
	if old, ok := s.records.m[k]; ok {
		s.slabs.drop(old.rec)
	}
	s.records.delKey(k)
	s.compactIfWastefulLocked()
}

// compactIfWastefulLocked copies the live records into new slabs when the
// slabs hold too many dead bytes (slabs.wasteful): O(live bytes), after at
// least as many bytes were dropped.
func (s *Store) compactIfWastefulLocked() {
	if s.slabs.wasteful() {
		s.compactLocked()
	}
}

// compactLocked copies the live records into new slabs.
func (s *Store) compactLocked() {
	old := s.slabs
	s.slabs = slabs{}
	for k, e := range s.records.m {
		e.rec = s.slabs.put(old.bytes(e.rec))
		s.records.m[k] = e
	}
	old.wipe()
}

func (s *Store) pushLocked(q qent) {
	if s.expq.len() > 2*s.records.len()+1024 {
		s.rebuildLocked() // mostly entries of deleted records
	}
	if !q.before(s.qmax) {
		// Not before any entry queued (qmax bounds them all): q's place
		// is at the end, and its parent, far from it in memory once the
		// queue is large, need not be read. With one TTL for every
		// volatile record, this is nearly every push.
		s.qmax = q
		s.expq.add(q)
		return
	}
	s.expq.push(q)
}

func (s *Store) popLocked() qent { return s.expq.pop() }

// rebuildLocked makes the expiry queue anew from the records held.
func (s *Store) rebuildLocked() {
	var h queue
	for k, e := range s.records.all() {
		if e.exp != 0 {
			h.add(qent{exp: e.exp, seq: e.seq, key: k})
		}
	}
	h.heapify()
	s.expq = h
}

// maxScratch is the largest scratch buffer a Store keeps between records:
// every volatile record fits (VolatileMaxValueLen).
const maxScratch = 8 << 10

// newEntryLocked encodes r into the slabs (through the store's scratch
// buffer) and returns its entry.
func (s *Store) newEntryLocked(r *vault.Record) entry {
	s.scratch = vault.AppendRecord(s.scratch[:0], r)
	e := entry{rec: s.slabs.put(s.scratch)}
	if cap(s.scratch) > maxScratch {
		s.scratch = nil // a large persistent record's: not kept
	}
	if !r.ExpiresAt.IsZero() {
		e.exp = r.ExpiresAt.UnixNano()
	}
	return e
}

// expired is Record.Expired on the entry.
func (e entry) expired(now time.Time) bool { return e.exp != 0 && now.UnixNano() >= e.exp }

// decode returns a fresh copy of the record of e (nil if it does not
// decode, which a record this package encoded always does); UnmarshalRecord
// keeps nothing of the slab's bytes.
func (s *Store) decode(e entry, alias string) *vault.Record {
	r, err := vault.UnmarshalRecord(alias, s.slabs.bytes(e.rec))
	if err != nil {
		return nil
	}
	return r
}

func (s *Store) deleteLocked(alias string, r *vault.Record) {
	if e, ok := s.records.get(alias); ok && e.exp == 0 {
		s.forever--
	}
	s.delKeyLocked(keyOf(alias))
	if r.IndexKey != nil && s.index[string(r.IndexKey)] == alias {
		delete(s.index, string(r.IndexKey))
	}
	delete(s.handed, alias)
}

// live returns a fresh copy of the record of alias if it exists and has
// not expired.
func (s *Store) live(alias string, now time.Time) *vault.Record {
	e, ok := s.records.get(alias)
	if !ok || e.expired(now) {
		return nil
	}
	return s.decode(e, alias)
}

// alive reports whether alias has a record that has not expired.
func (s *Store) alive(alias string, now time.Time) bool {
	e, ok := s.records.get(alias)
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

// LookupRecords implements vault.Store under one lock.
func (s *Store) LookupRecords(_ context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, vault.ErrClosed
	}
	aliases, recs := make([]string, len(keys)), make([]*vault.Record, len(keys))
	for i, k := range keys {
		if a, ok := s.index[string(k)]; ok {
			if r := s.live(a, now); r != nil {
				aliases[i], recs[i] = a, r
			}
		}
	}
	return aliases, recs, nil
}

// Put implements vault.Store.
func (s *Store) Put(_ context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	// Room is made before anything is written, and nothing below fails:
	// the batch is stored whole or not at all.
	if s.max > 0 && (len(items) > s.max || !s.makeRoomLocked(now, len(items))) {
		return nil, ErrFull
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
		k := keyOf(r.Alias) // made once for the look-up and the insert
		ex, present := s.records.m[k]
		if present {
			if !ex.expired(now) {
				out[i] = vault.PutResult{Status: vault.PutCollision}
				continue
			}
			if old := s.decode(ex, r.Alias); old != nil {
				s.deleteLocked(r.Alias, old)
				present = false
			}
		}
		s.insertLocked(k, r.Alias, r, present)
		if r.IndexKey != nil {
			s.index[string(r.IndexKey)] = r.Alias
		}
		out[i] = vault.PutResult{Status: vault.PutCreated, Record: r} // the store keeps its own encoding
	}
	return out, nil
}

// Delete implements vault.Store.
func (s *Store) Delete(_ context.Context, alias, owner string) error {
	return s.remove(alias, owner, false)
}

// Release implements vault.Store under the store's lock.
func (s *Store) Release(_ context.Context, alias, owner string) error {
	return s.remove(alias, owner, true)
}

// remove deletes the live record of alias when its owner is owner, under
// the store's lock; with keepHanded, a record HandOut marked stays
// (vault.ErrHandedOut).
func (s *Store) remove(alias, owner string, keepHanded bool) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	r := s.live(alias, now)
	if r == nil || r.Owner != owner {
		return vault.ErrNotFound
	}
	if _, ok := s.handed[alias]; ok && keepHanded {
		return vault.ErrHandedOut
	}
	s.deleteLocked(alias, r)
	return nil
}

// HandOut implements vault.Store under the store's lock.
func (s *Store) HandOut(_ context.Context, aliases []string) ([]bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	live := make([]bool, len(aliases))
	for i, a := range aliases {
		if live[i] = s.alive(a, now); live[i] {
			s.handed[a] = struct{}{}
		}
	}
	return live, nil
}

// SetOwner implements vault.Store.
func (s *Store) SetOwner(_ context.Context, alias, from, to string, indexKey []byte) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	r := s.live(alias, now)
	if r == nil || r.Owner != from {
		return vault.ErrNotFound
	}
	if r.IndexKey != nil && s.index[string(r.IndexKey)] == alias {
		delete(s.index, string(r.IndexKey))
	}
	r.Owner, r.IndexKey = to, nil
	if indexKey != nil {
		if a, ok := s.index[string(indexKey)]; !ok || !s.alive(a, now) {
			r.IndexKey = append([]byte(nil), indexKey...)
			s.index[string(indexKey)] = alias
		}
	}
	old, _ := s.records.get(alias)
	s.replaceLocked(alias, old, r)
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
			old, _ := s.records.get(a)
			s.replaceLocked(a, old, r)
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

// CardByFingerprint returns the id of the account's card under exactly
// the index key fingerprint; ok false when there is none. The cards API
// asks CardsByFingerprint, which also finds the cards made with duplicate
// detection off.
func (s *Store) CardByFingerprint(_ context.Context, account, fingerprint string) (string, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return "", false, vault.ErrClosed
	}
	id, ok := s.fingers[account+"\x00"+fingerprint]
	return id, ok, nil
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

// UpdateCard replaces a card record that is still old and appends an
// update (cards.Store); vault.ErrCardChanged when it is not.
func (s *Store) UpdateCard(_ context.Context, account, id string, old, record, update []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	k := account + "\x00" + id
	cur, ok := s.cards[k]
	if !ok {
		return fmt.Errorf("memstore: update card: %w", ErrCardNotFound)
	}
	if !bytes.Equal(cur, old) {
		return fmt.Errorf("memstore: update card: %w", vault.ErrCardChanged)
	}
	s.cards[k] = append([]byte(nil), record...)
	s.updates[k] = append(s.updates[k], append([]byte(nil), update...))
	return nil
}

// ReplaceCard replaces an existing card record that is still old without
// recording an update (cards.Store); vault.ErrCardChanged when it is not.
func (s *Store) ReplaceCard(_ context.Context, account, id string, old, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	k := account + "\x00" + id
	cur, ok := s.cards[k]
	if !ok {
		return fmt.Errorf("memstore: replace card: %w", ErrCardNotFound)
	}
	if !bytes.Equal(cur, old) {
		return fmt.Errorf("memstore: replace card: %w", vault.ErrCardChanged)
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
	return s.records.len()
}

// Close stops the sweeper and drops every record.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.slabs.wipe()
	s.records, s.index, s.expq = recordMap{}, nil, queue{}
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	return nil
}
