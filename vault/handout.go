package vault

import (
	"context"
	"sync"
	"time"
)

// HandOutWindow is how young a persistent record must be for a Redact
// that finds it (its value was in the vault already) to record that it
// was handed out (Store.HandOut) before returning its alias: only a
// young record can still be released by the request that created it
// (Release, which refuses records older than ReleaseMaxAge). A record
// found older than that is returned with no write: the steady state (a
// card number tokenized long ago) costs a read, as before.
const HandOutWindow = 10 * time.Minute

// ReleaseMaxAge is the age past which Release keeps a record
// (ErrHandedOut): a release comes within the lifetime of the request that
// made the record, well under it. Half of HandOutWindow, so that a Redact
// that found the record too old to hand out cannot meet a release that
// deletes it, unless the two gateways' clocks differ by more than the
// other half.
const ReleaseMaxAge = HandOutWindow / 2

// maxHandedCache bounds the records a Service remembers handing out
// (handedCache): past it, a young record found again is handed out again
// (a store call, no write: the store has the mark).
const maxHandedCache = 4096

// young reports whether rec, a persistent record a Redact was given by
// the store (found, or met by Put as PutExisting), is young enough to be
// handed out at now (HandOutWindow).
func young(rec *Record, now time.Time) bool {
	return rec != nil && rec.Storage == StoragePersistent && now.Sub(rec.CreatedAt) < HandOutWindow
}

// handedCache remembers the young records this Service handed out (their
// alias and creation time: one record), so that finding one again within
// HandOutWindow asks the store nothing: the store's mark stays until the
// record goes. Entries older than the window are dropped when the cache
// is full.
type handedCache struct {
	mu sync.Mutex
	m  map[handedKey]struct{}
}

type handedKey struct {
	alias   string
	created int64 // Record.CreatedAt, Unix nanoseconds
}

func keyOfRecord(r *Record) handedKey { return handedKey{r.Alias, r.CreatedAt.UnixNano()} }

// has reports whether r was handed out by this Service.
func (c *handedCache) has(r *Record) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[keyOfRecord(r)]
	return ok
}

// add remembers the records of keys, at now.
func (c *handedCache) add(keys []handedKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[handedKey]struct{})
	}
	for _, k := range keys {
		if len(c.m) >= maxHandedCache {
			for old := range c.m {
				if now.Sub(time.Unix(0, old.created)) >= HandOutWindow {
					delete(c.m, old)
				}
			}
			if len(c.m) >= maxHandedCache {
				return // full of young records: the store is asked again
			}
		}
		c.m[k] = struct{}{}
	}
}

// handOutFound records the hand-out of the young records among recs, the
// records a Redact's index look-up found (keyIdx[j] is the item of
// recs[j]), in one store call. An item whose record was released since the
// look-up (not live) is written again, as a value the look-up did not
// find.
func (s *Service) handOutFound(ctx context.Context, items []item, out []Token, keyIdx []int, recs []*Record) error {
	var found []*Record
	var idx []int
	var now time.Time
	for j, i := range keyIdx {
		if !items[i].done {
			continue
		}
		if now.IsZero() {
			now = s.now()
		}
		if young(recs[j], now) {
			found = append(found, recs[j])
			idx = append(idx, i)
		}
	}
	gone, err := s.handOut(ctx, found, now)
	if err != nil {
		return err
	}
	for k, i := range idx {
		if gone[k] {
			items[i].done = false
			out[i] = Token{}
		}
	}
	return nil
}

// handOutExisting records the hand-out of the young records Put met as
// PutExisting (made by a concurrent call since the look-up: the caller is
// given an alias it did not create, as a found one is, handOutFound);
// gone[j] is true for an item of res whose record was released since (nil
// when Put met no young record: nothing is asked of the store).
func (s *Service) handOutExisting(ctx context.Context, res []PutResult, now time.Time) (gone []bool, err error) {
	var met []*Record
	var idx []int
	for j, r := range res {
		if r.Status == PutExisting && young(r.Record, now) {
			met = append(met, r.Record)
			idx = append(idx, j)
		}
	}
	if len(met) == 0 {
		return nil, nil
	}
	g, err := s.handOut(ctx, met, now)
	if err != nil {
		return nil, err
	}
	gone = make([]bool, len(res))
	for k, j := range idx {
		gone[j] = g[k]
	}
	return gone, nil
}

// handOut is Store.HandOut of the persistent store for recs, observed as
// a Redact's, but for the records this Service handed out already
// (handedCache): gone[k] is true when recs[k] is no longer live (released
// since it was read). The store is asked nothing when every record is in
// the cache.
func (s *Service) handOut(ctx context.Context, recs []*Record, now time.Time) (gone []bool, err error) {
	gone = make([]bool, len(recs))
	var aliases []string
	var idx []int
	for k, r := range recs {
		if !s.handed.has(r) {
			aliases = append(aliases, r.Alias)
			idx = append(idx, k)
		}
	}
	if len(aliases) == 0 {
		return gone, nil
	}
	live, err := s.handOutAliases(ctx, opRedact, s.persistent, aliases)
	if err != nil {
		return nil, err
	}
	var keep []handedKey
	for n, k := range idx {
		if gone[k] = n >= len(live) || !live[n]; !gone[k] {
			keep = append(keep, keyOfRecord(recs[k]))
		}
	}
	s.handed.add(keep, now)
	return gone, nil
}
