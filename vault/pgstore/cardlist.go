package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/vault"
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

// ReissueCard replaces the account's card id with its new fingerprint (a
// column of the row) and appends update, in one transaction (cards.Store),
// unless another card of the account has fingerprint: then it writes
// nothing and returns that card's id. The UNIQUE (account, fingerprint)
// constraint decides between gateways; a card that took the fingerprint
// meanwhile is returned the same way. The record must still be old, else
// vault.ErrCardChanged and nothing is written.
func (s *Store) ReissueCard(ctx context.Context, account, id, _, fingerprint string, old, record, update []byte) (string, error) {
	var existing string
	err := s.tx(ctx, "reissue card", func(ctx context.Context, tx pgx.Tx) error {
		existing = ""
		if !isStorable(account) || !isStorable(id) {
			return ErrCardNotFound
		}
		err := tx.QueryRow(ctx, `SELECT id FROM cards WHERE account = $1 AND fingerprint = $2 AND id <> $3`,
			account, fingerprint, id).Scan(&existing)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := casCard(ctx, tx, account, id, old, record, true, fingerprint); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO card_updates (account, id, seq, record)
			SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3 FROM card_updates WHERE account = $1 AND id = $2`,
			account, id, nonNil(update))
		return err
	})
	if err != nil {
		return "", err
	}
	return existing, nil
}

// CardsByFingerprint returns, in index key order, the ids of the account's
// cards whose fingerprint index key is fingerprint or starts with
// fingerprint and vault.CardIndexSep (cards.Store). The range
// [fingerprint, fingerprint + '0') ('0' follows '/' in the "C" collation of
// the column) is served by the UNIQUE (account, fingerprint) index; the
// exact condition then drops keys that only extend fingerprint.
func (s *Store) CardsByFingerprint(ctx context.Context, account, fingerprint string) ([]string, error) {
	var ids []string
	err := s.run(ctx, "cards by fingerprint", true, func(ctx context.Context, _ int) error {
		ids = nil
		if !isStorable(account) || !isStorable(fingerprint) || fingerprint == "" {
			return nil
		}
		var err error
		ids, err = s.queryStrings(ctx, `SELECT id FROM cards WHERE account = $1
			AND fingerprint >= $2 AND fingerprint < $3 AND (fingerprint = $2 OR starts_with(fingerprint, $4))
			ORDER BY fingerprint`, account, fingerprint, fingerprint+indexSepNext, fingerprint+vault.CardIndexSep)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// indexSepNext is the character after vault.CardIndexSep ('/') in byte
// order: the exclusive end of the range of one fingerprint's index keys.
const indexSepNext = "0"
