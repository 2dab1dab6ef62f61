package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/webhooks"
)

// The webhook outbox (webhooks.Store): bucket webhook_deliveries maps a
// delivery id (dlv_…, ordered by creation) to its JSON; webhook_due holds
// Due (8 bytes, Unix nanoseconds, big endian) ‖ id of every pending
// delivery, the order claims take them in, with 0x01 ‖ the delivery's
// endpoint id as the value (any other value, empty or an account, in
// entries written before: the delivery is read when a claim skips
// endpoints); webhook_done holds UpdatedAt ‖
// id of every delivered or failed one, the order they are pruned in;
// webhook_list holds, for the listings filtered by account, state or
// both, one key per delivery and filter (listKey), so that a filtered page
// reads only its own key range, in id order, and no more than its limit.
// The buckets are made by the first write (webhook_list of a file written
// before it: at Open, from the deliveries). One process holds the bbolt
// file, so there is one dispatcher; the lease still guards a delivery
// against a second claim while an attempt runs.
var (
	bucketWebhookDeliveries = []byte("webhook_deliveries")
	bucketWebhookDue        = []byte("webhook_due")
	bucketWebhookDone       = []byte("webhook_done")
	bucketWebhookList       = []byte("webhook_list")
)

var _ webhooks.Store = (*Store)(nil)

func timeKey(t time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

// whBuckets are the outbox's buckets in one transaction.
type whBuckets struct{ db, due, done, list *bolt.Bucket }

// webhookBuckets returns the outbox's buckets, made if needed.
func webhookBuckets(tx *bolt.Tx) (*whBuckets, error) {
	bs := make([]*bolt.Bucket, 4)
	for i, name := range [][]byte{bucketWebhookDeliveries, bucketWebhookDue, bucketWebhookDone, bucketWebhookList} {
		var err error
		if bs[i], err = tx.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return &whBuckets{db: bs[0], due: bs[1], done: bs[2], list: bs[3]}, nil
}

// Listing key prefixes (webhook_list): by account, by state, by both.
const (
	listByAccount      = 'a'
	listByState        = 's'
	listByAccountState = 'b'
)

// listPrefix is the key range of the deliveries matching account and
// state ("" any), each key the prefix ‖ id; nil when neither is set (the
// deliveries bucket is the range). Account names and states hold no 0.
func listPrefix(account string, state webhooks.State) []byte {
	switch {
	case account != "" && state != "":
		return append(append(append(append([]byte{listByAccountState}, account...), 0), state...), 0)
	case account != "":
		return append(append([]byte{listByAccount}, account...), 0)
	case state != "":
		return append(append([]byte{listByState}, state...), 0)
	}
	return nil
}

// listKeys are d's keys in webhook_list.
func listKeys(d webhooks.Delivery) [][]byte {
	return [][]byte{
		append(listPrefix(d.Account, ""), d.ID...),
		append(listPrefix("", d.State), d.ID...),
		append(listPrefix(d.Account, d.State), d.ID...),
	}
}

// putDelivery writes d and its index entries (due or done, listings).
func putDelivery(b *whBuckets, d webhooks.Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := b.db.Put([]byte(d.ID), v); err != nil {
		return err
	}
	for _, k := range listKeys(d) {
		if err := b.list.Put(k, nil); err != nil {
			return err
		}
	}
	if d.State == webhooks.StatePending {
		// The endpoint in the index entry lets a claim skip endpoints
		// without reading their deliveries (ClaimDeliveriesSkipping).
		return b.due.Put(timeKey(d.Due, d.ID), append([]byte{dueEndpointMark}, d.Endpoint...))
	}
	return b.done.Put(timeKey(d.UpdatedAt, d.ID), nil)
}

// dueEndpointMark starts the value of a due index entry that names its
// delivery's endpoint.
const dueEndpointMark = 0x01

// dropIndex removes d's index entries (putDelivery writes the new ones).
func dropIndex(b *whBuckets, d webhooks.Delivery) error {
	for _, k := range listKeys(d) {
		if err := b.list.Delete(k); err != nil {
			return err
		}
	}
	if d.State == webhooks.StatePending {
		return b.due.Delete(timeKey(d.Due, d.ID))
	}
	return b.done.Delete(timeKey(d.UpdatedAt, d.ID))
}

// buildWebhookList makes webhook_list from the deliveries of a file
// written before it (Open); nothing when it exists or there are none.
func buildWebhookList(tx *bolt.Tx) error {
	db := tx.Bucket(bucketWebhookDeliveries)
	if db == nil || tx.Bucket(bucketWebhookList) != nil {
		return nil
	}
	list, err := tx.CreateBucket(bucketWebhookList)
	if err != nil {
		return err
	}
	return db.ForEach(func(k, v []byte) error {
		var d webhooks.Delivery
		if json.Unmarshal(v, &d) != nil {
			return nil // listed unfiltered only (and refused there, as before): the file still opens
		}
		for _, lk := range listKeys(d) {
			if err := list.Put(lk, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func getDelivery(db *bolt.Bucket, id string) (webhooks.Delivery, bool, error) {
	var d webhooks.Delivery
	v := db.Get([]byte(id))
	if v == nil {
		return d, false, nil
	}
	if err := json.Unmarshal(v, &d); err != nil {
		return d, false, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, true, nil
}

// AddDeliveries implements webhooks.Store. A delivery already stored (its
// id) is left as it is, as PostgreSQL's ON CONFLICT DO NOTHING leaves it:
// written over, it would take the state it was added with (a vault copy
// run again after the destination's gateway delivered it: pending, sent
// twice) while the due, done and listing entries of its stored state
// stayed (a prune then deleted it from under a claim).
func (s *Store) AddDeliveries(ctx context.Context, ds []webhooks.Delivery) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if b.db.Get([]byte(d.ID)) != nil {
				continue
			}
			if err := putDelivery(b, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: add webhook deliveries: %w", err)
	}
	return nil
}

// ClaimDeliveries implements webhooks.Store. A read transaction looks
// first, so a poll that finds nothing due writes (and syncs) nothing.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, max int) ([]webhooks.Delivery, error) {
	return s.ClaimDeliveriesSkipping(ctx, owner, now, until, max, nil)
}

// maxClaimScan bounds the due index entries one claim looks at when it
// skips endpoints: a claim past a backlog of skipped deliveries larger than
// this finds nothing until the backlog shrinks.
const maxClaimScan = 200_000

// ClaimDeliveriesSkipping implements webhooks.EndpointSkipper. An index
// entry names its delivery's endpoint (written before: the delivery is
// read). The due entries are chosen in a read transaction, so a claim that
// finds nothing it may take (nothing due, or only deliveries to skipped
// endpoints: a dispatcher claims again at every event and every attempt
// that ends while such a backlog waits) neither scans the backlog inside
// the write transaction every vault write waits for nor writes and syncs
// the file; the write transaction then claims those of the chosen entries
// that are still there.
func (s *Store) ClaimDeliveriesSkipping(ctx context.Context, owner string, now, until time.Time, max int, skip []string) ([]webhooks.Delivery, error) {
	var keys [][]byte
	if err := s.view(func(tx *bolt.Tx) error {
		due := tx.Bucket(bucketWebhookDue)
		if due == nil {
			return nil
		}
		db := tx.Bucket(bucketWebhookDeliveries)
		c := due.Cursor()
		scanned := 0
		for k, v := c.First(); k != nil && len(keys) < max && scanned < maxClaimScan; k, v = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
				break
			}
			scanned++
			if len(skip) > 0 {
				var endpoint string
				if len(v) > 0 && v[0] == dueEndpointMark {
					endpoint = string(v[1:])
				} else if db != nil {
					d, ok, err := getDelivery(db, string(k[8:]))
					if err != nil {
						return err
					}
					if ok {
						endpoint = d.Endpoint
					}
				}
				if slices.Contains(skip, endpoint) {
					continue
				}
			}
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	}); err != nil || len(keys) == 0 {
		if err != nil {
			return nil, fmt.Errorf("boltstore: claim webhook deliveries: %w", err)
		}
		return nil, nil
	}
	var out []webhooks.Delivery
	err := s.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		b, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if b.due.Get(k) == nil {
				continue // claimed, updated or removed since it was chosen
			}
			d, ok, err := getDelivery(b.db, string(k[8:]))
			if err != nil {
				return err
			}
			if err := b.due.Delete(k); err != nil {
				return err
			}
			if !ok {
				continue // a stray index entry
			}
			d.LeaseOwner, d.Due = owner, until
			if err := putDelivery(b, d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: claim webhook deliveries: %w", err)
	}
	return out, nil
}

// UpdateDelivery implements webhooks.Store.
func (s *Store) UpdateDelivery(ctx context.Context, owner string, d webhooks.Delivery) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		cur, ok, err := getDelivery(b.db, d.ID)
		if err != nil {
			return err
		}
		if !ok || cur.State != webhooks.StatePending || cur.LeaseOwner != owner {
			return webhooks.ErrLeaseLost
		}
		if err := dropIndex(b, cur); err != nil {
			return err
		}
		return putDelivery(b, d)
	})
	if err != nil {
		return fmt.Errorf("boltstore: update webhook delivery: %w", err)
	}
	return nil
}

// GetDelivery implements webhooks.Store.
func (s *Store) GetDelivery(_ context.Context, id string) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	found := false
	err := s.view(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketWebhookDeliveries)
		if db == nil {
			return nil
		}
		var err error
		d, found, err = getDelivery(db, id)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("boltstore: get webhook delivery: %w", err)
	}
	if !found {
		return d, webhooks.ErrNotFound
	}
	return d, nil
}

// ListDeliveries implements webhooks.Store: a walk back from the newest
// id (or Before) over the key range of f's account and state (the
// deliveries bucket, or a range of webhook_list), so that a page reads at
// most its limit of deliveries, whatever the log holds besides.
func (s *Store) ListDeliveries(_ context.Context, f webhooks.Filter) ([]webhooks.Delivery, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = webhooks.DefaultLimit
	}
	prefix := listPrefix(f.Account, f.State)
	var out []webhooks.Delivery
	err := s.view(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketWebhookDeliveries)
		if db == nil {
			return nil
		}
		b := db
		if prefix != nil {
			if b = tx.Bucket(bucketWebhookList); b == nil {
				return nil
			}
		}
		c := b.Cursor()
		// The first key of the walk: the last one below prefix ‖ Before
		// (prefix ‖ 0xff: past every id, which is ASCII).
		end := append(bytes.Clone(prefix), 0xff)
		if f.Before != "" {
			end = append(bytes.Clone(prefix), f.Before...)
		}
		k, v := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && bytes.Compare(k, end) >= 0 {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			id := k[len(prefix):]
			if prefix != nil {
				if v = db.Get(id); v == nil {
					continue // a stray listing entry
				}
			}
			var d webhooks.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("delivery %s: %w", id, err)
			}
			if (f.Account == "" || d.Account == f.Account) && (f.State == "" || d.State == f.State) {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list webhook deliveries: %w", err)
	}
	return out, nil
}

// RedeliverDelivery implements webhooks.Store.
func (s *Store) RedeliverDelivery(ctx context.Context, id string, now time.Time) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		cur, ok, err := getDelivery(b.db, id)
		switch {
		case err != nil:
			return err
		case !ok:
			return webhooks.ErrNotFound
		case cur.State == webhooks.StatePending:
			return webhooks.ErrNotFinished
		}
		if err := dropIndex(b, cur); err != nil {
			return err
		}
		d = cur
		d.State, d.Due, d.UpdatedAt, d.RedeliveredAt, d.LeaseOwner = webhooks.StatePending, now, now, now, ""
		return putDelivery(b, d)
	})
	if err != nil {
		return webhooks.Delivery{}, fmt.Errorf("boltstore: redeliver webhook delivery: %w", err)
	}
	return d, nil
}

// PruneDeliveries implements webhooks.Store.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, max int) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		var keys [][]byte
		c := b.done.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < max; k, _ = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) >= before.UnixNano() {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.done.Delete(k); err != nil {
				return err
			}
			d, ok, err := getDelivery(b.db, string(k[8:]))
			if err != nil {
				return err
			}
			if ok {
				for _, lk := range listKeys(d) {
					if err := b.list.Delete(lk); err != nil {
						return err
					}
				}
			}
			if err := b.db.Delete(k[8:]); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: prune webhook deliveries: %w", err)
	}
	return n, nil
}

// PendingDeliveries implements webhooks.Store.
func (s *Store) PendingDeliveries(context.Context) (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		if due := tx.Bucket(bucketWebhookDue); due != nil {
			n = due.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: count pending webhook deliveries: %w", err)
	}
	return n, nil
}
