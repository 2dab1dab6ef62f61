// Package boltstore is the default vault.Store: an embedded bbolt file
// (<data dir>/vault.db) that needs no set-up. Every commit is fsynced before
// Put returns. Concurrent writers are grouped into shared transactions by a
// group-commit writer (see Options.NoGroupCommit), so a burst of new values
// costs one fsync per group rather than one per value.
//
// Buckets: aliases (alias → record), index (HMAC → alias), handed (the
// aliases Store.HandOut recorded), meta (schema
// version, wrapped data keys), clients (API clients), numbers (the numbers
// index, numbers.go; not copied by `aliasgate vault copy`, which builds
// the destination's).
//
// bbolt reuses the pages that deletes and copy-on-write free but never
// shrinks the file, and inserts in random order (aliases and HMACs are
// random) leave pages 50–70 % full: Compact (`aliasgate vault compact`)
// rewrites a stopped vault with full pages, and renames the copy over the
// file before it lets the lock go: Open checks, once it holds the lock,
// that the file it opened (its descriptor) is still the one at the path,
// and opens again if not (a gateway started during a compaction served
// the replaced file).
//
// Known values and live aliases are read from a bounded in-process cache
// (cache.go; Options.CacheEntries, CacheBytes) rather than a read
// transaction each: LookupRecords, LookupIndex and Get keep the index
// entries (HMAC key → alias) and the record bytes they read, and answer
// from them while no write has begun since they were read. One process
// holds the file's lock, so every write is this Store's (Store.commit),
// and each moves the cache's generation before it begins and after it
// commits, before its caller is answered: any write, of any bucket, makes
// every entry stale. Absences are not cached, so only what the vault holds
// can fill the cache, and a full cache drops an entry at random. A record
// is decoded for each caller (who may wipe it) and checked against the
// clock on every hit.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/aliasgate/aliasgate/vault"
)

// Errors of Open that callers and users act on.
var (
	// ErrLocked: another process has the vault file open.
	ErrLocked = errors.New("vault is locked by another process (is another aliasgate running with this data dir?)")
	// ErrCorrupt: the file is not a readable bbolt vault.
	ErrCorrupt = errors.New("vault file is corrupt or not an aliasgate vault")
	// ErrSchema: the file was written by a newer aliasgate.
	ErrSchema = errors.New("vault file has a newer schema than this aliasgate understands")
	// ErrClientExists: PutClient of an id already in use.
	ErrClientExists = errors.New("boltstore: client id already exists")
)

// SchemaVersion is the layout version this package writes.
const SchemaVersion = "1"

var (
	bucketAliases = []byte("aliases")
	bucketIndex   = []byte("index")
	// bucketHanded holds the aliases HandOut recorded (alias → 1),
	// until their record goes.
	bucketHanded  = []byte("handed")
	bucketMeta    = []byte("meta")
	bucketClients = []byte("clients")
	// Buckets the Card Management API will use; created now so the schema
	// version covers them.
	bucketCards         = []byte("cards")
	bucketCardsByFinger = []byte("cards_by_fingerprint")
	bucketNetworkTokens = []byte("network_tokens")
	bucketCardUpdates   = []byte("card_updates")
	keySchema           = []byte("schema_version")
)

// Options tunes Open. Zero values take the defaults.
type Options struct {
	// Timeout bounds the wait for the file lock; default 1 s.
	Timeout time.Duration
	// Now is the clock records expire by; default time.Now.
	Now func() time.Time
	// NoGroupCommit makes every Put its own transaction and fsync, for
	// measuring what grouping buys. Leave it off.
	NoGroupCommit bool
	// MaxGroup bounds the Put calls committed together; default 256.
	MaxGroup int
	// CacheEntries bounds the entries of the read cache (cache.go: index
	// key → alias, alias → record), default 16384; negative turns the
	// cache off. CacheBytes bounds its bytes, default 4 MiB.
	CacheEntries, CacheBytes int

	// openFile opens the vault file for bbolt; os.OpenFile unless a test
	// sets it (export_test.go).
	openFile openFileFunc
	// hook, when a test sets it, is called at each stage of a cached
	// look-up that reads the file and of a commit (export_test.go).
	hook func(hookStage)
}

// openFileFunc is os.OpenFile's signature, bolt.Options.OpenFile's type.
type openFileFunc = func(string, int, os.FileMode) (*os.File, error)

// Store is a vault.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time

	group    bool
	maxGroup int
	writes   chan *writeReq
	mu       sync.RWMutex // guards closed against the writes channel
	closed   bool
	wg       sync.WaitGroup

	cache    *readCache // nil when off
	testHook func(hookStage)
}

type writeReq struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// Open opens or creates the vault file at path (mode 0600, its directory
// 0700). A file locked by another process fails with ErrLocked after
// Options.Timeout; an unreadable one with ErrCorrupt.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db, err := openDB(path, opts.Timeout, opts.openFile)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, now: opts.Now, group: !opts.NoGroupCommit, maxGroup: opts.MaxGroup,
		cache: newReadCache(opts.CacheEntries, opts.CacheBytes), testHook: opts.hook}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if s.group {
		s.writes = make(chan *writeReq, opts.MaxGroup)
		s.wg.Add(1)
		go s.writer()
	}
	return s, nil
}

// openDB opens the bbolt file at path, waiting up to timeout for its lock,
// with openFile (os.OpenFile when nil).
//
// A file renamed over path while the lock is awaited (`vault compact`)
// leaves the lock, once got, on a file no longer in the directory: once
// it holds the lock, openDB compares the file it opened (the descriptor
// bbolt reads and writes, kept from openFile) with the file at path, and
// opens again when they differ. Comparing the file at path before the open
// with the one after the lock was defeated by an inode reused between the
// two looks (A at path, replaced by B, which is opened, then replaced by a
// file given A's inode number): the descriptor is the only witness of what
// was opened.
func openDB(path string, timeout time.Duration, openFile openFileFunc) (*bolt.DB, error) {
	if openFile == nil {
		openFile = os.OpenFile
	}
	for range maxReplaced {
		var opened *os.File
		db, err := openDBOnce(path, timeout, func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := openFile(name, flag, perm)
			opened = f
			return f, err
		})
		if err != nil {
			return nil, err
		}
		same, err := isFileAt(opened, path)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
		}
		if same {
			return db, nil
		}
		db.Close()
	}
	return nil, fmt.Errorf("boltstore: open %s: %w (the file was replaced while its lock was awaited, %d times)", path, ErrLocked, maxReplaced)
}

// isFileAt reports whether f, open, is the file at path now. The open
// descriptor keeps its inode from being reused, so the same device and
// inode at path is the same file.
func isFileAt(f *os.File, path string) (bool, error) {
	if f == nil {
		return false, errors.New("bbolt opened no file")
	}
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	atPath, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // removed or being renamed over: open again
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, atPath), nil
}

// maxReplaced bounds the opens of openDB.
const maxReplaced = 5

func openDBOnce(path string, timeout time.Duration, openFile openFileFunc) (db *bolt.DB, err error) {
	// bbolt can panic on some damaged files instead of returning an error.
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("boltstore: open %s: %w", path, ErrCorrupt)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, OpenFile: openFile})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("boltstore: open %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("boltstore: open %s: %w", path, ErrCorrupt)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	default:
		// Anything else on an existing file (too small, bad mapping…) means
		// the file is damaged.
		if fi, serr := os.Stat(path); serr == nil && fi.Size() > 0 {
			return nil, fmt.Errorf("boltstore: open %s: %w (%v)", path, ErrCorrupt, err)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
}

func (s *Store) init() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("boltstore: open %s: %w", s.path, ErrCorrupt)
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAliases, bucketIndex, bucketMeta, bucketClients, bucketCards, bucketCardsByFinger, bucketNetworkTokens, bucketCardUpdates, bucketHanded} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := buildWebhookList(tx); err != nil { // a file written before webhook_list (webhooks.go)
			return err
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(SchemaVersion))
		case string(v) != SchemaVersion:
			return ErrSchema
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: open %s: %w", s.path, err)
	}
	return nil
}

// Path returns the file the store uses.
func (s *Store) Path() string { return s.path }

// StoreName implements vault.StoreNamer: "bolt", for metrics.
func (*Store) StoreName() string { return "bolt" }

// update runs fn in a durable write transaction, grouped with concurrent
// callers unless grouping is off. fn may run more than once (when a group
// fails, each member is retried alone), so it must reset what it reports.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if !s.group {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			return vault.ErrClosed
		}
		return s.commit(fn)
	}
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return vault.ErrClosed
	}
	select {
	case s.writes <- req:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the write is committed or failed by the writer; waiting
	// for it keeps "Put returned nil" meaning "durable".
	return <-req.done
}

// writer commits queued writes: it takes the first waiting request, adds
// every request queued behind it (up to maxGroup) and commits them in one
// transaction, so a lone writer pays one fsync and no added delay, and
// concurrent writers share fsyncs.
func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*writeReq, 0, s.maxGroup)
	for first := range s.writes {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxGroup {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := s.commit(func(tx *bolt.Tx) error {
			for _, r := range batch {
				if err := r.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || len(batch) == 1 {
			for _, r := range batch {
				r.done <- err
			}
			continue
		}
		// One member failed the group: run each alone so the others commit.
		for _, r := range batch {
			r.done <- s.commit(r.fn)
		}
	}
}

// commit runs fn in one write transaction: every write of the Store once
// Open returned goes through it, bracketed for the read cache (its
// generation moves before the transaction begins and after it ends, before
// the writer's caller is answered).
func (s *Store) commit(fn func(*bolt.Tx) error) error {
	s.cache.beginWrite()
	defer s.cache.endWrite()
	s.hook(writeBegun)
	return s.db.Update(fn)
}

// Get implements vault.Store, from the read cache for the aliases it holds.
func (s *Store) Get(_ context.Context, aliases []string) ([]*vault.Record, error) {
	out := make([]*vault.Record, len(aliases))
	now := clock{now: s.now}
	err := s.cachedView(len(aliases), func(c *readCache) (miss []int, err error) {
		for i, a := range aliases {
			v, ok := c.recs[a]
			if !ok {
				miss = append(miss, i)
				continue
			}
			if out[i], err = liveBytes(a, v, &now); err != nil {
				return nil, err
			}
		}
		return miss, nil
	}, func(tx *txBuckets, i int, f *fill) (err error) {
		out[i], err = liveRecordFill(tx.aliases(), aliases[i], &now, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get: %w", err)
	}
	return out, nil
}

// liveRecord returns the record of alias in the aliases bucket b, nil when
// it is missing or expired at now.
func liveRecord(b *bolt.Bucket, alias string, now *clock) (*vault.Record, error) {
	return liveBytes(alias, b.Get([]byte(alias)), now)
}

// liveRecordFill is liveRecord, noting the record's bytes in f (nil: not
// to be cached).
func liveRecordFill(b *bolt.Bucket, alias string, now *clock, f *fill) (*vault.Record, error) {
	v := b.Get([]byte(alias))
	r, err := liveBytes(alias, v, now)
	if err == nil && v != nil {
		f.addRec(alias, v)
	}
	return r, err
}

// liveBytes decodes v, the stored record of alias (nil: none), and returns
// it, nil when it is missing or expired at now.
func liveBytes(alias string, v []byte, now *clock) (*vault.Record, error) {
	if v == nil {
		return nil, nil
	}
	r, err := vault.UnmarshalRecord(alias, v)
	if err != nil || !r.ExpiresAt.IsZero() && r.Expired(now.get()) {
		return nil, err
	}
	return r, nil
}

// clock is the time of one read, taken from the store's clock when it is
// first needed: a read that meets no record with an expiry (a persistent
// record has none) does not read the clock at all.
type clock struct {
	now  func() time.Time
	t    time.Time
	read bool
}

func (c *clock) get() time.Time {
	if !c.read {
		c.t, c.read = c.now(), true
	}
	return c.t
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return vault.ErrClosed
	}
	return s.db.View(fn)
}

// cachedView answers n look-ups (index keys or aliases), from the read
// cache where it can (answer, called under the cache's lock when its
// entries are current, returns the positions it did not answer), the rest
// in one read transaction (read, called for each position, notes in f what
// may be cached; f is nil when nothing may). When a write began between
// the cache's answers and the transaction's snapshot, the transaction
// reads every position again, so that a call's answers are those of one
// state of the vault. read must set every result of its position. A call
// of more than maxCachedLookup look-ups (Known's batches of a long
// message) neither asks nor fills the cache: it would hold the cache's
// lock as long, and crowd out the values of requests.
func (s *Store) cachedView(n int, answer func(c *readCache) ([]int, error), read func(tx *txBuckets, i int, f *fill) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return vault.ErrClosed
	}
	c := s.cache
	g, cacheable := c.snapshot()
	cacheable = cacheable && n <= maxCachedLookup
	var miss []int // positions the cache did not answer; nil: every one
	if cacheable {
		answered, m, err := c.lookup(g, n, answer)
		if err != nil {
			return err
		}
		if answered {
			if len(m) == 0 {
				return nil
			}
			miss = m
		}
	} else if c != nil {
		c.misses.Add(uint64(n))
	}
	var f *fill
	s.hook(beforeTx)
	err := s.db.View(func(tx *bolt.Tx) error {
		s.hook(inTxBeforeCheck)
		if cacheable && c.unchanged(g) {
			f = &fill{}
		} else {
			miss = nil // a write began: the cache's answers may be older than tx
		}
		s.hook(inTxAfterCheck)
		tb := &txBuckets{tx: tx}
		if miss == nil {
			for i := range n {
				if err := read(tb, i, f); err != nil {
					return err
				}
			}
			return nil
		}
		for _, i := range miss {
			if err := read(tb, i, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && f != nil {
		c.store(g, f)
	}
	return err
}

// txBuckets opens the index and aliases buckets of a read transaction
// once each, when first asked (a read transaction's Tx.Bucket opens the
// bucket again at each call).
type txBuckets struct {
	tx     *bolt.Tx
	ib, ab *bolt.Bucket
}

func (t *txBuckets) index() *bolt.Bucket {
	if t.ib == nil {
		t.ib = t.tx.Bucket(bucketIndex)
	}
	return t.ib
}

func (t *txBuckets) aliases() *bolt.Bucket {
	if t.ab == nil {
		t.ab = t.tx.Bucket(bucketAliases)
	}
	return t.ab
}

// hookStage is a stage of cachedView or commit, for a test's hook
// (Options.hook).
type hookStage int

const (
	beforeTx        hookStage = iota // the cache consulted, the read transaction not begun
	inTxBeforeCheck                  // the read transaction begun, gen not checked
	inTxAfterCheck                   // gen checked, nothing read
	writeBegun                       // gen moved for a write, its transaction not begun
)

// hook calls the test's hook at stage, if any.
func (s *Store) hook(stage hookStage) {
	if s.testHook != nil {
		s.testHook(stage)
	}
}

// LookupIndex implements vault.Store, from the read cache for the keys it
// holds.
func (s *Store) LookupIndex(_ context.Context, keys [][]byte) ([]string, error) {
	out := make([]string, len(keys))
	err := s.cachedView(len(keys), func(c *readCache) (miss []int, _ error) {
		for i, k := range keys {
			a, ok := c.index[string(k)]
			if !ok {
				miss = append(miss, i)
				continue
			}
			out[i] = a
		}
		return miss, nil
	}, func(tx *txBuckets, i int, f *fill) error {
		out[i] = indexEntry(tx.index(), keys[i], f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: lookup index: %w", err)
	}
	return out, nil
}

// indexEntry returns the alias under key k in the index bucket b ("" for
// none), noting it in f.
func indexEntry(b *bolt.Bucket, k []byte, f *fill) string {
	v := b.Get(k)
	if v == nil {
		return ""
	}
	a := string(v)
	f.addIndex(k, a)
	return a
}

// LookupRecords implements vault.Store, from the read cache for the keys
// whose index entry and record it holds, the rest in one read transaction.
func (s *Store) LookupRecords(_ context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	aliases, recs := lookupLists(len(keys))
	now := clock{now: s.now}
	err := s.cachedView(len(keys), func(c *readCache) (miss []int, err error) {
		for i, k := range keys {
			a, ok := c.index[string(k)]
			var v []byte
			if ok {
				v, ok = c.recs[a]
			}
			if !ok {
				miss = append(miss, i)
				continue
			}
			aliases[i] = a
			if recs[i], err = liveBytes(a, v, &now); err != nil {
				return nil, err
			}
		}
		return miss, nil
	}, func(tx *txBuckets, i int, f *fill) (err error) {
		aliases[i], recs[i] = indexEntry(tx.index(), keys[i], f), nil
		if aliases[i] != "" {
			recs[i], err = liveRecordFill(tx.aliases(), aliases[i], &now, f)
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boltstore: lookup records: %w", err)
	}
	return aliases, recs, nil
}

// lookupLists returns the two lists LookupRecords answers for n keys,
// zeroed, in one allocation for one key (a message's card number).
func lookupLists(n int) ([]string, []*vault.Record) {
	if n == 1 {
		b := new(struct {
			aliases [1]string
			recs    [1]*vault.Record
		})
		return b.aliases[:], b.recs[:]
	}
	return make([]string, n), make([]*vault.Record, n)
}

// Put implements vault.Store. The records (and their aliases) are made
// before the transaction, so a retried transaction writes the same bytes.
func (s *Store) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	out := make([]vault.PutResult, len(items))
	encoded := make([][]byte, len(items))
	for i, it := range items {
		encoded[i] = vault.MarshalRecord(it.Record)
	}
	now := s.now()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		clear(out)
		ab, ib := tx.Bucket(bucketAliases), tx.Bucket(bucketIndex)
		for i, it := range items {
			r := it.Record
			if r.IndexKey != nil {
				if a := ib.Get(r.IndexKey); a != nil {
					if v := ab.Get(a); v != nil {
						ex, err := vault.UnmarshalRecord(string(a), v)
						if err != nil {
							return err
						}
						if !ex.Expired(now) {
							out[i] = vault.PutResult{Status: vault.PutExisting, Record: ex}
							continue
						}
					}
				}
			}
			if v := ab.Get([]byte(r.Alias)); v != nil {
				ex, err := vault.UnmarshalRecord(r.Alias, v)
				if err != nil {
					return err
				}
				if !ex.Expired(now) {
					out[i] = vault.PutResult{Status: vault.PutCollision}
					continue
				}
				if ex.IndexKey != nil {
					if err := ib.Delete(ex.IndexKey); err != nil {
						return err
					}
				}
				if err := tx.Bucket(bucketHanded).Delete([]byte(r.Alias)); err != nil {
					return err
				}
			}
			if err := ab.Put([]byte(r.Alias), encoded[i]); err != nil {
				return err
			}
			if r.IndexKey != nil {
				if err := ib.Put(r.IndexKey, []byte(r.Alias)); err != nil {
					return err
				}
			}
			out[i] = vault.PutResult{Status: vault.PutCreated, Record: r}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: put: %w", err)
	}
	return out, nil
}

// Delete implements vault.Store.
func (s *Store) Delete(ctx context.Context, alias, owner string) error {
	return s.remove(ctx, "delete", alias, owner, false)
}

// Release implements vault.Store: Delete's transaction, which also reads
// the handed bucket.
func (s *Store) Release(ctx context.Context, alias, owner string) error {
	return s.remove(ctx, "release", alias, owner, true)
}

// remove deletes the live record of alias when its owner is owner, with
// its index entry and hand-out mark, in one transaction; with keepHanded,
// a record HandOut marked stays (vault.ErrHandedOut). The outcome is
// returned from the transaction's function as nil (a refusal is no
// failure of a group commit, whose other writes would be run again).
func (s *Store) remove(ctx context.Context, op, alias, owner string, keepHanded bool) error {
	var outcome error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		outcome = nil
		ab, hb := tx.Bucket(bucketAliases), tx.Bucket(bucketHanded)
		v := ab.Get([]byte(alias))
		if v == nil {
			outcome = vault.ErrNotFound
			return nil
		}
		r, err := vault.UnmarshalRecord(alias, v)
		if err != nil {
			return err
		}
		if r.Expired(s.now()) || r.Owner != owner {
			outcome = vault.ErrNotFound
			return nil
		}
		if keepHanded && hb.Get([]byte(alias)) != nil {
			outcome = vault.ErrHandedOut
			return nil
		}
		if r.IndexKey != nil {
			ib := tx.Bucket(bucketIndex)
			if string(ib.Get(r.IndexKey)) == alias {
				if err := ib.Delete(r.IndexKey); err != nil {
					return err
				}
			}
		}
		if err := hb.Delete([]byte(alias)); err != nil {
			return err
		}
		return ab.Delete([]byte(alias))
	})
	if err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return outcome
}

// HandOut implements vault.Store in one write transaction; an alias
// already recorded is not written again, and a call that records nothing
// commits nothing.
func (s *Store) HandOut(ctx context.Context, aliases []string) ([]bool, error) {
	live := make([]bool, len(aliases))
	now := clock{now: s.now}
	var todo []int // live aliases not yet recorded
	err := s.view(func(tx *bolt.Tx) error {
		ab, hb := tx.Bucket(bucketAliases), tx.Bucket(bucketHanded)
		for i, a := range aliases {
			r, err := liveRecord(ab, a, &now)
			if err != nil {
				return err
			}
			if live[i] = r != nil; live[i] && hb.Get([]byte(a)) == nil {
				todo = append(todo, i)
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		if err != nil {
			return nil, fmt.Errorf("boltstore: hand out: %w", err)
		}
		return live, nil
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ab, hb := tx.Bucket(bucketAliases), tx.Bucket(bucketHanded)
		t := clock{now: s.now}
		for _, i := range todo {
			r, err := liveRecord(ab, aliases[i], &t)
			if err != nil {
				return err
			}
			live[i] = r != nil // released since the read: nothing to record
			if live[i] {
				if err := hb.Put([]byte(aliases[i]), []byte{1}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: hand out: %w", err)
	}
	return live, nil
}

// SetOwner implements vault.Store, in one transaction.
func (s *Store) SetOwner(ctx context.Context, alias, from, to string, indexKey []byte) error {
	now := s.now()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ab, ib := tx.Bucket(bucketAliases), tx.Bucket(bucketIndex)
		v := ab.Get([]byte(alias))
		if v == nil {
			return vault.ErrNotFound
		}
		r, err := vault.UnmarshalRecord(alias, v)
		if err != nil {
			return err
		}
		if r.Expired(now) || r.Owner != from {
			return vault.ErrNotFound
		}
		if r.IndexKey != nil && string(ib.Get(r.IndexKey)) == alias {
			if err := ib.Delete(r.IndexKey); err != nil {
				return err
			}
		}
		r.Owner, r.IndexKey = to, nil
		if indexKey != nil && !s.pointsAtLive(tx, ib.Get(indexKey), now) {
			if err := ib.Put(indexKey, []byte(alias)); err != nil {
				return err
			}
			r.IndexKey = append([]byte(nil), indexKey...)
		}
		return ab.Put([]byte(alias), vault.MarshalRecord(r))
	})
	if errors.Is(err, vault.ErrNotFound) {
		return vault.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("boltstore: set owner: %w", err)
	}
	return nil
}

// pointsAtLive reports whether alias (an index entry's value) names a live
// record.
func (s *Store) pointsAtLive(tx *bolt.Tx, alias []byte, now time.Time) bool {
	if alias == nil {
		return false
	}
	v := tx.Bucket(bucketAliases).Get(alias)
	if v == nil {
		return false
	}
	r, err := vault.UnmarshalRecord(string(alias), v)
	return err == nil && !r.Expired(now)
}

// SetClassifiers implements vault.Store.
func (s *Store) SetClassifiers(ctx context.Context, aliases []string, classifiers []string) error {
	now := s.now()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAliases)
		n := 0
		for _, a := range aliases {
			v := ab.Get([]byte(a))
			if v == nil {
				continue
			}
			r, err := vault.UnmarshalRecord(a, v)
			if err != nil {
				return err
			}
			if r.Expired(now) {
				continue
			}
			r.Classifiers = classifiers
			if err := ab.Put([]byte(a), vault.MarshalRecord(r)); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return vault.ErrNotFound
		}
		return nil
	})
	if errors.Is(err, vault.ErrNotFound) {
		return vault.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("boltstore: set classifiers: %w", err)
	}
	return nil
}

// GetMeta implements vault.Store.
func (s *Store) GetMeta(_ context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get meta: %w", err)
	}
	if out == nil {
		return nil, vault.ErrNotFound
	}
	return out, nil
}

// PutMetaIfAbsent implements vault.Store.
func (s *Store) PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	var out []byte
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
			return nil
		}
		out = append([]byte(nil), value...)
		return b.Put([]byte(key), value)
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: put meta: %w", err)
	}
	return out, nil
}

// PutClient stores an API client record (auth.ClientStore); an existing id
// is never overwritten (ErrClientExists).
func (s *Store) PutClient(ctx context.Context, id string, record []byte) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(id)) != nil {
			return ErrClientExists
		}
		return b.Put([]byte(id), record)
	})
	if err != nil {
		return fmt.Errorf("boltstore: put client: %w", err)
	}
	return nil
}

// GetClient returns an API client record (auth.ClientStore).
func (s *Store) GetClient(_ context.Context, id string) ([]byte, bool, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketClients).Get([]byte(id)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: get client: %w", err)
	}
	return out, out != nil, nil
}

// UpdateClient replaces the API client record under id with record when
// the stored one is still old, byte for byte (auth.ClientUpdater: revoking
// a client or rotating its secret). swapped is false when there is no
// record under id or it is another.
func (s *Store) UpdateClient(ctx context.Context, id string, old, record []byte) (swapped bool, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClients)
		swapped = false
		cur := b.Get([]byte(id))
		if cur == nil || !bytes.Equal(cur, old) {
			return nil
		}
		swapped = true
		return b.Put([]byte(id), record)
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: update client: %w", err)
	}
	return swapped, nil
}

// cardKey scopes a card key to its account: account ‖ 0 ‖ id.
func cardKey(account, id string) []byte {
	return append(append([]byte(account), 0), id...)
}

// ErrCardNotFound: UpdateCard of a card that does not exist.
var ErrCardNotFound = errors.New("boltstore: card not found")

// PutCard stores a card record (cards.Store) unless the account has a card
// with the same fingerprint; then it returns that card's id and writes
// nothing.
func (s *Store) PutCard(ctx context.Context, account, id, fingerprint string, record []byte) (string, error) {
	var existing string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		existing = ""
		fb := tx.Bucket(bucketCardsByFinger)
		if v := fb.Get(cardKey(account, fingerprint)); v != nil {
			existing = string(v)
			return nil
		}
		if err := tx.Bucket(bucketCards).Put(cardKey(account, id), record); err != nil {
			return err
		}
		return fb.Put(cardKey(account, fingerprint), []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("boltstore: put card: %w", err)
	}
	return existing, nil
}

// CardByFingerprint returns the id of the account's card under exactly
// the index key fingerprint; ok false when there is none. The cards API
// asks CardsByFingerprint, which also finds the cards made with duplicate
// detection off.
func (s *Store) CardByFingerprint(_ context.Context, account, fingerprint string) (string, bool, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCardsByFinger).Get(cardKey(account, fingerprint)); v != nil {
			id = string(v)
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("boltstore: card by fingerprint: %w", err)
	}
	return id, id != "", nil
}

// GetCard returns a card record (cards.Store).
func (s *Store) GetCard(_ context.Context, account, id string) ([]byte, bool, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCards).Get(cardKey(account, id)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: get card: %w", err)
	}
	return out, out != nil, nil
}

// UpdateCard replaces a card record that is still old and appends one
// card update, in one transaction (cards.Store); vault.ErrCardChanged
// when the record is not old.
func (s *Store) UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCards)
		k := cardKey(account, id)
		if err := casCard(cb, k, old); err != nil {
			return err
		}
		if err := cb.Put(k, record); err != nil {
			return err
		}
		return appendCardUpdate(tx.Bucket(bucketCardUpdates), k, update)
	})
	if err != nil {
		return fmt.Errorf("boltstore: update card: %w", err)
	}
	return nil
}

// appendCardUpdate stores update after the card's others: under the card
// key, a 0 byte and the bucket's next sequence number (big endian, so a
// card's updates sort in the order they were made).
func appendCardUpdate(ub *bolt.Bucket, cardKey, update []byte) error {
	seq, err := ub.NextSequence()
	if err != nil {
		return err
	}
	k := make([]byte, 0, len(cardKey)+9)
	k = binary.BigEndian.AppendUint64(append(append(k, cardKey...), 0), seq)
	return ub.Put(k, update)
}

// ReplaceCard replaces an existing card record without recording a card
// update (cards.Store), for state the card API keeps in the record (network
// tokens), when it is still old; vault.ErrCardChanged when it is not.
func (s *Store) ReplaceCard(ctx context.Context, account, id string, old, record []byte) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCards)
		k := cardKey(account, id)
		if err := casCard(cb, k, old); err != nil {
			return err
		}
		return cb.Put(k, record)
	})
	if err != nil {
		return fmt.Errorf("boltstore: replace card: %w", err)
	}
	return nil
}

// casCard checks, in the write transaction, that the card record under k
// is still old: ErrCardNotFound when there is none, vault.ErrCardChanged
// when it differs.
func casCard(cb *bolt.Bucket, k, old []byte) error {
	cur := cb.Get(k)
	if cur == nil {
		return ErrCardNotFound
	}
	if !bytes.Equal(cur, old) {
		return vault.ErrCardChanged
	}
	return nil
}

// CardUpdates returns a card's updates in the order they were made
// (cards.Store).
func (s *Store) CardUpdates(_ context.Context, account, id string) ([][]byte, error) {
	var out [][]byte
	prefix := append(cardKey(account, id), 0)
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCardUpdates).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
			out = append(out, append([]byte(nil), v...))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: card updates: %w", err)
	}
	return out, nil
}

// Ping checks that the store can run a read transaction (for /readyz).
// Unlike the shared stores' Ping it does not check that the store takes
// writes: a bbolt vault has one gateway, which still serves reveals from a
// full or read-only disk (docs/DECISIONS.md).
func (s *Store) Ping(context.Context) error {
	return s.view(func(*bolt.Tx) error { return nil })
}

// Close waits for queued writes to commit and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.writes != nil {
		close(s.writes)
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}
