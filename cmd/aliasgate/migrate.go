package main

import (
	"context"
	"fmt"

	"github.com/aliasgate/aliasgate/vault/pgstore"
)

const migrateUsage = `Applies the schema migrations of a PostgreSQL vault.store (the SQL files
embedded in this binary, in order, each in its own transaction, under a lock
so several gateways starting at once do not race) and prints what it did.
serve applies them too; run migrate first when the database user that
serves should not own the schema. A database migrated by a newer aliasgate
is refused. The embedded bbolt vault creates its schema when it opens:
there is nothing to migrate.`

func runMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("migrate --config FILE", migrateUsage)
	cfgPath := fs.String("config", "", "configuration `file` naming vault.store postgres (required)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *cfgPath == "" {
		return usagef("migrate: --config is required (see --help)")
	}
	cfg, err := loadConfig(*cfgPath, "", e.getenv)
	if err != nil {
		return err
	}
	if cfg.Vault.Store != "postgres" {
		fmt.Fprintf(e.stdout, "vault.store is %s: its schema is created when it opens; nothing to migrate\n", cfg.Vault.Store)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeConnectTimeout)
	defer cancel()
	applied, err := pgstore.Migrate(ctx, cfg.Vault.PostgresURL)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date (version %d)\n", pgstore.SchemaVersion())
		return nil
	}
	fmt.Fprintf(e.stdout, "applied migrations %v; schema version %d\n", applied, pgstore.SchemaVersion())
	return nil
}
