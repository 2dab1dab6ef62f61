package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/vault/redisstore"
	"github.com/aliasgate/aliasgate/webhooks"
)

// persistentStore is what the gateway needs of vault.store: records,
// cards, API clients and the webhook outbox, listed and imported by `vault copy`
// (which also brings re-encrypted records up to date with Rekey), and a
// readiness check.
type persistentStore interface {
	vault.Store
	cards.Store
	auth.ClientStore
	auth.ClientUpdater
	vault.Exporter
	vault.Importer
	vault.Rekeyer
	vault.NumberStore
	webhooks.Store
	Ping(ctx context.Context) error
}

// volatileStore is what the gateway needs of vault.volatile.
type volatileStore interface {
	vault.Store
	Ping(ctx context.Context) error
}

// storeConnectTimeout bounds the first connection to PostgreSQL or Redis:
// an unreachable server fails the start instead of hanging it.
const storeConnectTimeout = 10 * time.Second

// openPersistent opens vault.store: the bbolt file in the data dir
// (locked while open), or PostgreSQL, whose migrations it applies. It
// returns the store and how to name it in logs (no password).
func openPersistent(ctx context.Context, cfg config.Config) (persistentStore, string, error) {
	switch cfg.Vault.Store {
	case "bolt":
		s, err := boltstore.Open(cfg.VaultPath(), boltstore.Options{})
		if err != nil {
			return nil, "", err
		}
		return s, cfg.VaultPath(), nil
	case "postgres":
		return openPostgres(ctx, cfg, pgstore.Options{})
	}
	return nil, "", fmt.Errorf("vault.store %q is not supported (bolt or postgres)", cfg.Vault.Store)
}

// openPostgres opens the PostgreSQL store of cfg with opts, within
// storeConnectTimeout.
func openPostgres(ctx context.Context, cfg config.Config, opts pgstore.Options) (persistentStore, string, error) {
	ctx, cancel := context.WithTimeout(ctx, storeConnectTimeout)
	defer cancel()
	s, err := pgstore.Open(ctx, cfg.Vault.PostgresURL, opts)
	if err != nil {
		return nil, "", fmt.Errorf("vault.store postgres: %w", err)
	}
	return s, "postgres " + cfg.Redacted().Vault.PostgresURL, nil
}

// openExistingStore opens vault.store for a command that reads or changes
// an existing vault, and creates nothing: a bbolt data dir without
// vault.db, a PostgreSQL database without the aliasgate schema (it is not
// migrated: a mistyped database name), and a store whose vault was never
// set up (no data key: a database `aliasgate migrate` alone made) fail
// with errNoVault. A schema older than this binary's is migrated, as
// serve would.
func openExistingStore(ctx context.Context, cfg config.Config) (persistentStore, string, error) {
	var (
		s     persistentStore
		where string
		err   error
	)
	if cfg.Vault.Store == "postgres" {
		s, where, err = openPostgres(ctx, cfg, pgstore.Options{NoMigrate: true})
		switch {
		case errors.Is(err, pgstore.ErrNoSchema):
			return nil, "", fmt.Errorf("%w: postgres %s holds no aliasgate vault (check vault.postgres_url; \"aliasgate serve\" or \"clients create\" makes a new vault)",
				errNoVault, cfg.Redacted().Vault.PostgresURL)
		case errors.Is(err, pgstore.ErrSchemaOutdated):
			s, where, err = openPersistent(ctx, cfg)
		}
	} else {
		if err := noBoltVault(cfg); err != nil {
			return nil, "", err
		}
		s, where, err = openPersistent(ctx, cfg)
	}
	if err != nil {
		return nil, "", err
	}
	ok, err := vault.Initialized(ctx, s)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s holds no vault: it has no data key (\"aliasgate serve\" or \"clients create\" makes a new vault)", errNoVault, where)
	}
	if err != nil {
		s.Close()
		return nil, "", err
	}
	return s, where, nil
}

// openVolatile opens vault.volatile: process memory (one gateway) or Redis
// (shared by several). The Redis client's own log lines (failed dials) go
// to logger; go-redis keeps its logger process-wide.
func openVolatile(ctx context.Context, cfg config.Config, logger *slog.Logger) (volatileStore, string, error) {
	switch cfg.Vault.Volatile {
	case "memory":
		return memStore{memstore.New(memstore.Options{MaxRecords: cfg.Vault.VolatileMaxRecords})}, "memory", nil
	case "redis":
		ctx, cancel := context.WithTimeout(ctx, storeConnectTimeout)
		defer cancel()
		redis.SetLogger(redisLog{logger})
		s, err := redisstore.Open(ctx, cfg.Vault.RedisURL, redisstore.Options{Prefix: cfg.Vault.RedisPrefix})
		if err != nil {
			return nil, "", fmt.Errorf("vault.volatile redis: %w", err)
		}
		return s, "redis " + cfg.Redacted().Vault.RedisURL, nil
	}
	return nil, "", fmt.Errorf("vault.volatile %q is not supported (memory or redis)", cfg.Vault.Volatile)
}

// redisLog passes go-redis's log lines to slog.
type redisLog struct{ l *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// memStore gives the in-process store the readiness check of the others:
// memory is always ready.
type memStore struct{ *memstore.Store }

// Ping implements volatileStore.
func (memStore) Ping(context.Context) error { return nil }

// registerVolatileMetrics registers aliasgate_vault_volatile_evictions_total
// for the in-memory volatile store (Redis evicts by its own maxmemory-policy
// and counts in its INFO stats: evicted_keys).
func registerVolatileMetrics(r *prometheus.Registry, v volatileStore) {
	m, ok := v.(memStore)
	if !ok {
		return
	}
	registerOnce(r, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aliasgate_vault_volatile_evictions_total",
		Help: "Live volatile values evicted, closest to expiry first, to make room past vault.volatile_max_records."},
		func() float64 { return float64(m.Evictions()) }))
}

// openedVault is a persistent store opened with the master key checked
// against it, for the commands that work on a vault without serving it.
type openedVault struct {
	store  persistentStore
	where  string // the store, for messages
	master []byte
	keys   *vault.Keyring
}

// openVault loads the master key (creating the key file of a new data dir)
// and opens vault.store with it: a master key other than the vault's fails
// with vault.ErrWrongMasterKey before anything is written.
func openVault(ctx context.Context, cfg config.Config, getenv func(string) string) (*openedVault, error) {
	return openVaultMode(ctx, cfg, getenv, true)
}

// errNoVault: a command that reads or changes a vault found none where the
// configuration points (a mistyped --data-dir, say); it never makes one.
var errNoVault = errors.New("no vault here")

// openExistingVault is openVault for the commands that read or change an
// existing vault (keys status, keys rotate, clients list/revoke/
// rotate-secret, vault copy's source): a store that holds no vault
// (openExistingStore), or no master key (none in the data dir or the
// environment), fails with errNoVault, and nothing is created.
func openExistingVault(ctx context.Context, cfg config.Config, getenv func(string) string) (*openedVault, error) {
	if cfg.Vault.Store != "postgres" {
		// Before the master key: a data dir without vault.db is named as
		// the missing vault.
		if err := noBoltVault(cfg); err != nil {
			return nil, err
		}
	}
	return openVaultMode(ctx, cfg, getenv, false)
}

// noBoltVault is errNoVault, naming the file, when the bbolt vault of cfg
// does not exist.
func noBoltVault(cfg config.Config) error {
	if _, err := os.Stat(cfg.VaultPath()); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist (check --data-dir or data_dir; \"aliasgate serve\" or \"clients create\" makes a new vault)", errNoVault, cfg.VaultPath())
	}
	return nil
}

func openVaultMode(ctx context.Context, cfg config.Config, getenv func(string) string, create bool) (*openedVault, error) {
	master, source, err := vault.LoadMasterKey(cfg.DataDir, getenv, create)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no master key in %s or %s", errNoVault, cfg.DataDir, vault.MasterKeyEnv)
	}
	if err != nil {
		return nil, err
	}
	open := openPersistent
	if !create {
		open = openExistingStore
	}
	store, where, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	keys, err := vault.OpenKeyring(ctx, store, master)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open vault %s with the master key from %s: %w", where, source, err)
	}
	return &openedVault{store: store, where: where, master: master, keys: keys}, nil
}
