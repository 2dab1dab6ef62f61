package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// DeleteCard removes the account's card id with its card updates (ON
// DELETE CASCADE) and its fingerprint (a column of the row), in one
// statement (cards.Store); ok false when there is no such card.
func (s *Store) DeleteCard(ctx context.Context, account, id, _ string) (bool, error) {
	var ok bool
	err := s.run(ctx, "delete card", true, func(ctx context.Context, _ int) error {
		ok = false
		if !isStorable(account) || !isStorable(id) {
			return nil
		}
		tag, err := s.pool.Exec(ctx, `DELETE FROM cards WHERE account = $1 AND id = $2`, account, id)
		if err != nil {
			return err
		}
		ok = tag.RowsAffected() == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// ListCards returns up to limit of the account's cards whose id sorts
// after after ("" from the first), in id order (cards.Store): one index
// range scan of the primary key.
func (s *Store) ListCards(ctx context.Context, account, after string, limit int) ([]string, [][]byte, error) {
	var ids []string
	var recs [][]byte
	err := s.run(ctx, "list cards", true, func(ctx context.Context, _ int) error {
		ids, recs = nil, nil
		if !isStorable(account) || !isStorable(after) || limit <= 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT id, record FROM cards WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3`,
			account, after, limit)
		if err != nil {
			return err
		}
		var id string
		var rec []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &rec}, func() error {
			ids = append(ids, id)
			recs = append(recs, append([]byte(nil), rec...))
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return ids, recs, nil
}
