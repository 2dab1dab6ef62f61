package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aliasgate/aliasgate/internal/sleep"
	"github.com/aliasgate/aliasgate/vault"
)

// The migrations, applied in version order. A file is named
// NNNN_name.sql; NNNN is its version (from 1, no gaps). Never edit a
// released file: add the next one.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations parses the embedded files once.
var migrations = sync.OnceValue(func() []migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("pgstore: embedded migrations: %v", err))
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			panic(fmt.Sprintf("pgstore: embedded migration %s is not named NNNN_name.sql", e.Name()))
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("pgstore: embedded migration %s: %v", e.Name(), err))
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("pgstore: embedded migrations: version %d where %d was expected", m.version, i+1))
		}
	}
	return out
})

// SchemaVersion is the newest schema version this binary knows (the
// number of its last migration).
func SchemaVersion() int { return len(migrations()) }

// Migrate connects to url and applies the migrations the database lacks,
// for `aliasgate migrate`. It returns the versions it applied (none when
// the schema was current). Open does the same on start unless
// Options.NoMigrate is set.
func Migrate(ctx context.Context, url string) (applied []int, err error) {
	cfg, where, err := parseConfig(url, Options{})
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect %s: %w: %w", where, vault.ErrUnavailable, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrate(ctx, conn, where)
}

// db is what migrating needs of a connection (*pgx.Conn, *pgxpool.Conn).
type db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// checkOrMigrate brings the schema up to date, or with noMigrate only
// checks that it is.
func checkOrMigrate(ctx context.Context, c db, where string, noMigrate bool) error {
	if !noMigrate {
		_, err := migrate(ctx, c, where)
		return err
	}
	have, err := appliedVersions(ctx, c)
	if pgCode(err) == "42P01" { // no schema_migrations: an empty database
		return fmt.Errorf("pgstore: check schema of %s: %w", where, ErrNoSchema)
	}
	if err != nil {
		return fmt.Errorf("pgstore: check schema of %s: %w", where, wrapUnavailable(err))
	}
	if err := tooNew(have); err != nil {
		return fmt.Errorf("pgstore: check schema of %s: %w", where, err)
	}
	if missing := pending(have); len(missing) > 0 {
		return fmt.Errorf("pgstore: check schema of %s: %w (missing versions %v)", where, ErrSchemaOutdated, missing)
	}
	return nil
}

func wrapUnavailable(err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", vault.ErrUnavailable, err)
	}
	return err
}

// migrate applies the missing migrations, each in its own transaction
// under a row lock on schema_migrations (version 0), so that gateways
// starting together apply each migration once and wait for each other.
func migrate(ctx context.Context, c db, where string) (applied []int, err error) {
	fail := func(err error) ([]int, error) {
		return applied, fmt.Errorf("pgstore: migrate %s: %w", where, wrapUnavailable(err))
	}
	// Fast path, also for roles that may not create tables: nothing to do.
	if have, err := appliedVersions(ctx, c); err == nil {
		if err := tooNew(have); err != nil {
			return fail(err)
		}
		if len(pending(have)) == 0 {
			return nil, nil
		}
	} else if pgCode(err) != "42P01" {
		return fail(err)
	}
	if err := bootstrap(ctx, c); err != nil {
		return fail(err)
	}
	for _, m := range migrations() {
		done, err := applyOne(ctx, c, m)
		if err != nil {
			return fail(err)
		}
		if done {
			applied = append(applied, m.version)
		}
	}
	return applied, nil
}

// bootstrap creates schema_migrations and its lock row. Two processes
// doing it at once can make PostgreSQL's catalog refuse one of them
// (23505 on pg_type, 42P07, 42710): it is simply run again.
func bootstrap(ctx context.Context, c db) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`,
		`INSERT INTO schema_migrations (version, name) VALUES (0, 'lock') ON CONFLICT (version) DO NOTHING`,
	}
	for _, q := range stmts {
		for attempt := 0; ; attempt++ {
			_, err := c.Exec(ctx, q)
			if err == nil {
				break
			}
			if attempt < 5 && (isUniqueViolation(err) || pgCode(err) == "42P07" || pgCode(err) == "42710" || isSerialization(err)) {
				_ = sleep.For(ctx, time.Duration(10*(attempt+1))*time.Millisecond) // an ended ctx fails the Exec
				continue
			}
			return err
		}
	}
	return nil
}

// applyOne applies m unless it is there; done reports that it applied it.
func applyOne(ctx context.Context, c db, m migration) (done bool, err error) {
	for attempt := 0; ; attempt++ {
		done, err = applyOnce(ctx, c, m)
		if err != nil && isSerialization(err) && attempt < maxSerializationRetries {
			_ = sleep.For(ctx, time.Duration(10*(attempt+1))*time.Millisecond) // an ended ctx fails the retry
			continue
		}
		return done, err
	}
}

func applyOnce(ctx context.Context, c db, m migration) (bool, error) {
	tx, err := c.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT version FROM schema_migrations WHERE version = 0 FOR UPDATE`); err != nil {
		return false, fmt.Errorf("lock schema_migrations: %w", err)
	}
	have, err := appliedVersions(ctx, tx)
	if err != nil {
		return false, err
	}
	if err := tooNew(have); err != nil {
		return false, err
	}
	if have[m.version] {
		return false, nil
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
		return false, fmt.Errorf("migration %04d_%s: record version: %w", m.version, m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("migration %04d_%s: commit: %w", m.version, m.name, err)
	}
	return true, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// appliedVersions returns the versions recorded in schema_migrations.
func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rows, err := q.Query(ctx, `SELECT version FROM schema_migrations WHERE version > 0`)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	have := make(map[int]bool, len(vs))
	for _, v := range vs {
		have[int(v)] = true
	}
	return have, nil
}

// tooNew refuses a schema with versions this binary does not know.
func tooNew(have map[int]bool) error {
	newest := 0
	for v := range have {
		newest = max(newest, v)
	}
	if newest > SchemaVersion() {
		return fmt.Errorf("%w: it is at version %d, this aliasgate knows up to %d", ErrSchemaTooNew, newest, SchemaVersion())
	}
	return nil
}

// pending lists the versions this binary has and the database lacks.
func pending(have map[int]bool) []int {
	var out []int
	for _, m := range migrations() {
		if !have[m.version] {
			out = append(out, m.version)
		}
	}
	return out
}
