package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Idempotency-Key records (cards.Store): bucket idempotency maps
// account ‖ 0 ‖ key to expiry (8 bytes, Unix nanoseconds, big endian) ‖
// record; bucket idempotency_by_expiry holds expiry ‖ account ‖ 0 ‖ key,
// so that a claim can remove the oldest expired keys. Both buckets are
// made by the first claim.
var (
	bucketIdem         = []byte("idempotency")
	bucketIdemByExpiry = []byte("idempotency_by_expiry")
)

// idemSweep is how many expired keys a claim removes at most.
const idemSweep = 16

func expiryBytes(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

// ClaimIdempotency stores record under (account, key) until expires unless
// a record that has not expired at now is there; then it returns that one
// and writes nothing. A few expired keys are removed in the same
// transaction.
func (s *Store) ClaimIdempotency(ctx context.Context, account, key string, record []byte, now, expires time.Time) ([]byte, error) {
	var existing []byte
	err := s.update(ctx, func(tx *bolt.Tx) error {
		existing = nil
		ib, xb, err := idemBuckets(tx)
		if err != nil {
			return err
		}
		if err := sweepIdem(ib, xb, now); err != nil {
			return err
		}
		k := cardKey(account, key)
		if v := ib.Get(k); len(v) >= 8 {
			if int64(binary.BigEndian.Uint64(v[:8])) > now.UnixNano() {
				existing = bytes.Clone(v[8:])
				return nil
			}
			if err := dropIdem(ib, xb, k); err != nil {
				return err
			}
		}
		return putIdem(ib, xb, k, record, expires)
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: claim idempotency key: %w", err)
	}
	return existing, nil
}

// FinishIdempotency replaces the record of (account, key) and its expiry.
func (s *Store) FinishIdempotency(ctx context.Context, account, key string, record []byte, expires time.Time) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ib, xb, err := idemBuckets(tx)
		if err != nil {
			return err
		}
		k := cardKey(account, key)
		if err := dropIdem(ib, xb, k); err != nil {
			return err
		}
		return putIdem(ib, xb, k, record, expires)
	})
	if err != nil {
		return fmt.Errorf("boltstore: finish idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotency removes (account, key).
func (s *Store) ReleaseIdempotency(ctx context.Context, account, key string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ib, xb, err := idemBuckets(tx)
		if err != nil {
			return err
		}
		return dropIdem(ib, xb, cardKey(account, key))
	})
	if err != nil {
		return fmt.Errorf("boltstore: release idempotency key: %w", err)
	}
	return nil
}

func idemBuckets(tx *bolt.Tx) (*bolt.Bucket, *bolt.Bucket, error) {
	ib, err := tx.CreateBucketIfNotExists(bucketIdem)
	if err != nil {
		return nil, nil, err
	}
	xb, err := tx.CreateBucketIfNotExists(bucketIdemByExpiry)
	return ib, xb, err
}

// dropIdem removes key k and its expiry entry, if there.
func dropIdem(ib, xb *bolt.Bucket, k []byte) error {
	v := ib.Get(k)
	if len(v) < 8 {
		return nil
	}
	if err := xb.Delete(append(bytes.Clone(v[:8]), k...)); err != nil {
		return err
	}
	return ib.Delete(k)
}

func putIdem(ib, xb *bolt.Bucket, k, record []byte, expires time.Time) error {
	exp := expiryBytes(expires)
	if err := ib.Put(k, append(bytes.Clone(exp), record...)); err != nil {
		return err
	}
	return xb.Put(append(exp, k...), nil)
}

// sweepIdem removes up to idemSweep keys expired at now, oldest first.
func sweepIdem(ib, xb *bolt.Bucket, now time.Time) error {
	var gone [][]byte
	c := xb.Cursor()
	for k, _ := c.First(); k != nil && len(gone) < idemSweep; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
			break
		}
		gone = append(gone, bytes.Clone(k))
	}
	for _, k := range gone {
		if err := xb.Delete(k); err != nil {
			return err
		}
		if err := ib.Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}
