// Package pgstore is a vault.Store on PostgreSQL (jackc/pgx/v5), shared by
// any number of gateway processes. It keeps the same content as boltstore
// in tables (records, meta, clients, cards, card_updates; see
// migrations/0001_init.sql) and also implements the client and card storage
// (auth.ClientStore, cards.Store), vault.Exporter, vault.Importer and
// vault.Rekeyer.
//
// Aliases are deterministic across processes: a record's HMAC index key is
// a UNIQUE column, records are written with INSERT … ON CONFLICT DO NOTHING
// and the loser of a race reads the winner's record (PutExisting). A Put of
// N items costs a constant number of round trips (one pipelined batch with
// the INSERT of every item, one SELECT when some items lost, one COMMIT),
// and Get and LookupIndex are one query with = ANY($1).
//
// Open applies the embedded migrations (migrations/NNNN_name.sql), each in
// its own transaction, serialized across processes by a row lock on
// schema_migrations, and refuses a database whose schema is newer than this
// binary knows (ErrSchemaTooNew). The SQL sticks to what CockroachDB and
// YugabyteDB also accept: see README.md.
//
// Failures to reach the server wrap vault.ErrUnavailable; refusals no
// retry mends (privileges, login, corrupted data: isRefused) wrap
// vault.ErrStoreRefused. The pool
// reconnects by itself; a call that meets a connection the server dropped
// is retried once when that is safe, so a restarted server costs callers at
// most one error; a session that answers read-only makes it drop its
// connections (a session stays read-only once started so). Every call is bounded by Options.OpTimeout (default 10 s)
// as well as by its context: a server or network path that stops answering
// without closing the connection (dropped packets, a hung server) fails
// calls with vault.ErrUnavailable instead of holding them, and the requests
// waiting on them, until the kernel gives the connection up.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aliasgate/aliasgate/internal/sleep"
	"github.com/aliasgate/aliasgate/vault"
)

// Errors callers and users act on.
var (
	// ErrSchemaTooNew: the database was migrated by a newer aliasgate.
	ErrSchemaTooNew = errors.New("pgstore: the database schema is newer than this aliasgate understands (upgrade aliasgate)")
	// ErrSchemaOutdated: Options.NoMigrate was set and the database lacks
	// migrations this aliasgate needs.
	ErrSchemaOutdated = errors.New("pgstore: the database schema is older than this aliasgate needs (run `aliasgate migrate`)")
	// ErrNoSchema: Options.NoMigrate was set and the database has no
	// aliasgate schema at all (an empty database); it is also
	// ErrSchemaOutdated.
	ErrNoSchema = fmt.Errorf("%w (it has none)", ErrSchemaOutdated)
	// ErrClientExists: PutClient of an id already in use.
	ErrClientExists = errors.New("pgstore: client id already exists")
	// ErrCardNotFound: UpdateCard or ReplaceCard of a card that does not
	// exist (in that account).
	ErrCardNotFound = errors.New("pgstore: card not found")
)

// Options tunes Open. Zero values take the defaults.
type Options struct {
	// Now is the clock records expire by; default time.Now. Expiry is
	// compared with this clock's time (sent as a parameter), never with the
	// server's now().
	Now func() time.Time
	// MaxConns bounds the pool; default the URL's pool_max_conns, else 16.
	MaxConns int32
	// ConnectTimeout bounds each new connection; default the URL's
	// connect_timeout, else 5 s.
	ConnectTimeout time.Duration
	// NoMigrate makes Open only check the schema version (ErrSchemaOutdated
	// when migrations are missing), for deployments that run
	// `aliasgate migrate` with a more privileged role.
	NoMigrate bool
	// SweepInterval, when positive, deletes expired records in the
	// background at this interval. Expired records are never returned
	// either way; sweeping only reclaims their space.
	SweepInterval time.Duration
	// Tracer, when set, observes every query (pgx.QueryTracer; also
	// pgx.BatchTracer when it implements it), for metrics and tests.
	Tracer pgx.QueryTracer
	// OpTimeout bounds each call of the store (its queries, a wait for a
	// pooled connection, its retries), on top of the caller's context:
	// default DefaultOpTimeout, negative for no bound but the context's.
	// A call past it fails with vault.ErrUnavailable and its connection is
	// closed.
	OpTimeout time.Duration
}

// DefaultOpTimeout is Options.OpTimeout when unset: far above what any
// call takes on a server that answers (a page of a vault copy, 10,000
// records, included), and short enough that a request waiting on a server
// that stopped answering is refused (503) before its client gives up.
const DefaultOpTimeout = 10 * time.Second

// Store is a vault.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	now       func() time.Time
	where     string        // the server, for messages (no password)
	opTimeout time.Duration // bounds each call (run); 0: none

	// readOnlyReset is when run last dropped the pool's connections for a
	// read-only answer (UnixNano; resetReadOnly).
	readOnlyReset atomic.Int64

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

var (
	_ vault.Store    = (*Store)(nil)
	_ vault.Exporter = (*Store)(nil)
	_ vault.Importer = (*Store)(nil)
	_ vault.Rekeyer  = (*Store)(nil)
)

// defaultMaxConns is the pool size when neither Options nor the URL set one.
const defaultMaxConns = 16

// Open connects to the PostgreSQL server at url (postgres://… or a
// key=value connection string), applies the migrations this binary has
// and the database lacks, and returns the store. An unreachable server
// fails at once with an error that wraps vault.ErrUnavailable and names the
// server without its password.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, where, err := parseConfig(url, opts)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect %s: %w: %w", where, vault.ErrUnavailable, err)
	}
	if err := checkOrMigrate(ctx, pool, where, opts.NoMigrate); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, now: opts.Now, where: where, opTimeout: opts.OpTimeout, stop: make(chan struct{})}
	switch {
	case s.opTimeout == 0:
		s.opTimeout = DefaultOpTimeout
	case s.opTimeout < 0:
		s.opTimeout = 0
	}
	if opts.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweeper(opts.SweepInterval)
	}
	return s, nil
}

// parseConfig parses url into a pool configuration with the options
// applied, and returns how to name the server in messages.
func parseConfig(connString string, opts Options) (*pgxpool.Config, string, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, "", fmt.Errorf("pgstore: connect %s: invalid connection string: %s", redact(connString), parseReason(err))
	}
	cc := cfg.ConnConfig
	where := (&url.URL{Scheme: "postgres", User: url.User(cc.User), Host: net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port)), Path: "/" + cc.Database}).String()
	if strings.HasPrefix(cc.Host, "/") { // a Unix socket directory
		where = fmt.Sprintf("postgres://%s@[%s]:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(connString, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	if opts.ConnectTimeout > 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	} else if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 5 * time.Second
	}
	if opts.Tracer != nil {
		cc.Tracer = opts.Tracer
	}
	return cfg, where, nil
}

// redact returns a connection string fit for a message: a URL without its
// password and query (which may hold one); a key=value string not at all.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(connection string not shown)"
	}
	u.RawQuery, u.Fragment = "", ""
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// parseReason says why a connection string was refused without quoting it:
// url.Parse errors quote the whole URL, password included.
func parseReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if inner := pe.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return "malformed"
}

// Where returns the server the store is connected to, without password.
func (s *Store) Where() string { return s.where }

// StoreName implements vault.StoreNamer: "postgres", for metrics.
func (*Store) StoreName() string { return "postgres" }

// ErrReadOnly: the server answers but takes no writes (a standby, or a
// database set read-only); it is also vault.ErrUnavailable.
var ErrReadOnly = fmt.Errorf("the server is read-only (a standby?): %w", vault.ErrUnavailable)

// SameStore reports whether s and o are one store, however their URLs
// spell it (another name or address of the server, other parameters, a
// pooler in front): the same database, where s takes a transaction-level
// advisory lock on a random key that o then cannot take (advisory locks
// are per database), and the same records table there (stores in other
// schemas of one database, search_path, are other stores). Nothing is
// written. An error means it could not tell (a server without advisory
// locks).
func (s *Store) SameStore(ctx context.Context, o *Store) (bool, error) {
	const q = `SELECT pg_try_advisory_xact_lock($1), to_regclass('records')::oid`
	for range 3 { // a key another session holds (a draw in 2^64) is drawn again
		key := rand.Int64()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return false, fmt.Errorf("pgstore: same store: %w", err)
		}
		var mine, theirs bool
		var table, theirTable *uint32
		err = tx.QueryRow(ctx, q, key).Scan(&mine, &table)
		if err == nil && mine {
			err = o.pool.QueryRow(ctx, q, key).Scan(&theirs, &theirTable)
		}
		tx.Rollback(ctx)
		if err != nil {
			return false, fmt.Errorf("pgstore: same store: %w", err)
		}
		if mine {
			return !theirs && table != nil && theirTable != nil && *table == *theirTable, nil
		}
	}
	return false, errors.New("pgstore: same store: no advisory lock could be taken")
}

// Ping checks that the server answers and takes writes (for /readyz): a
// standby, which a multi-host URL or a failover can leave the pool on,
// answers every read while refusing every write, so it is ErrReadOnly.
func (s *Store) Ping(ctx context.Context) error {
	return s.run(ctx, "ping", true, func(ctx context.Context, _ int) error {
		var ro string
		if err := s.pool.QueryRow(ctx, `SHOW transaction_read_only`).Scan(&ro); err != nil {
			return err
		}
		if ro != "off" {
			return ErrReadOnly
		}
		var missing int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) AS t
			WHERE NOT (has_table_privilege(t, 'SELECT') AND has_table_privilege(t, 'INSERT'))`, storeTables).Scan(&missing); err != nil {
			return err
		}
		if missing > 0 {
			return errNoPrivilege
		}
		return nil
	})
}

// storeTables are the tables the store reads and writes (migrations/);
// Ping checks that the role may SELECT and INSERT in each (every one is
// read and written; UPDATE and DELETE are not asked of all), one privilege
// a call: has_table_privilege with a list is true when any one is held.
var storeTables = []string{"records", "meta", "clients", "cards", "card_updates", "idempotency_keys",
	"webhook_deliveries", "numbers"}

// errNoPrivilege: Ping found a table of storeTables the role may not read
// or write (privileges revoked, a role other than the one that migrated).
var errNoPrivilege = fmt.Errorf("pgstore: the role lacks SELECT or INSERT on a table of the store: %w", vault.ErrStoreRefused)

// Close stops the sweeper and closes the pool, waiting for calls in
// progress. Later calls return vault.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// Sweep deletes expired records (in chunks, each its own statement) and
// returns how many it deleted.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	const chunk = 1000
	var total int64
	for {
		var n int64
		err := s.run(ctx, "sweep", true, func(ctx context.Context, _ int) error {
			tag, err := s.pool.Exec(ctx, `DELETE FROM records WHERE alias IN
				(SELECT alias FROM records WHERE expires_at <= $1 LIMIT `+fmt.Sprint(chunk)+`)`, s.now())
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < chunk {
			return total, err
		}
	}
}

func (s *Store) sweeper(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			s.Sweep(ctx) // best effort; the next tick tries again
			cancel()
		}
	}
}

// Retries: a statement the server aborted for serialization (40001) or a
// deadlock (40P01) is run again a few times; one that met a dead connection
// is run again once when that cannot apply it twice.
const (
	maxSerializationRetries = 8
	maxConnRetries          = 1
)

// run calls fn, retrying as above, within the store's OpTimeout, and wraps
// its error for op. idempotent says that running fn twice is harmless even
// when the first run may have been applied (fn gets the attempt number to
// tell a retry).
func (s *Store) run(ctx context.Context, op string, idempotent bool, fn func(ctx context.Context, attempt int) error) error {
	if s.closed.Load() {
		return fmt.Errorf("pgstore: %s: %w", op, vault.ErrClosed)
	}
	if s.opTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.opTimeout, errOpTimeout{s.opTimeout})
		defer cancel()
	}
	connRetries, serRetries := 0, 0
	for attempt := 0; ; attempt++ {
		err := fn(ctx, attempt)
		if err == nil {
			return nil
		}
		switch {
		case ctx.Err() != nil || s.closed.Load():
		case isSerialization(err) && serRetries < maxSerializationRetries:
			serRetries++
			_ = sleep.For(ctx, time.Duration(1+rand.IntN(5<<serRetries))*time.Millisecond) // an ended ctx is seen above
			continue
		case connRetries < maxConnRetries && isConnErr(err) && !isAmbiguousCommit(err) &&
			(idempotent || pgconn.SafeToRetry(err) || isTerminated(err)):
			// What ended this connection (a restart, a failover, a network
			// cut) has most likely ended the idle ones too: drop them all
			// (connections in use are closed when released), so the retry
			// and the calls after it dial afresh instead of each meeting a
			// dead connection.
			s.pool.Reset()
			connRetries++
			continue
		}
		if isReadOnly(err) {
			s.resetReadOnly()
		}
		if cause := context.Cause(ctx); errors.As(cause, new(errOpTimeout)) {
			return fmt.Errorf("%w (%w)", s.wrap(op, err), cause)
		}
		return s.wrap(op, err)
	}
}

// isReadOnly: the session refused a write (SQLSTATE 25006) or Ping found it
// read-only.
func isReadOnly(err error) bool { return errors.Is(err, ErrReadOnly) || pgCode(err) == "25006" }

// readOnlyResetEvery bounds how often resetReadOnly drops the pool.
const readOnlyResetEvery = time.Second

// resetReadOnly drops the pool's connections (those in use when they are
// released), at most once every readOnlyResetEvery, after a session
// answered read-only. A session keeps the read-only state it started with
// (a database's default_transaction_read_only applies to new sessions; a
// multi-host URL picks its server at connect time), so without new
// connections the pool went on refusing every write for as long as it kept
// them (up to an hour) after the database was writable again or the
// primary was back.
func (s *Store) resetReadOnly() {
	now := s.now().UnixNano()
	last := s.readOnlyReset.Load()
	if now-last < int64(readOnlyResetEvery) || !s.readOnlyReset.CompareAndSwap(last, now) {
		return
	}
	s.pool.Reset()
}

// errOpTimeout is the cause of a call's context ended by OpTimeout.
type errOpTimeout struct{ d time.Duration }

func (e errOpTimeout) Error() string {
	return fmt.Sprintf("the server did not answer within %v", e.d)
}

// wrap gives err the op's context and the vault sentinel it stands for.
func (s *Store) wrap(op string, err error) error {
	var ce ambiguousCommit
	if errors.As(err, &ce) {
		err = ce.err
	}
	switch {
	case s.closed.Load():
		return fmt.Errorf("pgstore: %s: %w", op, vault.ErrClosed)
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrConflict), errors.Is(err, ErrCardNotFound),
		errors.Is(err, ErrClientExists):
		return fmt.Errorf("pgstore: %s: %w", op, err)
	case isRefused(err):
		return fmt.Errorf("pgstore: %s: %w: %w", op, vault.ErrStoreRefused, err)
	case isUnavailable(err):
		return fmt.Errorf("pgstore: %s: %w: %w", op, vault.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// ambiguousCommit marks an error of COMMIT: unless the server says it
// aborted the transaction, it may have committed, so it is not retried.
type ambiguousCommit struct{ err error }

func (e ambiguousCommit) Error() string { return "commit: " + e.err.Error() }
func (e ambiguousCommit) Unwrap() error { return e.err }

func isAmbiguousCommit(err error) bool {
	var ce ambiguousCommit
	return errors.As(err, &ce) && !isSerialization(ce.err)
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isSerialization: the server aborted the transaction and asks for a retry.
func isSerialization(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

// isTerminated: the server ended the session (administrator command, crash
// recovery, shutdown). Nothing of an unfinished statement was committed.
func isTerminated(err error) bool {
	switch pgCode(err) {
	case "57P01", "57P02", "57P03":
		return true
	}
	return false
}

// isConnErr: the connection failed or the server ended the session.
func isConnErr(err error) bool {
	if isTerminated(err) || strings.HasPrefix(pgCode(err), "08") {
		return true
	}
	if pgCode(err) != "" {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		strings.Contains(err.Error(), "conn closed")
}

// isUnavailable: the operation failed because of the server or the
// network, not because of what was asked; it may succeed later.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || isConnErr(err) {
		return true
	}
	c := pgCode(err)
	switch {
	case c == "":
		return false
	case isRefused(err):
		return false
	case strings.HasPrefix(c, "08"), strings.HasPrefix(c, "40"), strings.HasPrefix(c, "53"), strings.HasPrefix(c, "57"),
		strings.HasPrefix(c, "58"), strings.HasPrefix(c, "XX"):
		return true
	case c == "25006", c == "55P03", c == "55006": // read-only (a standby), lock not available, object in use
		return true
	}
	return false
}

// isRefused: the server refuses the gateway until an operator acts
// (vault.ErrStoreRefused): the role lacks a privilege (42501) or cannot
// log in (class 28: a wrong password, a role dropped or set NOLOGIN, met
// when the pool connects), the database is gone (3D000), data or an index
// is corrupted (XX001, XX002), a file of the database is missing or
// duplicated (58P01, 58P02). The rest of classes 58 and XX (an I/O error,
// an internal error) may not recur and stay vault.ErrUnavailable.
func isRefused(err error) bool {
	switch c := pgCode(err); {
	case c == "":
		return false
	case strings.HasPrefix(c, "28"), c == "42501", c == "3D000", c == "XX001", c == "XX002", c == "58P01", c == "58P02":
		return true
	}
	return false
}

// isUniqueViolation: an INSERT or UPDATE met a unique constraint.
func isUniqueViolation(err error) bool { return pgCode(err) == "23505" }

// tx runs fn in a transaction and commits it; fn may run more than once.
func (s *Store) tx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.run(ctx, op, true, func(ctx context.Context, _ int) error {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) // no-op once committed; with ctx done it closes the connection
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return ambiguousCommit{err}
		}
		return nil
	})
}
