package pgstore

import (
	"context"
	"errors"
)

// numbersIndexedAlias is the alias of the row (empty key) that marks the
// numbers index built (migrations/0007_numbers.sql).
const numbersIndexedAlias = "indexed"

// AddNumber implements vault.NumberStore: the insert and the read are two
// statements, each committed, so of two gateways adding one key at once
// the one whose read comes later sees the other's row.
func (s *Store) AddNumber(ctx context.Context, key []byte, alias string) ([]string, error) {
	var aliases []string
	err := s.run(ctx, "add number", true, func(ctx context.Context, _ int) error {
		aliases = aliases[:0]
		if len(key) == 0 || !isStorable(alias) {
			return errors.New("number key or alias is not storable")
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO numbers (key, alias) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			key, alias); err != nil {
			return err
		}
		var err error
		aliases, err = s.queryStrings(ctx, `SELECT alias FROM numbers WHERE key = $1 ORDER BY alias`, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return aliases, nil
}

// PutNumbers implements vault.NumberStore: one INSERT of every entry.
func (s *Store) PutNumbers(ctx context.Context, keys [][]byte, aliases []string) error {
	return s.run(ctx, "put numbers", true, func(ctx context.Context, _ int) error {
		for i := range keys {
			if len(keys[i]) == 0 || !isStorable(aliases[i]) {
				return errors.New("number key or alias is not storable")
			}
		}
		_, err := s.pool.Exec(ctx, `INSERT INTO numbers (key, alias) SELECT * FROM unnest($1::bytea[], $2::text[])
			ON CONFLICT DO NOTHING`, keys, aliases)
		return err
	})
}

// RemoveNumber implements vault.NumberStore.
func (s *Store) RemoveNumber(ctx context.Context, key []byte, alias string) error {
	return s.run(ctx, "remove number", true, func(ctx context.Context, _ int) error {
		if len(key) == 0 {
			return nil
		}
		_, err := s.pool.Exec(ctx, `DELETE FROM numbers WHERE key = $1 AND alias = $2`, key, alias)
		return err
	})
}

// NumbersIndexed implements vault.NumberStore.
func (s *Store) NumbersIndexed(ctx context.Context) (bool, error) {
	var ok bool
	err := s.run(ctx, "numbers indexed", true, func(ctx context.Context, _ int) error {
		return s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM numbers WHERE key = '\x'::bytea AND alias = $1)`,
			numbersIndexedAlias).Scan(&ok)
	})
	return ok, err
}

// MarkNumbersIndexed implements vault.NumberStore.
func (s *Store) MarkNumbersIndexed(ctx context.Context) error {
	return s.run(ctx, "mark numbers indexed", true, func(ctx context.Context, _ int) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO numbers (key, alias) VALUES ('\x'::bytea, $1) ON CONFLICT DO NOTHING`,
			numbersIndexedAlias)
		return err
	})
}
