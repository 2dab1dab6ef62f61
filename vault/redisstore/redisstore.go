// Package redisstore is a vault.Store on Redis for volatile values (CVCs):
// records with a short TTL, shared by every gateway process that points at
// the same Redis, so any of them reveals what another redacted.
//
// Layout, under a key prefix (default "aliasgate:"):
//
//	<prefix>r:<alias>  vault.MarshalRecord bytes, with a native TTL (PX) up to ExpiresAt
//	<prefix>i:<hex>    alias an HMAC index key points at, same TTL as its record
//	<prefix>h:<alias>  the mark of Store.HandOut, same TTL as its record
//	<prefix>m:<key>    vault-wide settings (no TTL)
//	<prefix>ready      written by Ping (readiness: Redis takes writes), expires after a minute
//
// Put, LookupIndex, LookupRecords, Delete, Release, HandOut and
// SetClassifiers each run one
// Lua script (EVALSHA), so a batch is one round trip and atomic: two
// gateways putting the same index key at once agree on one alias. Get is
// one MGET.
//
// Expiry is Redis's own, and on top of it every read and every decision
// treats a record whose ExpiresAt is at or before Options.Now as absent, so
// an injected clock that runs ahead of Redis's (tests), or a Redis clock that
// lags the gateway's, never yields a stale value.
//
// The store needs one Redis server, version 6.0 or later (KEEPTTL), at one
// address; Redis Cluster is not supported, since a script reads keys it
// computes. Durability is Redis's: volatile values may be lost when Redis
// restarts without persistence, which is acceptable for them. The store does
// not keep cards, API clients or exports.
//
// The store has no count bound of its own: bound Redis with maxmemory and
// maxmemory-policy volatile-ttl. Every record has a TTL, so Redis then
// evicts the records closest to expiry (the oldest CVCs) to make room, as
// the in-memory store does past vault.volatile_max_records, and a flood
// shortens how long values live instead of refusing new ones (Redis counts
// them in INFO stats: evicted_keys). Under noeviction, a full Redis refuses
// the Put script whole (an ErrUnavailable, 503) and nothing is written.
// Any other policy (allkeys-lru, …) is safe as well: Redis evicts record
// and index keys independently, and the reads never resolve an index entry
// to an alias whose record is gone; an evicted value is absent (its alias
// reveals nothing: 422 unknown_alias at the outbound proxy) and can be
// stored again. The gateway does not read the policy (an ACL may refuse
// INFO and CONFIG) and does not warn about it.
//
// With persistence (RDB or AOF) Redis keeps each key's absolute expiry, so
// a restart never lengthens a value's life; without it a restart loses the
// values, which then reveal nothing, as evicted ones.
package redisstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/vault"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "aliasgate:"

// Options tunes a Store. Zero values take the defaults.
type Options struct {
	// Now is the clock records expire by; default time.Now.
	Now func() time.Time
	// Prefix starts every key the store reads or writes; default
	// DefaultPrefix. Gateways that share a vault use the same prefix.
	Prefix string
}

// Store is a vault.Store on Redis. It is safe for concurrent use; go-redis
// keeps a pool of connections and reconnects by itself after a failure.
type Store struct {
	client *redis.Client
	addr   string
	prefix string
	now    func() time.Time
	closed atomic.Bool

	put, lookup, del, classifiers, handOut *redis.Script
}

var _ vault.Store = (*Store)(nil)

// errCorrupt: a record in Redis does not decode (written by something else,
// or by an incompatible version).
var errCorrupt = errors.New("redisstore: corrupt record in redis")

// Open connects to the Redis at rawURL (redis://[user:password@]host:port/db,
// or rediss:// for TLS; query parameters as go-redis's ParseURL reads them;
// the gateway's configuration accepts these two schemes only, not go-redis's
// unix://) and pings it, so that a wrong address or password fails
// here, with an error that wraps vault.ErrUnavailable and never shows the
// password. ctx bounds the ping. A rediss:// server's certificate is always
// verified (system roots, the URL's host): go-redis's skip_verify=true is
// refused.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if rawURL == "" {
		return nil, errors.New("redisstore: no redis URL (want redis://host:port/db)")
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error quotes the URL, and its cause may quote parts of it:
			// either can hold the password.
			return nil, errors.New("redisstore: invalid redis URL (not shown: it may hold a password)")
		}
		return nil, fmt.Errorf("redisstore: invalid redis URL: %w", err)
	}
	if ro.TLSConfig != nil && ro.TLSConfig.InsecureSkipVerify {
		// go-redis's skip_verify=true: CVCs and the password would go to
		// whoever answers with any certificate.
		return nil, errors.New("redisstore: invalid redis URL: skip_verify is not accepted (rediss:// always verifies the server's certificate)")
	}
	// Bound every call by its context, not only by the read/write timeouts.
	ro.ContextTimeoutEnabled = true
	c := redis.NewClient(ro)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redisstore: connect %s: %w: %w", ro.Addr, vault.ErrUnavailable, err)
	}
	s := &Store{client: c, addr: ro.Addr, prefix: opts.Prefix, now: opts.Now,
		put: redis.NewScript(putScript), lookup: redis.NewScript(lookupScript),
		del: redis.NewScript(deleteScript), classifiers: redis.NewScript(classifiersScript),
		handOut: redis.NewScript(handOutScript)}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Addr returns the address of the Redis server (host:port, no credentials).
func (s *Store) Addr() string { return s.addr }

// StoreName implements vault.StoreNamer: "redis", for metrics.
func (*Store) StoreName() string { return "redis" }

// Prefix returns the key prefix the store uses.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) recordKey(alias string) string { return s.prefix + "r:" + alias }
func (s *Store) indexKey(k []byte) string      { return s.prefix + "i:" + hex.EncodeToString(k) }
func (s *Store) metaKey(k string) string       { return s.prefix + "m:" + k }

// nowArg encodes t as the scripts compare it: a zigzag varint of Unix
// nanoseconds, as vault.MarshalRecord writes ExpiresAt.
func nowArg(t time.Time) string {
	return string(binary.AppendVarint(nil, t.UnixNano()))
}

// refusedPrefixes are the errors by which Redis refuses the gateway until
// an operator acts: an ACL that does not grant a command or key (NOPERM), a
// password the gateway lacks or has wrong (NOAUTH, WRONGPASS: met when the
// pool reconnects), a key of another type where the store keeps its own
// (WRONGTYPE: written by something else). MISCONF (a failed snapshot
// stops writes), OOM, READONLY, LOADING, BUSY and the cluster's TRYAGAIN
// end without the gateway's configuration changing: those stay
// vault.ErrUnavailable, and /readyz reports them (Ping writes a key).
var refusedPrefixes = []string{"NOPERM", "NOAUTH", "WRONGPASS", "WRONGTYPE"}

// fail wraps an error of operation op: vault.ErrClosed once the client is
// closed, the context's error when the caller gave up, errCorrupt for data
// that does not decode, vault.ErrStoreRefused for a refusal no retry
// changes (refusedPrefixes), and vault.ErrUnavailable for everything else
// (the server cannot be reached or refused the command; it may work later).
func (s *Store) fail(op string, err error) error {
	switch {
	case errors.Is(err, redis.ErrClosed) || s.closed.Load():
		return fmt.Errorf("redisstore: %s: %w", op, vault.ErrClosed)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redisstore: %s: %w", op, err)
	case redis.HasErrorPrefix(err, "CORRUPT"):
		return fmt.Errorf("redisstore: %s: %w", op, errCorrupt)
	}
	for _, p := range refusedPrefixes {
		if redis.HasErrorPrefix(err, p) {
			return fmt.Errorf("redisstore: %s: %w: %w", op, vault.ErrStoreRefused, err)
		}
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, vault.ErrUnavailable, err)
}

// Get implements vault.Store with one MGET.
func (s *Store) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	if s.closed.Load() {
		return nil, vault.ErrClosed
	}
	out := make([]*vault.Record, len(aliases))
	if len(aliases) == 0 {
		return out, nil
	}
	keys := make([]string, len(aliases))
	for i, a := range aliases {
		keys[i] = s.recordKey(a)
	}
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.fail("get", err)
	}
	if len(vals) != len(aliases) {
		return nil, fmt.Errorf("redisstore: get: %w: MGET returned %d values for %d keys", vault.ErrUnavailable, len(vals), len(aliases))
	}
	now := s.now()
	for i, v := range vals {
		b, ok := v.(string)
		if !ok {
			continue // missing (nil)
		}
		r, err := vault.UnmarshalRecord(aliases[i], []byte(b))
		if err != nil {
			return nil, fmt.Errorf("redisstore: get: %w: %w", errCorrupt, err)
		}
		if !r.Expired(now) {
			out[i] = r
		}
	}
	return out, nil
}

// LookupIndex implements vault.Store: one script resolves every key to its
// alias when the record it points at is live.
func (s *Store) LookupIndex(ctx context.Context, keys [][]byte) ([]string, error) {
	if s.closed.Load() {
		return nil, vault.ErrClosed
	}
	out := make([]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	res, err := s.runLookup(ctx, "lookup index", keys, false)
	if err != nil {
		return nil, err
	}
	copy(out, res)
	return out, nil
}

// LookupRecords implements vault.Store: the script of LookupIndex returns
// the records it reads as well.
func (s *Store) LookupRecords(ctx context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	if s.closed.Load() {
		return nil, nil, vault.ErrClosed
	}
	aliases, recs := make([]string, len(keys)), make([]*vault.Record, len(keys))
	if len(keys) == 0 {
		return aliases, recs, nil
	}
	res, err := s.runLookup(ctx, "lookup records", keys, true)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	for i, a := range res[:len(keys)] {
		if a == "" {
			continue
		}
		r, err := vault.UnmarshalRecord(a, []byte(res[len(keys)+i]))
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: lookup records: %w: %w", errCorrupt, err)
		}
		aliases[i] = a
		if !r.Expired(now) {
			recs[i] = r
		}
	}
	return aliases, recs, nil
}

// runLookup runs lookupScript over keys (not empty), as operation op: an
// alias per key, then, with records, a record per key.
func (s *Store) runLookup(ctx context.Context, op string, keys [][]byte, records bool) ([]string, error) {
	rk := make([]string, len(keys))
	for i, k := range keys {
		rk[i] = s.indexKey(k)
	}
	flag, want := "0", len(keys)
	if records {
		flag, want = "1", 2*len(keys)
	}
	res, err := s.lookup.Run(ctx, s.client, rk, s.prefix, nowArg(s.now()), flag).StringSlice()
	if err != nil {
		return nil, s.fail(op, err)
	}
	if len(res) != want {
		return nil, fmt.Errorf("redisstore: %s: %w: script returned %d results for %d keys", op, vault.ErrUnavailable, len(res), len(keys))
	}
	return res, nil
}

// Put implements vault.Store: the whole batch is one script, atomic and one
// round trip. A record with an ExpiresAt gets a native TTL of the time left
// until then (rounded up to the millisecond), and so does its index entry.
func (s *Store) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	if s.closed.Load() {
		return nil, vault.ErrClosed
	}
	out := make([]vault.PutResult, len(items))
	if len(items) == 0 {
		return out, nil
	}
	now := s.now()
	keys := make([]string, 0, 2*len(items))
	args := make([]any, 0, 2+3*len(items))
	args = append(args, s.prefix, nowArg(now))
	for _, it := range items {
		r := it.Record
		if r == nil {
			return nil, errors.New("redisstore: put: nil record")
		}
		keys = append(keys, s.recordKey(r.Alias))
		hasIndex := "0"
		if len(r.IndexKey) > 0 {
			keys = append(keys, s.indexKey(r.IndexKey))
			hasIndex = "1"
		}
		args = append(args, vault.MarshalRecord(r), ttlArg(r.ExpiresAt, now), hasIndex)
	}
	res, err := s.put.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return nil, s.fail("put", err)
	}
	if len(res) != 3*len(items) {
		return nil, fmt.Errorf("redisstore: put: %w: script returned %d values for %d items", vault.ErrUnavailable, len(res), len(items))
	}
	for i, it := range items {
		st, _ := res[3*i].(int64)
		switch st {
		case 1:
			out[i] = vault.PutResult{Status: vault.PutCreated, Record: it.Record}
		case 2:
			alias, _ := res[3*i+1].(string)
			b, _ := res[3*i+2].(string)
			r, err := vault.UnmarshalRecord(alias, []byte(b))
			if err != nil {
				return nil, fmt.Errorf("redisstore: put: %w: %w", errCorrupt, err)
			}
			out[i] = vault.PutResult{Status: vault.PutExisting, Record: r}
		case 3:
			out[i] = vault.PutResult{Status: vault.PutCollision}
		default:
			return nil, fmt.Errorf("redisstore: put: unexpected script status %v", res[3*i])
		}
	}
	return out, nil
}

// ttlArg returns the PX argument of a record expiring at exp: the
// milliseconds left after now, rounded up, at least 1; "0" for no expiry.
func ttlArg(exp, now time.Time) string {
	if exp.IsZero() {
		return "0"
	}
	d := exp.Sub(now)
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		ms = 1 // already expired: reads treat it as absent; Redis drops it now
	}
	return strconv.FormatInt(ms, 10)
}

// Delete implements vault.Store.
func (s *Store) Delete(ctx context.Context, alias, owner string) error {
	if s.closed.Load() {
		return vault.ErrClosed
	}
	return s.remove(ctx, "delete", alias, owner, "0")
}

// Release implements vault.Store: Delete's script, which keeps a record
// that has a hand-out mark.
func (s *Store) Release(ctx context.Context, alias, owner string) error {
	if s.closed.Load() {
		return vault.ErrClosed
	}
	return s.remove(ctx, "release", alias, owner, "1")
}

// remove runs deleteScript (keep "1": Release).
func (s *Store) remove(ctx context.Context, op, alias, owner, keep string) error {
	n, err := s.del.Run(ctx, s.client, []string{s.recordKey(alias)}, s.prefix, nowArg(s.now()), alias, owner, keep).Int64()
	switch {
	case err != nil:
		return s.fail(op, err)
	case n == 0:
		return vault.ErrNotFound
	case n == 2:
		return vault.ErrHandedOut
	}
	return nil
}

// HandOut implements vault.Store with one script.
func (s *Store) HandOut(ctx context.Context, aliases []string) ([]bool, error) {
	if s.closed.Load() {
		return nil, vault.ErrClosed
	}
	out := make([]bool, len(aliases))
	if len(aliases) == 0 {
		return out, nil
	}
	keys := make([]string, len(aliases))
	args := make([]any, 0, 2+len(aliases))
	args = append(args, s.prefix, nowArg(s.now()))
	for i, a := range aliases {
		keys[i] = s.recordKey(a)
		args = append(args, a)
	}
	res, err := s.handOut.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, s.fail("hand out", err)
	}
	for i := range out {
		out[i] = i < len(res) && res[i] == 1
	}
	return out, nil
}

// SetOwner implements vault.Store as an optimistic transaction (WATCH of
// the record and the index entries it reads, then MULTI/EXEC), retried
// when another client changed one of them meanwhile. The record keeps the
// TTL it has left; a new index entry gets the same.
func (s *Store) SetOwner(ctx context.Context, alias, from, to string, indexKey []byte) error {
	if s.closed.Load() {
		return vault.ErrClosed
	}
	rk := s.recordKey(alias)
	for range maxOwnerRounds {
		err := s.client.Watch(ctx, func(tx *redis.Tx) error { return s.setOwner(ctx, tx, alias, from, to, indexKey) }, rk)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, redis.TxFailedErr):
			continue
		case errors.Is(err, vault.ErrNotFound):
			return vault.ErrNotFound
		case errors.Is(err, errCorrupt):
			return fmt.Errorf("redisstore: set owner: %w", err)
		}
		return s.fail("set owner", err)
	}
	return fmt.Errorf("redisstore: set owner: %w: the record kept changing", vault.ErrUnavailable)
}

// maxOwnerRounds bounds the optimistic rounds of SetOwner.
const maxOwnerRounds = 16

func (s *Store) setOwner(ctx context.Context, tx *redis.Tx, alias, from, to string, indexKey []byte) error {
	now := s.now()
	r, err := s.watchRecord(ctx, tx, alias, now)
	if err != nil {
		return err
	}
	if r == nil || r.Owner != from {
		return vault.ErrNotFound
	}
	var dropOld, newKey string
	if r.IndexKey != nil {
		k := s.indexKey(r.IndexKey)
		if err := tx.Watch(ctx, k).Err(); err != nil {
			return err
		}
		a, err := tx.Get(ctx, k).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if a == alias {
			dropOld = k
		}
	}
	r.Owner, r.IndexKey = to, nil
	if indexKey != nil {
		k := s.indexKey(indexKey)
		if err := tx.Watch(ctx, k).Err(); err != nil {
			return err
		}
		a, err := tx.Get(ctx, k).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		taken := false
		if a != "" && a != alias {
			o, err := s.watchRecord(ctx, tx, a, now)
			if err != nil {
				return err
			}
			taken = o != nil && bytes.Equal(o.IndexKey, indexKey)
		}
		if !taken {
			newKey, r.IndexKey = k, append([]byte(nil), indexKey...)
		}
	}
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if dropOld != "" && dropOld != newKey {
			p.Del(ctx, dropOld)
		}
		if newKey != "" {
			var ttl time.Duration
			if ms, _ := strconv.ParseInt(ttlArg(r.ExpiresAt, now), 10, 64); ms > 0 {
				ttl = time.Duration(ms) * time.Millisecond
			}
			p.Set(ctx, newKey, alias, ttl)
		}
		p.SetArgs(ctx, s.recordKey(alias), vault.MarshalRecord(r), redis.SetArgs{KeepTTL: true})
		return nil
	})
	return err
}

// watchRecord watches and reads the record of alias: nil when it is
// absent or expired at now.
func (s *Store) watchRecord(ctx context.Context, tx *redis.Tx, alias string, now time.Time) (*vault.Record, error) {
	k := s.recordKey(alias)
	if err := tx.Watch(ctx, k).Err(); err != nil {
		return nil, err
	}
	b, err := tx.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := vault.UnmarshalRecord(alias, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if r.Expired(now) {
		return nil, nil
	}
	return r, nil
}

// SetClassifiers implements vault.Store. Records keep the TTL they have left.
func (s *Store) SetClassifiers(ctx context.Context, aliases []string, classifiers []string) error {
	if s.closed.Load() {
		return vault.ErrClosed
	}
	if len(aliases) == 0 {
		return vault.ErrNotFound
	}
	keys := make([]string, len(aliases))
	for i, a := range aliases {
		keys[i] = s.recordKey(a)
	}
	// The classifier list as vault.MarshalRecord encodes it.
	enc := binary.AppendUvarint(nil, uint64(len(classifiers)))
	for _, c := range classifiers {
		enc = binary.AppendUvarint(enc, uint64(len(c)))
		enc = append(enc, c...)
	}
	n, err := s.classifiers.Run(ctx, s.client, keys, s.prefix, nowArg(s.now()), enc).Int64()
	if err != nil {
		return s.fail("set classifiers", err)
	}
	if n == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// GetMeta implements vault.Store.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, vault.ErrClosed
	}
	v, err := s.client.Get(ctx, s.metaKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, vault.ErrNotFound
	}
	if err != nil {
		return nil, s.fail("get meta", err)
	}
	return v, nil
}

// PutMetaIfAbsent implements vault.Store with SETNX and GET in one
// MULTI/EXEC.
func (s *Store) PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, vault.ErrClosed
	}
	k := s.metaKey(key)
	var get *redis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, k, value, 0)
		get = p.Get(ctx, k)
		return nil
	})
	if err != nil {
		return nil, s.fail("put meta", err)
	}
	v, err := get.Bytes()
	if err != nil {
		return nil, s.fail("put meta", err)
	}
	return v, nil
}

// readyTTL is how long the key Ping writes lives.
const readyTTL = time.Minute

// Ping checks that Redis answers and takes writes (for /readyz): it sets
// <prefix>ready, which expires after readyTTL. A Redis demoted to a
// replica by a failover (READONLY) or full under maxmemory-policy
// noeviction (OOM) answers PING and every read while refusing every new
// value, so it is not ready either.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return vault.ErrClosed
	}
	if err := s.client.Set(ctx, s.prefix+"ready", "1", readyTTL).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close closes the connections; later calls return vault.ErrClosed. The data
// stays in Redis. Closing twice is not an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}
