package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/aliasgate/aliasgate/admin"
	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

const clientsCreateUsage = `Creates an API client and prints {"client_id":…,"client_secret":…} once:
the secret is stored only as a hash and cannot be shown again. The client
gets tokens from POST /oauth/token. With --outbound the credentials are for
the outbound proxy's Proxy-Authorization instead.

It writes to vault.store: on the embedded bbolt vault run it while the
gateway is stopped (the file is locked while it runs); on PostgreSQL any
time, and every gateway sharing the database accepts the client at once.
List, revoke and rotate clients with "clients list", "clients revoke" and
"clients rotate-secret".

Accounts: every client acts for one account, and reaches only the aliases
and cards of that account. Without --account the client gets the vault's
default account (default_account; else the account the existing clients
share; else "default"), so a single merchant never names one. The first
client of a new vault makes its account the vault's default account.

Scopes: ` + "aliases:write, aliases:reveal, cards:read, cards:write, network-tokens:write" + `
(VGS's cards:read-pci and network-tokens:read are accepted as cards:read, and
aliases:read as aliases:reveal; clear card data still needs --pci. VGS's
aliases:delete is refused here: grant aliases:write, which deletes; a token
request may ask for aliases:delete and gets that aliases:write)`

func runClientsCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("clients create --name N [--account A] --scopes S1,S2 [--pci] [--outbound] [--config FILE | --data-dir D]", clientsCreateUsage)
	name := fs.String("name", "", "client `name` (required)")
	account := fs.String("account", "", "`account` the client acts for (default: the vault's default account)")
	scopes := fs.String("scopes", "", "`scopes` separated by commas or spaces (required unless --outbound)")
	pci := fs.Bool("pci", false, "may see clear card data in Card Management API answers")
	outbound := fs.Bool("outbound", false, "credentials for the outbound proxy, not the APIs")
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *name == "" {
		return usagef("clients create: --name is required (see --help)")
	}
	// Commas, as the usage shows, or spaces, as OAuth's scope parameter
	// and a token's scope member write them.
	scopeList := strings.FieldsFunc(*scopes, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if *outbound && (*pci || len(scopeList) > 0) {
		// Outbound credentials only authenticate to the forward proxy:
		// they hold no scope and see no API answer, clear or not.
		return usagef("clients create: --outbound takes neither --pci nor --scopes (outbound credentials only authenticate to the outbound proxy)")
	}
	if !*outbound && len(scopeList) == 0 {
		return usagef("clients create: --scopes is required unless --outbound (%s; see --help)", strings.Join(auth.KnownScopes(), ", "))
	}
	// Everything the client spec refuses is refused here, before the vault
	// is opened: a mistyped command must not leave a new data dir behind.
	spec := auth.ClientSpec{Name: *name, Account: *account, Scopes: scopeList, PCI: *pci, Outbound: *outbound}
	if err := auth.CheckClientSpec(spec); err != nil {
		return fmt.Errorf("clients create: %w", err)
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
	if errors.Is(err, boltstore.ErrLocked) {
		// Unlike list, revoke and rotate-secret, creating has no admin
		// endpoint: the bbolt vault is written directly.
		return fmt.Errorf("clients create: %w: stop the gateway, create the client, then start the gateway again (it writes to the bbolt vault file; on PostgreSQL clients can be created while gateways run)", err)
	}
	if err != nil {
		return err
	}
	defer v.store.Close()
	key, err := auth.DeriveSigningKey(v.master)
	if err != nil {
		return err
	}
	svc := newAuth(clientStore{v.store}, key, cfg, logger, nil)
	alog, err := auditCLI(cfg, v.master) // fails before the client exists when the audit log is unusable
	if err != nil {
		return err
	}
	if alog != nil {
		defer alog.Close()
	}
	defAcct, err := defaultAccount(ctx, cfg, v.store, svc)
	if err != nil {
		return fmt.Errorf("clients create: %w", err)
	}
	if *account == "" {
		*account = defAcct
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientSpec{Name: *name, Account: *account, Scopes: scopeList, PCI: *pci, Outbound: *outbound})
	if err != nil {
		return fmt.Errorf("clients create: %w", err)
	}
	// The first client of a vault with no default account makes its
	// account the default (stored now, so that it never changes).
	if _, err := defaultAccount(ctx, cfg, v.store, svc); err != nil {
		return fmt.Errorf("clients create: client %s was stored: %w", c.ID, err)
	}
	if err := logCLI(ctx, alog, audit.Event{Event: audit.EventClientCreated, Client: c.ID}); err != nil {
		return fmt.Errorf("clients create: client %s was stored but the audit log could not record it, so its secret is not shown (create another once the log works): %w", c.ID, err)
	}
	out, _ := json.Marshal(map[string]string{"client_id": c.ID, "client_secret": secret})
	if _, err := fmt.Fprintln(e.stdout, string(out)); err != nil {
		return fmt.Errorf("clients create: client %s was stored but its secret could not be written, and it cannot be shown again: revoke it (clients revoke %s) and create another: %w", c.ID, c.ID, err)
	}
	logger.Info("client created", "client_id", c.ID, "account", c.Account, "scopes", strings.Join(c.Scopes, " "), "pci", c.PCI, "outbound", c.Outbound)
	return nil
}

// Audit events of the credential lifecycle (issue 19). The audit package
// names client_created only; these are recorded the same way, with the
// client id and the actor (cli or admin).
const (
	eventClientRevoked       = "client_revoked"
	eventClientSecretRotated = "client_secret_rotated"
)

// clientStore is the persistent store as auth sees it: auth.ClientStore,
// auth.ClientLister through vault.Exporter's ScanClients, and
// auth.ClientUpdater when the store has UpdateClient (bbolt, PostgreSQL).
type clientStore struct{ persistentStore }

// ListClientRecords implements auth.ClientLister.
func (c clientStore) ListClientRecords(ctx context.Context, after string, limit int) ([]auth.StoredClient, error) {
	page, err := c.ScanClients(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]auth.StoredClient, len(page))
	for i, d := range page {
		out[i] = auth.StoredClient{ID: d.ID, Record: d.Record}
	}
	return out, nil
}

// UpdateClient implements auth.ClientUpdater.
func (c clientStore) UpdateClient(ctx context.Context, id string, old, record []byte) (bool, error) {
	u, ok := c.persistentStore.(auth.ClientUpdater)
	if !ok {
		return false, auth.ErrNotSupported
	}
	return u.UpdateClient(ctx, id, old, record)
}

// clientInfo is the JSON form of a client (no secret).
func clientInfo(c auth.Client) admin.ClientInfo {
	info := admin.ClientInfo{ID: c.ID, Name: c.Name, Account: c.Account, Scopes: c.Scopes, PCI: c.PCI,
		Outbound: c.Outbound, CreatedAt: c.CreatedAt}
	if info.Scopes == nil {
		info.Scopes = []string{}
	}
	if !c.RevokedAt.IsZero() {
		t := c.RevokedAt
		info.RevokedAt = &t
	}
	if !c.SecretRotatedAt.IsZero() {
		t := c.SecretRotatedAt
		info.SecretRotatedAt = &t
	}
	return info
}

// adminClients gives the admin listener's client endpoints the gateway's
// auth.Service (admin does not import auth).
type adminClients struct{ svc *auth.Service }

func adminClientErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrClientNotFound):
		return fmt.Errorf("%w (%w)", admin.ErrNoClient, err)
	case errors.Is(err, auth.ErrClientRevoked):
		return fmt.Errorf("%w (%w)", admin.ErrClientRevoked, err)
	}
	return err
}

func (a adminClients) List(ctx context.Context) ([]admin.ClientInfo, error) {
	list, err := a.svc.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ClientInfo, len(list))
	for i, c := range list {
		out[i] = clientInfo(c)
	}
	return out, nil
}

func (a adminClients) Revoke(ctx context.Context, id string) (admin.ClientInfo, bool, error) {
	c, changed, err := a.svc.RevokeClient(ctx, id)
	if err != nil {
		return admin.ClientInfo{}, false, adminClientErr(err)
	}
	return clientInfo(c), changed, nil
}

func (a adminClients) RotateSecret(ctx context.Context, id string) (admin.ClientInfo, string, error) {
	c, secret, err := a.svc.RotateSecret(ctx, id)
	if err != nil {
		return admin.ClientInfo{}, "", adminClientErr(err)
	}
	return clientInfo(c), secret, nil
}

// auditClientChange records a change made through the admin listener
// (admin.Options.ClientChanged).
func (gw *gateway) auditClientChange(ctx context.Context, change, clientID string) error {
	ev := eventClientRevoked
	if change == admin.ClientSecretRotated {
		ev = eventClientSecretRotated
	}
	return gw.auditEvent(ctx, audit.Event{Event: ev, Actor: audit.ActorAdmin, Client: clientID})
}

const clientsReach = `How it reaches the clients:
  - bbolt, gateway stopped: directly.
  - bbolt, gateway running (the file is locked): through the running
    gateway's admin listener with admin.token (ALIASGATE_ADMIN_TOKEN), at
    listen.admin or --admin URL.
  - PostgreSQL: directly, while gateways run.`

const clientsListUsage = `Prints every API and outbound client as JSON, revoked ones included:
{"clients":[{"client_id","name","account","scopes","pci","outbound",
"created_at","revoked_at","secret_rotated_at"}]}. Never a secret.

` + clientsReach

const clientsRevokeUsage = `Revokes a client for good: its secret is refused at once, and its access
tokens within 5 s on every gateway sharing the vault (each gateway trusts
what it read of a client for at most 5 s). Revoking a revoked client
changes nothing and succeeds. Prints {"client_id","revoked_at",
"already_revoked"}. The revocation is recorded in the audit log.

` + clientsReach

const clientsRotateUsage = `Gives a client a new secret and prints {"client_id":…,"client_secret":…}
once. The old secret is refused at once, and the access tokens issued with
it within 5 s on every gateway sharing the vault. A revoked client's secret
cannot be rotated. The rotation is recorded in the audit log; when the log
cannot record it the new secret is not shown (rotate again once it works).

` + clientsReach

// clientsCommand is the common part of clients list, revoke and
// rotate-secret: flags, then the vault opened directly, or the admin
// listener (--admin, or the bbolt vault locked by a running gateway).
// direct gets the auth service, the audit log (nil: off) and the logger.
func clientsCommand(ctx context.Context, e env, args []string, name, usage string, needID bool,
	method string, adminPath func(id string) string,
	direct func(ctx context.Context, svc *auth.Service, alog *audit.Writer, id string) error) error {
	synopsis := "clients " + name + " [--config F | --data-dir D] [--admin URL]"
	if needID {
		synopsis = "clients " + name + " ID [--config F | --data-dir D] [--admin URL]"
	}
	fs := newFlagSet(synopsis, usage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	adminURL := fs.String("admin", "", "go through a running gateway's admin listener at this `URL` (http://host:port)")
	var id string
	var err error
	if needID {
		id, err = parseOptionalArg(fs, e, args)
	} else {
		err = parseFlags(fs, e, args)
	}
	if err != nil {
		return helpOK(err)
	}
	if needID && id == "" {
		return usagef("clients %s: the client id is required (see --help)", name)
	}
	if !needID && fs.NArg() > 0 {
		return usagef("clients %s takes no arguments (see --help)", name)
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if *adminURL != "" {
		return clientsAdminCall(ctx, e, cfg, *adminURL, method, adminPath(id))
	}
	v, err := openExistingVault(ctx, cfg, e.getenv)
	if errors.Is(err, boltstore.ErrLocked) {
		fmt.Fprintln(e.stderr, "the vault is locked by a running gateway: going through its admin listener")
		return clientsAdminCall(ctx, e, cfg, "", method, adminPath(id))
	}
	if err != nil {
		return err
	}
	defer v.store.Close()
	logger, err := obs.NewLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	key, err := auth.DeriveSigningKey(v.master)
	if err != nil {
		return err
	}
	svc := newAuth(clientStore{v.store}, key, cfg, logger, nil)
	var alog *audit.Writer
	if method != http.MethodGet {
		// Fails before anything changes when the audit log is unusable.
		if alog, err = auditCLI(cfg, v.master); err != nil {
			return err
		}
		if alog != nil {
			defer alog.Close()
		}
	}
	return direct(ctx, svc, alog, id)
}

// clientsAdminCall is adminCall with a message for the client commands.
func clientsAdminCall(ctx context.Context, e env, cfg config.Config, base, method, path string) error {
	if cfg.Admin.Token == "" {
		return errors.New("admin.token (ALIASGATE_ADMIN_TOKEN) is not set: the running gateway's client endpoints need it " +
			"(set the same token for the gateway and this command), or stop the gateway and run this again")
	}
	return adminCall(ctx, e, cfg, base, method, path)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func runClientsList(ctx context.Context, e env, args []string) error {
	return clientsCommand(ctx, e, args, "list", clientsListUsage, false, http.MethodGet,
		func(string) string { return "/admin/clients" },
		func(ctx context.Context, svc *auth.Service, _ *audit.Writer, _ string) error {
			list, err := svc.ListClients(ctx)
			if err != nil {
				return fmt.Errorf("clients list: %w", err)
			}
			out := admin.ClientList{Clients: make([]admin.ClientInfo, len(list))}
			for i, c := range list {
				out.Clients[i] = clientInfo(c)
			}
			return printJSON(e.stdout, out)
		})
}

func runClientsRevoke(ctx context.Context, e env, args []string) error {
	return clientsCommand(ctx, e, args, "revoke", clientsRevokeUsage, true, http.MethodPost,
		func(id string) string { return "/admin/clients/" + url.PathEscape(id) + "/revoke" },
		func(ctx context.Context, svc *auth.Service, alog *audit.Writer, id string) error {
			c, changed, err := svc.RevokeClient(ctx, id)
			if err != nil {
				return fmt.Errorf("clients revoke: %w", err)
			}
			if changed {
				if err := logCLI(ctx, alog, audit.Event{Event: eventClientRevoked, Client: c.ID}); err != nil {
					return fmt.Errorf("clients revoke: client %s is revoked, but the audit log could not record it: %w", c.ID, err)
				}
			}
			return printJSON(e.stdout, admin.Revoked{ID: c.ID, RevokedAt: c.RevokedAt.UTC(), AlreadyRevoked: !changed})
		})
}

func runClientsRotateSecret(ctx context.Context, e env, args []string) error {
	return clientsCommand(ctx, e, args, "rotate-secret", clientsRotateUsage, true, http.MethodPost,
		func(id string) string { return "/admin/clients/" + url.PathEscape(id) + "/rotate-secret" },
		func(ctx context.Context, svc *auth.Service, alog *audit.Writer, id string) error {
			c, secret, err := svc.RotateSecret(ctx, id)
			if err != nil {
				return fmt.Errorf("clients rotate-secret: %w", err)
			}
			if err := logCLI(ctx, alog, audit.Event{Event: eventClientSecretRotated, Client: c.ID}); err != nil {
				return fmt.Errorf("clients rotate-secret: the secret of client %s was rotated but the audit log could not record it, so the new secret is not shown (rotate again once the log works): %w", c.ID, err)
			}
			if err := printJSON(e.stdout, admin.NewSecret{ID: c.ID, Secret: secret}); err != nil {
				return fmt.Errorf("clients rotate-secret: the secret of client %s was rotated (the old one is refused) but the new one could not be written: rotate again: %w", c.ID, err)
			}
			return nil
		})
}
