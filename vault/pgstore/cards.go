package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aliasgate/aliasgate/vault"
)

// PutClient stores an API client record (auth.ClientStore); an existing id
// is never overwritten (ErrClientExists).
func (s *Store) PutClient(ctx context.Context, id string, record []byte) error {
	return s.run(ctx, "put client", false, func(ctx context.Context, _ int) error {
		tag, err := s.pool.Exec(ctx, `INSERT INTO clients (id, record) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, nonNil(record))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrClientExists
		}
		return nil
	})
}

// GetClient returns an API client record (auth.ClientStore).
func (s *Store) GetClient(ctx context.Context, id string) ([]byte, bool, error) {
	var rec []byte
	err := s.run(ctx, "get client", true, func(ctx context.Context, _ int) error {
		rec = nil
		if !isStorable(id) {
			return nil
		}
		err := s.pool.QueryRow(ctx, `SELECT record FROM clients WHERE id = $1`, id).Scan(&rec)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return rec, rec != nil, nil
}

// UpdateClient replaces the API client record under id with record when
// the stored one is still old, byte for byte (auth.ClientUpdater: revoking
// a client or rotating its secret). swapped is false when there is no
// record under id or it is another. One UPDATE … WHERE record = old, so
// two gateways changing one client at once cannot both win.
func (s *Store) UpdateClient(ctx context.Context, id string, old, record []byte) (swapped bool, err error) {
	err = s.run(ctx, "update client", false, func(ctx context.Context, _ int) error {
		swapped = false
		if !isStorable(id) {
			return nil
		}
		tag, err := s.pool.Exec(ctx, `UPDATE clients SET record = $3 WHERE id = $1 AND record = $2`, id, nonNil(old), nonNil(record))
		if err != nil {
			return err
		}
		swapped = tag.RowsAffected() == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return swapped, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullable maps "" to SQL NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// PutCard stores a card record (cards.Store) unless the account has a card
// with the same fingerprint; then it returns that card's id and writes
// nothing. The UNIQUE (account, fingerprint) constraint decides between
// gateways adding the same card at once.
func (s *Store) PutCard(ctx context.Context, account, id, fingerprint string, record []byte) (string, error) {
	var existing string
	err := s.run(ctx, "put card", true, func(ctx context.Context, _ int) error {
		for range 3 {
			existing = ""
			tag, err := s.pool.Exec(ctx, `INSERT INTO cards (account, id, fingerprint, record) VALUES ($1, $2, $3, $4)
				ON CONFLICT (account, fingerprint) DO NOTHING`, account, id, nullable(fingerprint), nonNil(record))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				return nil
			}
			err = s.pool.QueryRow(ctx, `SELECT id FROM cards WHERE account = $1 AND fingerprint = $2`, account, fingerprint).Scan(&existing)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // the other card went away meanwhile: insert again
			}
			if err == nil && existing == id {
				existing = "" // ids are random: an earlier attempt of this call wrote it
			}
			return err
		}
		return errors.New("the card with this fingerprint keeps disappearing")
	})
	if err != nil {
		return "", err
	}
	return existing, nil
}

// CardByFingerprint returns the id of the account's card under exactly
// the index key fingerprint; ok false when there is none. The cards API
// asks CardsByFingerprint, which also finds the cards made with duplicate
// detection off.
func (s *Store) CardByFingerprint(ctx context.Context, account, fingerprint string) (string, bool, error) {
	var id string
	var ok bool
	err := s.run(ctx, "card by fingerprint", true, func(ctx context.Context, _ int) error {
		if !isStorable(account) || !isStorable(fingerprint) {
			ok = false
			return nil
		}
		err := s.pool.QueryRow(ctx, `SELECT id FROM cards WHERE account = $1 AND fingerprint = $2`, account, fingerprint).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			ok = false
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return "", false, err
	}
	return id, ok, nil
}

// GetCard returns a card record (cards.Store).
func (s *Store) GetCard(ctx context.Context, account, id string) ([]byte, bool, error) {
	var rec []byte
	err := s.run(ctx, "get card", true, func(ctx context.Context, _ int) error {
		rec = nil
		if !isStorable(account) || !isStorable(id) {
			return nil
		}
		err := s.pool.QueryRow(ctx, `SELECT record FROM cards WHERE account = $1 AND id = $2`, account, id).Scan(&rec)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return rec, rec != nil, nil
}

// UpdateCard replaces a card record that is still old and appends one
// card update, in one transaction (cards.Store); vault.ErrCardChanged when
// the record is not old. The UPDATE locks the card's row, so updates of
// one card from several gateways are numbered one after the other.
func (s *Store) UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error {
	return s.tx(ctx, "update card", func(ctx context.Context, tx pgx.Tx) error {
		if !isStorable(account) || !isStorable(id) {
			return ErrCardNotFound
		}
		if err := casCard(ctx, tx, account, id, old, record, false, ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO card_updates (account, id, seq, record)
			SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3 FROM card_updates WHERE account = $1 AND id = $2`,
			account, id, nonNil(update))
		return err
	})
}

// ReplaceCard replaces an existing card record that is still old without
// recording a card update (cards.Store); vault.ErrCardChanged when it is
// not.
func (s *Store) ReplaceCard(ctx context.Context, account, id string, old, record []byte) error {
	// Not idempotent: a write applied whose answer was lost would, run
	// again, find its own record and answer vault.ErrCardChanged.
	return s.run(ctx, "replace card", false, func(ctx context.Context, _ int) error {
		if !isStorable(account) || !isStorable(id) {
			return ErrCardNotFound
		}
		return casCard(ctx, s.pool, account, id, old, record, false, "")
	})
}

// execer runs statements (the pool or a transaction).
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// casCard sets the record (and with setFP the fingerprint index key) of card (account, id) when its record is still old: the
// comparison is in the UPDATE's WHERE, so it holds against every gateway.
// No row updated: ErrCardNotFound when the card is gone, else
// vault.ErrCardChanged.
func casCard(ctx context.Context, db execer, account, id string, old, record []byte, setFP bool, fingerprint string) error {
	var tag pgconn.CommandTag
	var err error
	if !setFP {
		tag, err = db.Exec(ctx, `UPDATE cards SET record = $3 WHERE account = $1 AND id = $2 AND record = $4`,
			account, id, nonNil(record), nonNil(old))
	} else {
		tag, err = db.Exec(ctx, `UPDATE cards SET record = $3, fingerprint = $5 WHERE account = $1 AND id = $2 AND record = $4`,
			account, id, nonNil(record), nonNil(old), nullable(fingerprint))
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var one int
	err = db.QueryRow(ctx, `SELECT 1 FROM cards WHERE account = $1 AND id = $2`, account, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrCardNotFound
	}
	if err != nil {
		return err
	}
	return vault.ErrCardChanged
}

// CardUpdates returns a card's updates in the order they were made
// (cards.Store).
func (s *Store) CardUpdates(ctx context.Context, account, id string) ([][]byte, error) {
	var out [][]byte
	err := s.run(ctx, "card updates", true, func(ctx context.Context, _ int) error {
		if !isStorable(account) || !isStorable(id) {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT record FROM card_updates WHERE account = $1 AND id = $2 ORDER BY seq`, account, id)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
