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
// id of every delivered or failed one, the order they are pruned in. The
// buckets are made by the first write. One process holds the bbolt file,
// so there is one dispatcher; the lease still guards a delivery against
// a second claim while an attempt runs.
var (
	bucketWebhookDeliveries = []byte("webhook_deliveries")
	bucketWebhookDue        = []byte("webhook_due")
	bucketWebhookDone       = []byte("webhook_done")
)

var _ webhooks.Store = (*Store)(nil)

func timeKey(t time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

// webhookBuckets returns the three buckets, made if needed.
func webhookBuckets(tx *bolt.Tx) (db, due, done *bolt.Bucket, err error) {
	bs := make([]*bolt.Bucket, 3)
	for i, name := range [][]byte{bucketWebhookDeliveries, bucketWebhookDue, bucketWebhookDone} {
		if bs[i], err = tx.CreateBucketIfNotExists(name); err != nil {
			return nil, nil, nil, err
		}
	}
	return bs[0], bs[1], bs[2], nil
}

// putDelivery writes d and its index entry (due or done).
func putDelivery(db, due, done *bolt.Bucket, d webhooks.Delivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := db.Put([]byte(d.ID), b); err != nil {
		return err
	}
	if d.State == webhooks.StatePending {
		// The endpoint in the index entry lets a claim skip endpoints
		// without reading their deliveries (ClaimDeliveriesSkipping).
		return due.Put(timeKey(d.Due, d.ID), append([]byte{dueEndpointMark}, d.Endpoint...))
	}
	return done.Put(timeKey(d.UpdatedAt, d.ID), nil)
}

// dueEndpointMark starts the value of a due index entry that names its
// delivery's endpoint.
const dueEndpointMark = 0x01

// dropIndex removes d's index entry.
func dropIndex(due, done *bolt.Bucket, d webhooks.Delivery) error {
	if d.State == webhooks.StatePending {
		return due.Delete(timeKey(d.Due, d.ID))
	}
	return done.Delete(timeKey(d.UpdatedAt, d.ID))
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

// AddDeliveries implements webhooks.Store.
func (s *Store) AddDeliveries(ctx context.Context, ds []webhooks.Delivery) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		db, due, done, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := putDelivery(db, due, done, d); err != nil {
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
		db, due, done, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if due.Get(k) == nil {
				continue // claimed, updated or removed since it was chosen
			}
			d, ok, err := getDelivery(db, string(k[8:]))
			if err != nil {
				return err
			}
			if err := due.Delete(k); err != nil {
				return err
			}
			if !ok {
				continue // a stray index entry
			}
			d.LeaseOwner, d.Due = owner, until
			if err := putDelivery(db, due, done, d); err != nil {
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
		db, due, done, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		cur, ok, err := getDelivery(db, d.ID)
		if err != nil {
			return err
		}
		if !ok || cur.State != webhooks.StatePending || cur.LeaseOwner != owner {
			return webhooks.ErrLeaseLost
		}
		if err := dropIndex(due, done, cur); err != nil {
			return err
		}
		return putDelivery(db, due, done, d)
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
// id (or Before).
func (s *Store) ListDeliveries(_ context.Context, f webhooks.Filter) ([]webhooks.Delivery, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = webhooks.DefaultLimit
	}
	var out []webhooks.Delivery
	err := s.view(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketWebhookDeliveries)
		if db == nil {
			return nil
		}
		c := db.Cursor()
		var k, v []byte
		if f.Before != "" {
			k, v = c.Seek([]byte(f.Before))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= f.Before {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var d webhooks.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("delivery %s: %w", k, err)
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
		db, due, done, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		cur, ok, err := getDelivery(db, id)
		switch {
		case err != nil:
			return err
		case !ok:
			return webhooks.ErrNotFound
		case cur.State == webhooks.StatePending:
			return webhooks.ErrNotFinished
		}
		if err := dropIndex(due, done, cur); err != nil {
			return err
		}
		d = cur
		d.State, d.Due, d.UpdatedAt, d.RedeliveredAt, d.LeaseOwner = webhooks.StatePending, now, now, now, ""
		return putDelivery(db, due, done, d)
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
		db, _, done, err := webhookBuckets(tx)
		if err != nil {
			return err
		}
		var keys [][]byte
		c := done.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < max; k, _ = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) >= before.UnixNano() {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := done.Delete(k); err != nil {
				return err
			}
			if err := db.Delete(k[8:]); err != nil {
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
