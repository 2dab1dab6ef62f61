package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/vault"
)

// idemSweep is how many expired keys a claim removes at most.
const idemSweep = 16

// idemTries is how many times a claim is made when the record it met
// went away before it was read.
const idemTries = 4

// ClaimIdempotency stores record under (account, key) until expires unless
// a record that has not expired at now is there; then it returns that one
// and writes nothing (cards.Store). One INSERT … ON CONFLICT DO UPDATE …
// WHERE expired decides between gateways claiming one key at once. A few
// expired keys are removed first.
//
// The claim is also a lease on the database's clock (migration 0008):
// lease_until = clock_timestamp() + (expires − now), and a record is taken
// over (or swept) only once both its expires_at has passed at now, the
// claimer's clock, and its lease_until on the database's. Gateways' clocks
// may differ by more than a pending claim's minute; the database's is the
// one they share (as for webhook leases, migration 0005).
func (s *Store) ClaimIdempotency(ctx context.Context, account, key string, record []byte, now, expires time.Time) ([]byte, error) {
	var existing []byte
	err := s.run(ctx, "claim idempotency key", false, func(ctx context.Context, _ int) error {
		existing = nil
		if !isStorable(account) || !isStorable(key) {
			return errors.New("account or key is not storable")
		}
		if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE (account, key) IN
			(SELECT account, key FROM idempotency_keys WHERE expires_at <= $1 AND lease_until <= clock_timestamp()
			ORDER BY expires_at LIMIT $2)`, now, idemSweep); err != nil {
			return err
		}
		// The record the INSERT met may go away before it is read (its
		// claimer released it, a sweep removed it once expired): then the
		// key is free and the INSERT is made again, at most idemTries
		// times. It was an error no rule made transient (500), for a race
		// the next statement mends.
		for try := 0; ; try++ {
			tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (account, key, record, expires_at, lease_until)
			VALUES ($1, $2, $3, $4, clock_timestamp() + $6 * interval '1 microsecond')
			ON CONFLICT (account, key) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at,
				lease_until = excluded.lease_until
			WHERE idempotency_keys.expires_at <= $5 AND idempotency_keys.lease_until <= clock_timestamp()`,
				account, key, nonNil(record), expires, now, max(expires.Sub(now), 0).Microseconds())
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				return nil
			}
			err = s.pool.QueryRow(ctx, `SELECT record FROM idempotency_keys WHERE account = $1 AND key = $2`, account, key).Scan(&existing)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if try+1 == idemTries {
				return fmt.Errorf("the idempotency key went away %d times between a claim and its read: %w", idemTries, vault.ErrUnavailable)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// FinishIdempotency replaces the record of (account, key) and its expiry
// (cards.Store); a key that is gone is written again. A finished record
// holds no lease: its expiry (24 h) keeps it.
func (s *Store) FinishIdempotency(ctx context.Context, account, key string, record []byte, expires time.Time) error {
	return s.run(ctx, "finish idempotency key", true, func(ctx context.Context, _ int) error {
		if !isStorable(account) || !isStorable(key) {
			return errors.New("account or key is not storable")
		}
		_, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (account, key, record, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account, key) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at,
				lease_until = '-infinity'`,
			account, key, nonNil(record), expires)
		return err
	})
}

// ReleaseIdempotency removes (account, key) (cards.Store).
func (s *Store) ReleaseIdempotency(ctx context.Context, account, key string) error {
	return s.run(ctx, "release idempotency key", true, func(ctx context.Context, _ int) error {
		if !isStorable(account) || !isStorable(key) {
			return nil
		}
		_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE account = $1 AND key = $2`, account, key)
		return err
	})
}
