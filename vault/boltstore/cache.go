package boltstore

import (
	"sync"
	"sync/atomic"
)

// Bounds of the read cache (Options.CacheEntries, Options.CacheBytes).
const (
	defaultCacheEntries = 16384
	defaultCacheBytes   = 4 << 20
	// maxCachedRecord bounds the bytes of one cached record: a long value
	// is read from the file each time rather than crowd out the card
	// numbers.
	maxCachedRecord = 1024
	// maxCachedLookup bounds the look-ups of one call that the cache
	// answers or is filled by (Store.cachedView).
	maxCachedLookup = 64
	// cacheEntryOverhead is what an entry costs beyond its key and value
	// (map slot, string and slice headers), counted in its bytes.
	cacheEntryOverhead = 64
)

// readCache answers known-value look-ups without a bbolt read transaction:
// HMAC index key → alias, and alias → the record's bytes (a copy, decoded
// for each caller, who may wipe what it gets). It holds only what the
// file holds: no absence is cached, so only values and aliases that are
// in the vault can fill it.
//
// Coherence. gen counts write transactions twice: every commit of the
// Store (Store.commit, the only caller of db.Update once Open returned)
// adds one before it begins and one after it ends, under writeMu, which
// makes commits one at a time (bbolt runs them one at a time anyway): gen
// is odd exactly while a write runs. A read notes gen (g) before its
// transaction begins and again inside it: when both are the same even
// number, no write ran from before the snapshot was taken to after, so
// the snapshot is the vault as of g, and what it read may be cached under
// g. The entries are used only while gen is still g: the first write
// after their read makes them all stale (fill drops them), even one that
// changed none of them. A write's caller is answered after its second
// increment, so a read that starts once a write returned never sees an
// entry from before it; a read concurrent with a write goes to the file.
type readCache struct {
	gen     atomic.Uint64
	writeMu sync.Mutex

	maxEntries, maxBytes int

	mu    sync.Mutex
	at    uint64            // the gen the entries were read at
	index map[string]string // HMAC index key → alias
	recs  map[string][]byte // alias → record bytes; never changed once stored
	bytes int               // of the entries, with cacheEntryOverhead each

	hits, misses atomic.Uint64
}

// newReadCache returns a cache bounded by entries and bytes (0: the
// default), or nil (no cache) when entries is negative.
func newReadCache(entries, bytes int) *readCache {
	if entries < 0 {
		return nil
	}
	if entries == 0 {
		entries = defaultCacheEntries
	}
	if bytes <= 0 {
		bytes = defaultCacheBytes
	}
	return &readCache{maxEntries: entries, maxBytes: bytes}
}

// beginWrite and endWrite bracket every write transaction.
func (c *readCache) beginWrite() {
	if c != nil {
		c.writeMu.Lock()
		c.gen.Add(1)
	}
}

func (c *readCache) endWrite() {
	if c != nil {
		c.gen.Add(1)
		c.writeMu.Unlock()
	}
}

// snapshot returns the gen a read starts at, and whether the cache may
// answer it or be filled by it (no cache, or a write running: no).
func (c *readCache) snapshot() (uint64, bool) {
	if c == nil {
		return 0, false
	}
	g := c.gen.Load()
	return g, g%2 == 0
}

// unchanged reports, inside a read transaction begun after snapshot
// returned g, whether the transaction sees the vault as of g.
func (c *readCache) unchanged(g uint64) bool {
	return c != nil && c.gen.Load() == g
}

// lookup runs answer under the cache's lock when the entries are those of
// g (it reads c.index and c.recs and returns the positions of the n
// look-ups it did not answer), and counts hits and misses. answered is
// false when the entries are stale (nothing answered).
func (c *readCache) lookup(g uint64, n int, answer func(c *readCache) ([]int, error)) (answered bool, miss []int, err error) {
	c.mu.Lock()
	if c.at != g || c.index == nil && c.recs == nil {
		c.mu.Unlock()
		c.misses.Add(uint64(n))
		return false, nil, nil
	}
	miss, err = answer(c)
	c.mu.Unlock()
	c.hits.Add(uint64(n - len(miss)))
	c.misses.Add(uint64(len(miss)))
	return true, miss, err
}

// fill is what one read transaction found, to be cached: copies, since
// bbolt's bytes live only as long as the transaction.
type fill struct {
	index [][2]string // index key, alias
	recs  []cachedRec
}

type cachedRec struct {
	alias string
	v     []byte
}

// addIndex and addRec note an entry read in the transaction.
// A nil fill notes nothing.
func (f *fill) addIndex(key []byte, alias string) {
	if f == nil {
		return
	}
	f.index = append(f.index, [2]string{string(key), alias})
}

func (f *fill) addRec(alias string, v []byte) {
	if f != nil && len(v) <= maxCachedRecord {
		f.recs = append(f.recs, cachedRec{alias, append([]byte(nil), v...)})
	}
}

// store caches what a read transaction that saw the vault as of g found,
// unless a write has begun since (it would be stale at once). Entries of
// an older gen are dropped first. A full cache makes room by dropping
// entries the map's iteration order picks (random): O(1) a new entry.
func (c *readCache) store(g uint64, f *fill) {
	if len(f.index) == 0 && len(f.recs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != g {
		return
	}
	if c.at != g {
		// New maps rather than clear: clearing costs the old maps' size.
		c.at, c.index, c.recs, c.bytes = g, nil, nil, 0
	}
	for _, e := range f.index {
		if _, ok := c.index[e[0]]; ok {
			continue
		}
		if !c.makeRoom(len(e[0]) + len(e[1]) + cacheEntryOverhead) {
			continue
		}
		if c.index == nil {
			c.index = make(map[string]string)
		}
		c.index[e[0]] = e[1]
	}
	for _, e := range f.recs {
		if _, ok := c.recs[e.alias]; ok {
			continue
		}
		if !c.makeRoom(len(e.alias) + len(e.v) + cacheEntryOverhead) {
			continue
		}
		if c.recs == nil {
			c.recs = make(map[string][]byte)
		}
		c.recs[e.alias] = e.v
	}
}

// makeRoom drops entries until one of size fits, and counts it in; false
// when it can never fit.
func (c *readCache) makeRoom(size int) bool {
	if size > c.maxBytes {
		return false
	}
	for len(c.index)+len(c.recs) >= c.maxEntries || c.bytes+size > c.maxBytes {
		c.evictOne()
	}
	c.bytes += size
	return true
}

// evictOne drops one entry, from the larger map.
func (c *readCache) evictOne() {
	if len(c.recs) >= len(c.index) {
		for a, v := range c.recs {
			delete(c.recs, a)
			c.bytes -= len(a) + len(v) + cacheEntryOverhead
			return
		}
	}
	for k, a := range c.index {
		delete(c.index, k)
		c.bytes -= len(k) + len(a) + cacheEntryOverhead
		return
	}
}

// CacheStats reports the read cache's counters (Options.CacheEntries).
type CacheStats struct {
	// Hits and Misses count the index keys and aliases looked up that the
	// cache answered and did not, since Open.
	Hits, Misses uint64
	// Entries and Bytes are what the cache holds now (Bytes with a fixed
	// overhead an entry).
	Entries, Bytes int
}

// CacheStats returns the read cache's counters; zero when it is off.
func (s *Store) CacheStats() CacheStats {
	c := s.cache
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: len(c.index) + len(c.recs), Bytes: c.bytes}
}
