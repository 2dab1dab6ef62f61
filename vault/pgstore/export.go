package pgstore

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aliasgate/aliasgate/vault"
)

// ScanRecords implements vault.Exporter. The alias column has the "C"
// collation, so ORDER BY and > follow byte order.
func (s *Store) ScanRecords(ctx context.Context, after string, limit int) ([]*vault.Record, error) {
	now := s.now()
	var out []*vault.Record
	err := s.run(ctx, "scan records", true, func(ctx context.Context, _ int) error {
		if limit <= 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT `+recordCols+` FROM records
			WHERE alias > $1 AND `+live+` AND storage = $3 ORDER BY alias LIMIT $4`,
			after, now, string(vault.StoragePersistent), limit)
		if err != nil {
			return err
		}
		out, err = collectRecords(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanMeta implements vault.Exporter. The schema version lives in
// schema_migrations, not in meta, so every meta key is returned.
func (s *Store) ScanMeta(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.run(ctx, "scan meta", true, func(ctx context.Context, _ int) error {
		clear(out)
		rows, err := s.pool.Query(ctx, `SELECT key, value FROM meta`)
		if err != nil {
			return err
		}
		var k string
		var v []byte
		_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error {
			out[k] = bytes.Clone(v)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanClients implements vault.Exporter.
func (s *Store) ScanClients(ctx context.Context, after string, limit int) ([]vault.ClientDump, error) {
	var out []vault.ClientDump
	err := s.run(ctx, "scan clients", true, func(ctx context.Context, _ int) error {
		out = nil
		if limit <= 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT id, record FROM clients WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		var d vault.ClientDump
		_, err = pgx.ForEachRow(rows, []any{&d.ID, &d.Record}, func() error {
			out = append(out, vault.ClientDump{ID: d.ID, Record: bytes.Clone(d.Record)})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanCards implements vault.Exporter: one query for the page of cards and
// one for their updates. (account, id) order is CardDump.Key order, since
// neither contains a zero byte.
func (s *Store) ScanCards(ctx context.Context, after string, limit int) ([]vault.CardDump, error) {
	// A cursor without a zero byte sorts before every key of the account it
	// names, which is what (account, "") does.
	account, id, _ := strings.Cut(after, "\x00")
	var out []vault.CardDump
	err := s.run(ctx, "scan cards", true, func(ctx context.Context, _ int) error {
		out = nil
		if limit <= 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT account, id, COALESCE(fingerprint, ''), record FROM cards
			WHERE (account, id) > ($1::text, $2::text) ORDER BY account, id LIMIT $3`, account, id, limit)
		if err != nil {
			return err
		}
		var d vault.CardDump
		_, err = pgx.ForEachRow(rows, []any{&d.Account, &d.ID, &d.Fingerprint, &d.Record}, func() error {
			out = append(out, vault.CardDump{Account: d.Account, ID: d.ID, Fingerprint: d.Fingerprint, Record: bytes.Clone(d.Record)})
			return nil
		})
		if err != nil || len(out) == 0 {
			return err
		}
		first, last := out[0], out[len(out)-1]
		rows, err = s.pool.Query(ctx, `SELECT account, id, record FROM card_updates
			WHERE (account, id) >= ($1::text, $2::text) AND (account, id) <= ($3::text, $4::text)
			ORDER BY account, id, seq`, first.Account, first.ID, last.Account, last.ID)
		if err != nil {
			return err
		}
		byKey := make(map[string]*vault.CardDump, len(out))
		for i := range out {
			byKey[out[i].Key()] = &out[i]
		}
		var acc, cid string
		var u []byte
		_, err = pgx.ForEachRow(rows, []any{&acc, &cid, &u}, func() error {
			if c := byKey[acc+"\x00"+cid]; c != nil {
				c.Updates = append(c.Updates, bytes.Clone(u))
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ImportClient implements vault.Importer.
func (s *Store) ImportClient(ctx context.Context, d vault.ClientDump) error {
	return s.run(ctx, "import client", true, func(ctx context.Context, _ int) error {
		tag, err := s.pool.Exec(ctx, `INSERT INTO clients (id, record) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, d.ID, nonNil(d.Record))
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var rec []byte
		if err := s.pool.QueryRow(ctx, `SELECT record FROM clients WHERE id = $1`, d.ID).Scan(&rec); err != nil {
			return err
		}
		if !bytes.Equal(rec, d.Record) {
			return vault.ErrConflict
		}
		return nil
	})
}

// ImportCard implements vault.Importer, in one transaction.
func (s *Store) ImportCard(ctx context.Context, d vault.CardDump) error {
	return s.tx(ctx, "import card", func(ctx context.Context, tx pgx.Tx) error {
		var rec []byte
		err := tx.QueryRow(ctx, `SELECT record FROM cards WHERE account = $1 AND id = $2`, d.Account, d.ID).Scan(&rec)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if exists && !bytes.Equal(rec, d.Record) {
			return vault.ErrConflict
		}
		if d.Fingerprint != "" {
			var other string
			err := tx.QueryRow(ctx, `SELECT id FROM cards WHERE account = $1 AND fingerprint = $2`, d.Account, d.Fingerprint).Scan(&other)
			switch {
			case err == nil && other != d.ID:
				return vault.ErrConflict
			case err != nil && !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		if exists {
			if d.Fingerprint != "" {
				_, err = tx.Exec(ctx, `UPDATE cards SET fingerprint = $3 WHERE account = $1 AND id = $2`, d.Account, d.ID, d.Fingerprint)
			}
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO cards (account, id, fingerprint, record) VALUES ($1, $2, $3, $4)`,
				d.Account, d.ID, nullable(d.Fingerprint), nonNil(d.Record))
		}
		if isUniqueViolation(err) { // a card written meanwhile took the id or fingerprint
			return vault.ErrConflict
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM card_updates WHERE account = $1 AND id = $2`, d.Account, d.ID); err != nil {
			return err
		}
		if len(d.Updates) == 0 {
			return nil
		}
		updates := make([][]byte, len(d.Updates))
		for i, u := range d.Updates {
			updates[i] = nonNil(u)
		}
		_, err = tx.Exec(ctx, `INSERT INTO card_updates (account, id, seq, record)
			SELECT $1, $2, u.seq, u.record FROM unnest($3::bytea[]) WITH ORDINALITY AS u (record, seq)`,
			d.Account, d.ID, updates)
		return err
	})
}

// sqlRekey locks the rows it changes in alias order first (the locked CTE),
// so two gateways re-encrypting overlapping batches wait for each other
// instead of deadlocking on rows taken in different orders; a row whose key
// version another gateway changed meanwhile drops out (compare-and-swap).
const sqlRekey = `WITH u AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[]) AS u (alias, old_version, new_version, ciphertext)
), locked AS (
  SELECT r.alias FROM records AS r JOIN u ON r.alias = u.alias AND r.key_version = u.old_version
  ORDER BY r.alias FOR UPDATE OF r
)
UPDATE records AS r SET key_version = u.new_version, ciphertext = u.ciphertext
FROM u WHERE r.alias = u.alias AND r.key_version = u.old_version AND r.alias IN (SELECT alias FROM locked)`

// Rekey implements vault.Rekeyer: one UPDATE … FROM unnest(…) that
// changes the rows whose key version is still the old one. Items that
// repeat an alias go in later statements of the same transaction, so each
// sees the ones before it.
func (s *Store) Rekey(ctx context.Context, items []vault.RekeyItem) (int, error) {
	var chunks [][]vault.RekeyItem
	for len(items) > 0 {
		seen := map[string]bool{}
		var chunk, rest []vault.RekeyItem
		for _, it := range items {
			if seen[it.Alias] {
				rest = append(rest, it)
				continue
			}
			seen[it.Alias] = true
			chunk = append(chunk, it)
		}
		chunks, items = append(chunks, chunk), rest
	}
	var n int64
	exec := func(ctx context.Context, q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}) error {
		n = 0
		for _, chunk := range chunks {
			aliases := make([]string, len(chunk))
			olds := make([]int64, len(chunk))
			news := make([]int64, len(chunk))
			cts := make([][]byte, len(chunk))
			for i, it := range chunk {
				aliases[i], olds[i], news[i], cts[i] = it.Alias, int64(it.OldVersion), int64(it.NewVersion), nonNil(it.Ciphertext)
			}
			tag, err := q.Exec(ctx, sqlRekey, aliases, olds, news, cts)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	}
	var err error
	switch len(chunks) {
	case 0:
		err = s.run(ctx, "rekey", true, func(context.Context, int) error { return nil })
	case 1:
		err = s.run(ctx, "rekey", true, func(ctx context.Context, _ int) error { return exec(ctx, s.pool) })
	default:
		err = s.tx(ctx, "rekey", func(ctx context.Context, tx pgx.Tx) error { return exec(ctx, tx) })
	}
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
