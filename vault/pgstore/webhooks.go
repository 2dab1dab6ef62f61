package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/webhooks"
)

// The webhook outbox (webhooks.Store) is the table webhook_deliveries
// (migrations 0004 to 0006). Every gateway on the database runs a
// dispatcher; a claim is one UPDATE over a SELECT … FOR UPDATE SKIP
// LOCKED, so concurrent claims take disjoint rows, and a claimed row's due
// moves to the end of its lease, so it is not due again until then. The
// lease also runs on the database's clock (lease_until: clock_timestamp()
// plus until − now at the claim), and a claim takes a row only once both
// have passed: gateways whose clocks are apart by more than the lease
// margin cannot take each other's live leases (due alone is the claimer's
// clock). An update that releases the lease (LeaseOwner "") resets
// lease_until.

var _ webhooks.Store = (*Store)(nil)

// scanDelivery reads record, due and lease_owner: the columns are the
// truth for the last two (a claim does not rewrite the record).
func scanDelivery(row pgx.Row) (webhooks.Delivery, error) {
	var rec []byte
	var d webhooks.Delivery
	var due time.Time
	var owner string
	if err := row.Scan(&rec, &due, &owner); err != nil {
		return d, err
	}
	if err := json.Unmarshal(rec, &d); err != nil {
		return d, fmt.Errorf("delivery record: %w", err)
	}
	d.Due, d.LeaseOwner = due.UTC(), owner
	return d, nil
}

// collectDeliveries reads every row of rows (record, due, lease_owner) and
// closes them; none is a nil slice.
func collectDeliveries(rows pgx.Rows) ([]webhooks.Delivery, error) {
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Delivery, error) { return scanDelivery(r) })
	if len(ds) == 0 {
		ds = nil
	}
	return ds, err
}

func checkDelivery(d webhooks.Delivery) error {
	if !isStorable(d.ID) || !isStorable(d.Account) || !isStorable(d.LeaseOwner) {
		return errors.New("delivery id, account or owner is not storable")
	}
	return nil
}

// AddDeliveries implements webhooks.Store: one transaction.
func (s *Store) AddDeliveries(ctx context.Context, ds []webhooks.Delivery) error {
	return s.run(ctx, "add webhook deliveries", true, func(ctx context.Context, _ int) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			for _, d := range ds {
				if err := checkDelivery(d); err != nil {
					return err
				}
				rec, err := json.Marshal(d)
				if err != nil {
					return err
				}
				// ON CONFLICT DO NOTHING: a retried transaction whose commit
				// did land adds nothing twice.
				if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, account, state, due, lease_owner, updated_at, record, endpoint)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
					d.ID, d.Account, string(d.State), d.Due, d.LeaseOwner, d.UpdatedAt, rec, d.Endpoint); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// ClaimDeliveries implements webhooks.Store.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, max int) ([]webhooks.Delivery, error) {
	return s.ClaimDeliveriesSkipping(ctx, owner, now, until, max, nil)
}

// ClaimDeliveriesSkipping implements webhooks.EndpointSkipper (the column
// endpoint, migration 0006).
func (s *Store) ClaimDeliveriesSkipping(ctx context.Context, owner string, now, until time.Time, max int, skip []string) ([]webhooks.Delivery, error) {
	if skip == nil {
		skip = []string{}
	}
	var out []webhooks.Delivery
	err := s.run(ctx, "claim webhook deliveries", false, func(ctx context.Context, _ int) error {
		out = nil
		if !isStorable(owner) {
			return errors.New("owner is not storable")
		}
		lease := until.Sub(now).Microseconds()
		if lease < 0 {
			lease = 0
		}
		rows, err := s.pool.Query(ctx, `UPDATE webhook_deliveries d SET lease_owner = $1, due = $3,
				lease_until = clock_timestamp() + $5 * interval '1 microsecond'
			FROM (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND due <= $2 AND lease_until <= clock_timestamp()
				AND NOT (endpoint = ANY($6)) ORDER BY due LIMIT $4 FOR UPDATE SKIP LOCKED) c
			WHERE d.id = c.id RETURNING d.record, d.due, d.lease_owner`, owner, now, until, max, lease, skip)
		if err != nil {
			return err
		}
		out, err = collectDeliveries(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order: oldest first (ids sort by creation).
	slices.SortFunc(out, func(a, b webhooks.Delivery) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateDelivery implements webhooks.Store.
func (s *Store) UpdateDelivery(ctx context.Context, owner string, d webhooks.Delivery) error {
	return s.run(ctx, "update webhook delivery", false, func(ctx context.Context, _ int) error {
		if err := checkDelivery(d); err != nil {
			return err
		}
		rec, err := json.Marshal(d)
		if err != nil {
			return err
		}
		tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET state = $3, due = $4, lease_owner = $5, updated_at = $6, record = $7,
				lease_until = CASE WHEN $5 = '' THEN '-infinity' ELSE lease_until END
			WHERE id = $1 AND lease_owner = $2 AND state = 'pending'`,
			d.ID, owner, string(d.State), d.Due, d.LeaseOwner, d.UpdatedAt, rec)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return webhooks.ErrLeaseLost
		}
		return nil
	})
}

// GetDelivery implements webhooks.Store.
func (s *Store) GetDelivery(ctx context.Context, id string) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	err := s.run(ctx, "get webhook delivery", true, func(ctx context.Context, _ int) error {
		if !isStorable(id) {
			return webhooks.ErrNotFound
		}
		var err error
		d, err = scanDelivery(s.pool.QueryRow(ctx, `SELECT record, due, lease_owner FROM webhook_deliveries WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return webhooks.ErrNotFound
		}
		return err
	})
	return d, err
}

// ListDeliveries implements webhooks.Store.
func (s *Store) ListDeliveries(ctx context.Context, f webhooks.Filter) ([]webhooks.Delivery, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = webhooks.DefaultLimit
	}
	var out []webhooks.Delivery
	err := s.run(ctx, "list webhook deliveries", true, func(ctx context.Context, _ int) error {
		out = nil
		if !isStorable(f.Account) || !isStorable(f.Before) || !isStorable(string(f.State)) {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT record, due, lease_owner FROM webhook_deliveries
			WHERE ($1 = '' OR account = $1) AND ($2 = '' OR state = $2) AND ($3 = '' OR id < $3)
			ORDER BY id DESC LIMIT $4`, f.Account, string(f.State), f.Before, limit)
		if err != nil {
			return err
		}
		out, err = collectDeliveries(rows)
		return err
	})
	return out, err
}

// RedeliverDelivery implements webhooks.Store.
func (s *Store) RedeliverDelivery(ctx context.Context, id string, now time.Time) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	err := s.run(ctx, "redeliver webhook delivery", false, func(ctx context.Context, _ int) error {
		if !isStorable(id) {
			return webhooks.ErrNotFound
		}
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			d, err = scanDelivery(tx.QueryRow(ctx, `SELECT record, due, lease_owner FROM webhook_deliveries WHERE id = $1 FOR UPDATE`, id))
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return webhooks.ErrNotFound
			case err != nil:
				return err
			case d.State == webhooks.StatePending:
				return webhooks.ErrNotFinished
			}
			d.State, d.Due, d.UpdatedAt, d.RedeliveredAt, d.LeaseOwner = webhooks.StatePending, now, now, now, ""
			rec, err := json.Marshal(d)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET state = $2, due = $3, lease_owner = '', lease_until = '-infinity',
				updated_at = $3, record = $4 WHERE id = $1`,
				id, string(d.State), now, rec)
			return err
		})
	})
	return d, err
}

// PruneDeliveries implements webhooks.Store.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, max int) (int, error) {
	n := 0
	err := s.run(ctx, "prune webhook deliveries", true, func(ctx context.Context, _ int) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE id IN
			(SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2)`, before, max)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, err
}

// PendingDeliveries implements webhooks.Store.
func (s *Store) PendingDeliveries(ctx context.Context) (int, error) {
	n := 0
	err := s.run(ctx, "count pending webhook deliveries", true, func(ctx context.Context, _ int) error {
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&n)
	})
	return n, err
}
