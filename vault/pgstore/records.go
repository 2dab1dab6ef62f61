package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aliasgate/aliasgate/vault"
)

// recordCols are the columns scanRecord reads, in its order.
const recordCols = `alias, index_key, format, storage, key_version, ciphertext, classifiers, created_at, expires_at, owner`

// live is the SQL condition of a record that has not expired at $2.
const live = `(expires_at IS NULL OR expires_at > $2)`

type scanner interface{ Scan(dest ...any) error }

// scanRecord reads one row of recordCols.
func scanRecord(row scanner) (*vault.Record, error) {
	var (
		r               vault.Record
		format, storage string
		keyVersion      int64
		classifiers     []string
		created         time.Time
		expires         pgtype.Timestamptz
	)
	if err := row.Scan(&r.Alias, &r.IndexKey, &format, &storage, &keyVersion, &r.Ciphertext, &classifiers, &created, &expires, &r.Owner); err != nil {
		return nil, err
	}
	if keyVersion < 0 || keyVersion > 1<<32-1 {
		return nil, fmt.Errorf("record has key version %d out of range", keyVersion)
	}
	r.Format, r.Storage, r.KeyVersion = vault.Format(format), vault.Storage(storage), uint32(keyVersion)
	if len(classifiers) > 0 {
		r.Classifiers = classifiers
	}
	r.CreatedAt = created.UTC()
	if expires.Valid {
		r.ExpiresAt = expires.Time.UTC()
	}
	return &r, nil
}

// collectRecords reads every row of rows with scanRecord.
func collectRecords(rows pgx.Rows) ([]*vault.Record, error) {
	defer rows.Close()
	var out []*vault.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func classifiersJSON(c []string) string {
	if len(c) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(c) // []string always marshals
	return string(b)
}

// isStorable reports whether s can be a text value: PostgreSQL refuses
// invalid UTF-8 and zero bytes (SQLSTATE 22021), so such a key, which comes
// from a request, not from the vault, cannot name anything stored.
func isStorable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// storable returns the strings of ss that isStorable (ss itself when all
// are).
func storable(ss []string) []string {
	for i, s := range ss {
		if !isStorable(s) {
			out := slices.Clone(ss[:i])
			for _, s := range ss[i+1:] {
				if isStorable(s) {
					out = append(out, s)
				}
			}
			return out
		}
	}
	return ss
}

// Get implements vault.Store: one query for every alias.
func (s *Store) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	out := make([]*vault.Record, len(aliases))
	now := s.now()
	err := s.run(ctx, "get", true, func(ctx context.Context, _ int) error {
		query := storable(aliases)
		if len(query) == 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT `+recordCols+` FROM records WHERE alias = ANY($1) AND `+live, query, now)
		if err != nil {
			return err
		}
		recs, err := collectRecords(rows)
		if err != nil {
			return err
		}
		byAlias := make(map[string]*vault.Record, len(recs))
		for _, r := range recs {
			byAlias[r.Alias] = r
		}
		for i, a := range aliases {
			if r := byAlias[a]; r != nil {
				out[i] = r
				byAlias[a] = r.Clone() // a repeated alias gets its own copy
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LookupIndex implements vault.Store: one query for every key. An index
// key of an expired record counts as absent.
func (s *Store) LookupIndex(ctx context.Context, keys [][]byte) ([]string, error) {
	out := make([]string, len(keys))
	now := s.now()
	err := s.run(ctx, "lookup index", true, func(ctx context.Context, _ int) error {
		if len(keys) == 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT index_key, alias FROM records WHERE index_key = ANY($1) AND `+live, keys, now)
		if err != nil {
			return err
		}
		found := map[string]string{}
		var k []byte
		var a string
		_, err = pgx.ForEachRow(rows, []any{&k, &a}, func() error {
			found[string(k)] = a
			return nil
		})
		if err != nil {
			return err
		}
		for i, key := range keys {
			out[i] = found[string(key)]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LookupRecords implements vault.Store: one query reads the live records
// the index keys point at (the index is a column of the record's row).
func (s *Store) LookupRecords(ctx context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	aliases, recs := make([]string, len(keys)), make([]*vault.Record, len(keys))
	now := s.now()
	err := s.run(ctx, "lookup records", true, func(ctx context.Context, _ int) error {
		if len(keys) == 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT `+recordCols+` FROM records WHERE index_key = ANY($1) AND `+live, keys, now)
		if err != nil {
			return err
		}
		found, err := collectRecords(rows)
		if err != nil {
			return err
		}
		byKey := make(map[string]int, len(found))
		for j, r := range found {
			byKey[string(r.IndexKey)] = j
		}
		given := make([]bool, len(found))
		for i, k := range keys {
			j, ok := byKey[string(k)]
			if !ok {
				continue
			}
			r := found[j]
			if given[j] {
				r = r.Clone() // a repeated key gets its own copy
			}
			given[j] = true
			aliases[i], recs[i] = r.Alias, r
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return aliases, recs, nil
}

var _ vault.Prober = (*Store)(nil)

// Probe implements vault.Prober: one query tells which aliases are live
// records and which index keys point at a live record, without reading the
// records (for vault.Service.Known); an alias counts only when one of owners
// owns it.
func (s *Store) Probe(ctx context.Context, owners, aliases []string, keys [][]byte) ([]bool, []bool, error) {
	found, indexed := make([]bool, len(aliases)), make([]bool, len(keys))
	now := s.now()
	err := s.run(ctx, "probe", true, func(ctx context.Context, _ int) error {
		query := storable(aliases)
		if len(query) == 0 && len(keys) == 0 {
			return nil
		}
		rows, err := s.pool.Query(ctx, `SELECT alias, NULL::bytea FROM records WHERE alias = ANY($1) AND owner = ANY($4) AND `+live+
			` UNION ALL SELECT NULL, index_key FROM records WHERE index_key = ANY($3) AND `+live, query, now, keys, storable(owners))
		if err != nil {
			return err
		}
		foundAliases, foundKeys := map[string]bool{}, map[string]bool{}
		var a *string
		var k []byte
		_, err = pgx.ForEachRow(rows, []any{&a, &k}, func() error {
			if a != nil {
				foundAliases[*a] = true
			} else {
				foundKeys[string(k)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, al := range aliases {
			found[i] = foundAliases[al]
		}
		for i, key := range keys {
			indexed[i] = foundKeys[string(key)]
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return found, indexed, nil
}

// maxPutRounds bounds the rounds of one Put (see put).
const maxPutRounds = 64

// Put implements vault.Store in one transaction. The items go to the
// server in rounds, each one pipelined batch (BEGIN with the first; a
// DELETE of expired records in the way; an INSERT … SELECT FROM unnest(…)
// ON CONFLICT DO NOTHING RETURNING alias of every item of the round), then
// one SELECT of the rows that beat the items not inserted, and a COMMIT:
// two round trips when every item is new, three when some exist. Items of
// one call that share an index key or an alias are put in later rounds, so
// each item sees the earlier ones; a call without such repeats is one
// round.
//
// Two gateways inserting the same index key at once are ordered by the
// UNIQUE index: the second INSERT waits for the first transaction, then
// skips the row, and its SELECT reads the winner's record (PutExisting).
func (s *Store) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	now := s.now()
	var out []vault.PutResult
	err := s.run(ctx, "put", true, func(ctx context.Context, _ int) error {
		out = make([]vault.PutResult, len(items))
		if len(items) == 0 {
			return nil
		}
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		return put(ctx, c.Conn(), items, now, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const (
	sqlPutDeleteExpired = `DELETE FROM records WHERE (alias = ANY($1) OR index_key = ANY($2)) AND expires_at <= $3`
	sqlPutInsert        = `INSERT INTO records (` + recordCols + `)
SELECT u.alias, u.index_key, u.format, u.storage, u.key_version, u.ciphertext, u.classifiers::jsonb, u.created_at, u.expires_at, u.owner
FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::bigint[], $6::bytea[], $7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[])
	AS u (alias, index_key, format, storage, key_version, ciphertext, classifiers, created_at, expires_at, owner)
ON CONFLICT DO NOTHING
RETURNING alias`
	sqlPutLosers = `SELECT ` + recordCols + ` FROM records WHERE alias = ANY($1) OR index_key = ANY($2)`
)

// put runs Put's transaction on conn; out is filled in. On error the
// transaction is rolled back (or the connection, in an unknown state, is
// dropped by the pool on release).
func put(ctx context.Context, conn *pgx.Conn, items []vault.PutItem, now time.Time, out []vault.PutResult) (err error) {
	inTx := false
	defer func() {
		if err != nil && inTx && !conn.IsClosed() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
	}()
	pending := make([]int, len(items))
	for i := range pending {
		pending[i] = i
	}
	known := map[string]*vault.Record{} // index key → the record an earlier item of this call found or wrote
	for round := 0; len(pending) > 0; round++ {
		if round == maxPutRounds {
			return fmt.Errorf("%d items still unresolved after %d rounds", len(pending), maxPutRounds)
		}
		// An index key resolved earlier in this call is PutExisting (the
		// index is checked before the alias).
		rest := pending[:0:0]
		for _, i := range pending {
			if k := items[i].Record.IndexKey; k != nil {
				if r := known[string(k)]; r != nil {
					out[i] = vault.PutResult{Status: vault.PutExisting, Record: r.Clone()}
					continue
				}
			}
			rest = append(rest, i)
		}
		send, next := splitRound(items, rest)
		if len(send) == 0 {
			break
		}
		begin := !inTx
		inTx = true
		inserted, err := insertRound(ctx, conn, items, send, now, begin)
		if err != nil {
			return err
		}
		var losers []int
		for _, i := range send {
			r := items[i].Record
			if !inserted[r.Alias] {
				losers = append(losers, i)
				continue
			}
			out[i] = vault.PutResult{Status: vault.PutCreated, Record: r}
			if r.IndexKey != nil {
				known[string(r.IndexKey)] = r
			}
		}
		if len(losers) > 0 {
			again, err := classifyLosers(ctx, conn, items, losers, now, out, known)
			if err != nil {
				return err
			}
			next = append(next, again...)
			slices.Sort(next)
		}
		pending = next
	}
	if !inTx {
		return nil
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return ambiguousCommit{err}
	}
	inTx = false
	if tag.String() != "COMMIT" {
		return fmt.Errorf("commit: the server rolled the transaction back (%s)", tag)
	}
	return nil
}

// splitRound picks, in order, the items that share neither index key nor
// alias with an earlier item of rest: their outcomes do not depend on each
// other, so one INSERT can decide them all. The others wait for a later
// round.
func splitRound(items []vault.PutItem, rest []int) (send, next []int) {
	keys := make(map[string]bool, len(rest))
	aliases := make(map[string]bool, len(rest))
	for _, i := range rest {
		r := items[i].Record
		clash := aliases[r.Alias]
		aliases[r.Alias] = true
		if r.IndexKey != nil {
			clash = clash || keys[string(r.IndexKey)]
			keys[string(r.IndexKey)] = true
		}
		if clash {
			next = append(next, i)
		} else {
			send = append(send, i)
		}
	}
	return send, next
}

// insertRound sends one round (with BEGIN when begin) and returns the
// aliases that were inserted. Rows go in index-key order, so that two
// transactions inserting overlapping keys take their locks in the same
// order instead of deadlocking.
func insertRound(ctx context.Context, conn *pgx.Conn, items []vault.PutItem, send []int, now time.Time, begin bool) (map[string]bool, error) {
	order := slices.Clone(send)
	slices.SortFunc(order, func(a, b int) int {
		ra, rb := items[a].Record, items[b].Record
		if c := bytes.Compare(ra.IndexKey, rb.IndexKey); c != 0 {
			return c
		}
		return cmpString(ra.Alias, rb.Alias)
	})
	n := len(order)
	var (
		aliases     = make([]string, n)
		keys        = make([][]byte, n)
		formats     = make([]string, n)
		storages    = make([]string, n)
		versions    = make([]int64, n)
		ciphertexts = make([][]byte, n)
		classifiers = make([]string, n)
		created     = make([]pgtype.Timestamptz, n)
		expires     = make([]pgtype.Timestamptz, n)
		owners      = make([]string, n)
		liveKeys    = make([][]byte, 0, n)
	)
	for j, i := range order {
		r := items[i].Record
		aliases[j], keys[j], formats[j], storages[j] = r.Alias, r.IndexKey, string(r.Format), string(r.Storage)
		versions[j], ciphertexts[j], classifiers[j] = int64(r.KeyVersion), r.Ciphertext, classifiersJSON(r.Classifiers)
		created[j], expires[j] = pgtype.Timestamptz{Time: r.CreatedAt, Valid: true}, timestamptz(r.ExpiresAt)
		owners[j] = r.Owner
		if r.Ciphertext == nil {
			ciphertexts[j] = []byte{}
		}
		if r.IndexKey != nil {
			liveKeys = append(liveKeys, r.IndexKey)
		}
	}
	b := &pgx.Batch{}
	if begin {
		b.Queue("BEGIN")
	}
	b.Queue(sqlPutDeleteExpired, aliases, liveKeys, now)
	b.Queue(sqlPutInsert, aliases, keys, formats, storages, versions, ciphertexts, classifiers, created, expires, owners)
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	if begin {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	inserted := make(map[string]bool, n)
	var a string
	if _, err := pgx.ForEachRow(rows, []any{&a}, func() error {
		inserted[a] = true
		return nil
	}); err != nil {
		return nil, err
	}
	return inserted, br.Close()
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// classifyLosers reads the rows that kept the losers out: a live record
// under the item's index key makes it PutExisting, else a live record under
// its alias PutCollision. An item beaten by a row that is gone or expired
// by now (a concurrent delete, a record written already expired) is
// returned to go in the next round.
func classifyLosers(ctx context.Context, conn *pgx.Conn, items []vault.PutItem, losers []int, now time.Time,
	out []vault.PutResult, known map[string]*vault.Record) (again []int, err error) {
	aliases := make([]string, 0, len(losers))
	var keys [][]byte
	for _, i := range losers {
		r := items[i].Record
		aliases = append(aliases, r.Alias)
		if r.IndexKey != nil {
			keys = append(keys, r.IndexKey)
		}
	}
	rows, err := conn.Query(ctx, sqlPutLosers, aliases, keys)
	if err != nil {
		return nil, err
	}
	recs, err := collectRecords(rows)
	if err != nil {
		return nil, err
	}
	byAlias := make(map[string]*vault.Record, len(recs))
	byKey := make(map[string]*vault.Record, len(recs))
	for _, r := range recs {
		if r.Expired(now) {
			continue
		}
		byAlias[r.Alias] = r
		if r.IndexKey != nil {
			byKey[string(r.IndexKey)] = r
		}
	}
	for _, i := range losers {
		r := items[i].Record
		if r.IndexKey != nil {
			if ex := byKey[string(r.IndexKey)]; ex != nil {
				out[i] = vault.PutResult{Status: vault.PutExisting, Record: ex.Clone()}
				known[string(r.IndexKey)] = ex
				continue
			}
		}
		if byAlias[r.Alias] != nil {
			out[i] = vault.PutResult{Status: vault.PutCollision}
			continue
		}
		again = append(again, i)
	}
	return again, nil
}

// Delete implements vault.Store; the index entry is a column of the row and
// goes with it.
func (s *Store) Delete(ctx context.Context, alias, owner string) error {
	now := s.now()
	if !isStorable(alias) || !isStorable(owner) {
		return s.run(ctx, "delete", true, func(context.Context, int) error { return vault.ErrNotFound })
	}
	var n int64
	// Not idempotent: a retry after a lost answer would report ErrNotFound
	// for what the first attempt deleted, so only unsent attempts are retried.
	err := s.run(ctx, "delete", false, func(ctx context.Context, _ int) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM records WHERE alias = $1 AND owner = $3 AND `+live, alias, now, owner)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// Release implements vault.Store: Delete's statement, which keeps a row
// marked handed_out. Under READ COMMITTED a DELETE that waits for the row
// lock of a concurrent HandOut's UPDATE checks its condition again on the
// row that UPDATE wrote, so the mark and the delete are ordered by the row
// lock, whichever gateway runs them. When nothing was deleted, a second
// read tells a handed-out record from a missing one.
func (s *Store) Release(ctx context.Context, alias, owner string) error {
	now := s.now()
	if !isStorable(alias) || !isStorable(owner) {
		return s.run(ctx, "release", true, func(context.Context, int) error { return vault.ErrNotFound })
	}
	var n int64
	var handed bool
	// Not idempotent, as Delete.
	err := s.run(ctx, "release", false, func(ctx context.Context, _ int) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM records WHERE alias = $1 AND owner = $3 AND NOT handed_out AND `+live, alias, now, owner)
		if n = tag.RowsAffected(); err != nil || n > 0 {
			return err
		}
		return s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM records WHERE alias = $1 AND owner = $3 AND handed_out AND `+live+`)`,
			alias, now, owner).Scan(&handed)
	})
	switch {
	case err != nil:
		return err
	case n > 0:
		return nil
	case handed:
		return vault.ErrHandedOut
	}
	return vault.ErrNotFound
}

// HandOut implements vault.Store: one UPDATE of the live rows not yet
// marked, then, when it did not mark them all, a read of which of the
// others are live (marked before). The UPDATE takes each row's lock,
// which orders it with a Release of the row (see Release).
func (s *Store) HandOut(ctx context.Context, aliases []string) ([]bool, error) {
	out := make([]bool, len(aliases))
	now := s.now()
	err := s.run(ctx, "hand out", true, func(ctx context.Context, _ int) error {
		clear(out)
		query := storable(aliases)
		if len(query) == 0 {
			return nil
		}
		seen := map[string]bool{}
		rows, err := s.pool.Query(ctx, `UPDATE records SET handed_out = true WHERE alias = ANY($1) AND NOT handed_out AND `+live+` RETURNING alias`,
			query, now)
		if err != nil {
			return err
		}
		var a string
		if _, err := pgx.ForEachRow(rows, []any{&a}, func() error { seen[a] = true; return nil }); err != nil {
			return err
		}
		if len(seen) < len(query) {
			rows, err := s.pool.Query(ctx, `SELECT alias FROM records WHERE alias = ANY($1) AND handed_out AND `+live, query, now)
			if err != nil {
				return err
			}
			if _, err := pgx.ForEachRow(rows, []any{&a}, func() error { seen[a] = true; return nil }); err != nil {
				return err
			}
		}
		for i, al := range aliases {
			out[i] = seen[al]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetOwner implements vault.Store in one transaction: the row is locked,
// an expired record holding indexKey is dropped, and the row takes the new
// owner and index key (NULL when indexKey is nil or a live record holds it).
// A retry after a lost commit answers ErrNotFound (the owner is no longer
// from); the caller reads the record again.
func (s *Store) SetOwner(ctx context.Context, alias, from, to string, indexKey []byte) error {
	now := s.now()
	if !isStorable(alias) || !isStorable(from) || !isStorable(to) {
		return vault.ErrNotFound
	}
	err := s.tx(ctx, "set owner", func(ctx context.Context, tx pgx.Tx) error {
		var key []byte
		err := tx.QueryRow(ctx, `SELECT index_key FROM records WHERE alias = $1 AND owner = $3 AND `+live+` FOR UPDATE`,
			alias, now, from).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		var newKey []byte
		if indexKey != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM records WHERE index_key = $1 AND alias <> $3 AND expires_at <= $2`, indexKey, now, alias); err != nil {
				return err
			}
			var taken bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM records WHERE index_key = $1 AND alias <> $2)`, indexKey, alias).Scan(&taken); err != nil {
				return err
			}
			if !taken {
				newKey = indexKey
			}
		}
		_, err = tx.Exec(ctx, `UPDATE records SET owner = $2, index_key = $3 WHERE alias = $1`, alias, to, newKey)
		return err
	})
	if errors.Is(err, vault.ErrNotFound) {
		return vault.ErrNotFound
	}
	return err
}

// SetClassifiers implements vault.Store.
func (s *Store) SetClassifiers(ctx context.Context, aliases []string, classifiers []string) error {
	now := s.now()
	var n int64
	err := s.run(ctx, "set classifiers", true, func(ctx context.Context, _ int) error {
		query := storable(aliases)
		if len(query) == 0 {
			return nil
		}
		tag, err := s.pool.Exec(ctx, `UPDATE records SET classifiers = $3::jsonb WHERE alias = ANY($1) AND `+live,
			query, now, classifiersJSON(classifiers))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// GetMeta implements vault.Store.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.run(ctx, "get meta", true, func(ctx context.Context, _ int) error {
		err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			v = nil
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, vault.ErrNotFound
	}
	return v, nil
}

// PutMetaIfAbsent implements vault.Store: an INSERT … ON CONFLICT DO
// NOTHING, and a read of the winner when the key was set.
func (s *Store) PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	var out []byte
	err := s.run(ctx, "put meta", true, func(ctx context.Context, _ int) error {
		if value == nil {
			value = []byte{}
		}
		for range 3 {
			tag, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				out = bytes.Clone(value)
				return nil
			}
			err = s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&out)
			if !errors.Is(err, pgx.ErrNoRows) { // else it was deleted meanwhile: insert again
				return err
			}
		}
		return errors.New("meta key keeps disappearing")
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
