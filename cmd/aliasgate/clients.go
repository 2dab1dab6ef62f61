package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/obs"
)

const clientsCreateUsage = `Creates an API client and prints {"client_id":…,"client_secret":…} once:
the secret is stored only as a hash and cannot be shown again. The client
gets tokens from POST /oauth/token. With --outbound the credentials are for
the outbound proxy's Proxy-Authorization instead.

It writes to vault.store: on the embedded bbolt vault run it while the
gateway is stopped (the file is locked while it runs); on PostgreSQL any
time, and every gateway sharing the database accepts the client at once.

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
	v, err := openVault(ctx, cfg, e.getenv)
	if err != nil {
		return err
	}
	defer v.store.Close()
	key, err := auth.DeriveSigningKey(v.master)
	if err != nil {
		return err
	}
	svc := newAuth(v.store, key, cfg, logger)
	alog, err := auditCLI(cfg, v.master) // fails before the client exists when the audit log is unusable
	if err != nil {
		return err
	}
	if alog != nil {
		defer alog.Close()
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientSpec{Name: *name, Account: *account, Scopes: scopeList, PCI: *pci, Outbound: *outbound})
	if err != nil {
		return fmt.Errorf("clients create: %w", err)
	}
	if err := logCLI(ctx, alog, audit.Event{Event: audit.EventClientCreated, Client: c.ID}); err != nil {
		return fmt.Errorf("clients create: client %s was stored but the audit log could not record it, so its secret is not shown (create another once the log works): %w", c.ID, err)
	}
	out, _ := json.Marshal(map[string]string{"client_id": c.ID, "client_secret": secret})
	fmt.Fprintln(e.stdout, string(out))
	logger.Info("client created", "client_id", c.ID, "account", c.Account, "scopes", strings.Join(c.Scopes, " "), "pci", c.PCI, "outbound", c.Outbound)
	return nil
}
