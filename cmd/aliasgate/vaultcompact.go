package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aliasgate/aliasgate/vault/boltstore"
)

const vaultCompactUsage = `Rewrites the bbolt vault file (<data_dir>/vault.db) with every page full
and replaces it, like etcd's defrag: bbolt reuses the space that deletes
and updates free but never returns it to the file system, and inserts in
random order leave pages about half full. The gateway must be stopped: the
command holds the file's lock for the whole run and refuses a vault in use.
The copy is checked (every bucket's key count) before it replaces the
original; on any error the original is left as it was. No backup of the
old file is kept (it would be another copy of the encrypted card data,
including values deleted since): back the data dir up first if your
policy asks for one. PostgreSQL vaults reclaim space with VACUUM instead.`

func runVaultCompact(_ context.Context, e env, args []string) error {
	fs := newFlagSet("vault compact [--config FILE | --data-dir DIR]", vaultCompactUsage)
	cfgPath := fs.String("config", "", "configuration `file` (YAML); none: built-in defaults")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if cfg.Vault.Store != "bolt" {
		return usagef("vault compact: vault.store is %s; only the bbolt store is compacted (PostgreSQL: VACUUM)", cfg.Vault.Store)
	}
	path := cfg.VaultPath()
	fmt.Fprintf(e.stderr, "compacting %s…\n", path)
	start := time.Now()
	res, err := boltstore.Compact(path, 2*time.Second)
	if errors.Is(err, boltstore.ErrLocked) {
		return fmt.Errorf("vault compact: %w: stop the gateway first", err)
	}
	if err != nil {
		return fmt.Errorf("vault compact: %w", err)
	}
	fmt.Fprintf(e.stdout, "compacted %s: %d → %d bytes (%.0f %%), %d keys, in %s\n", path, res.Before, res.After,
		100*float64(res.After)/float64(max(res.Before, 1)), res.Keys, time.Since(start).Round(time.Millisecond))
	return nil
}
