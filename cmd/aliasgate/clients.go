package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

const clientsCreateUsage = `Creates an API client and prints {"client_id":…,"client_secret":…} once:
the secret is stored only as a hash and cannot be shown again. The client
gets tokens from POST /oauth/token. With --outbound the credentials are for
the outbound proxy's Proxy-Authorization instead.

On the embedded bbolt vault run it while the gateway is stopped (the file
is locked while it runs).

Scopes: ` + "aliases:write, aliases:reveal, cards:read, cards:write, network-tokens:write"

func runClientsCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("clients create --name N --account A --scopes S1,S2 [--pci] [--outbound]", clientsCreateUsage)
	name := fs.String("name", "", "client `name` (required)")
	account := fs.String("account", "", "`account` the client acts for (required)")
	scopes := fs.String("scopes", "", "comma-separated `scopes` (required unless --outbound)")
	pci := fs.Bool("pci", false, "may see clear card data in Card Management API answers")
	outbound := fs.Bool("outbound", false, "credentials for the outbound proxy, not the APIs")
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *name == "" || *account == "" {
		return usagef("clients create: --name and --account are required (see --help)")
	}
	var scopeList []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopeList = append(scopeList, s)
		}
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	logger, err := obs.NewLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	store, err := boltstore.Open(cfg.VaultPath(), boltstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	key, err := auth.LoadOrCreateSigningKey(filepath.Join(cfg.DataDir, signingKeyFile))
	if err != nil {
		return err
	}
	svc := newAuth(store, key, cfg, logger)
	c, secret, err := svc.CreateClient(ctx, auth.ClientSpec{Name: *name, Account: *account, Scopes: scopeList, PCI: *pci, Outbound: *outbound})
	if err != nil {
		return fmt.Errorf("clients create: %w", err)
	}
	out, _ := json.Marshal(map[string]string{"client_id": c.ID, "client_secret": secret})
	fmt.Fprintln(e.stdout, string(out))
	logger.Info("client created", "client_id", c.ID, "account", c.Account, "scopes", strings.Join(c.Scopes, " "), "pci", c.PCI, "outbound", c.Outbound)
	return nil
}
