package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aliasgate/aliasgate/admin"
	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/inspector"
	"github.com/aliasgate/aliasgate/internal/abuse"
	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/connlimit"
	"github.com/aliasgate/aliasgate/internal/gctune"
	"github.com/aliasgate/aliasgate/internal/hostguard"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/ratelimit"
	"github.com/aliasgate/aliasgate/internal/regfile"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/dispatch"
)

const serveUsage = `Runs the gateway. With no configuration it uses ./aliasgate-data
(bbolt vault vault.db, master key master.key, gateway CA; the token signing
key is derived from the master key) and listens on 127.0.0.1:8080 (inbound:
the reverse proxy's routes, then /oauth/token, /cards, and /aliases with
--enable-vault-api), 127.0.0.1:8081 (the outbound forward proxy) and
127.0.0.1:9090 (admin: /healthz, /readyz, /metrics).
Routes come from routes_file (reloaded on SIGHUP and when the file changes;
an invalid new set is logged and the old one kept) or the inline routes
list (SIGHUP then reloads nothing and is logged). Every setting can also come from the environment
(ALIASGATE_<SECTION>_<KEY>). SIGINT or SIGTERM drains in-flight requests and
closes the vault.`

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("serve [--config FILE] [--data-dir D] [--enable-vault-api]", serveUsage)
	cfgPath := fs.String("config", "", "configuration `file` (YAML); none: built-in defaults")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	enableVaultAPI := fs.Bool("enable-vault-api", false, "serve the vault API at /aliases (vault_api.enabled)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	// SIGHUP is caught from here on, whatever the routes: its default
	// action would end the gateway at once (while it starts, or with
	// requests in flight). One that comes while starting waits in hup.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if *enableVaultAPI {
		cfg.VaultAPI.Enabled = true
	}
	logger, err := obs.NewLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer obs.Flush(logger) // access lines are written in batches
	for _, w := range unknownEnv(cfg) {
		logger.Warn(w)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	defer tuneGC(e.getenv)()
	gw, err := openGateway(ctx, cfg, e.getenv, logger)
	if err != nil {
		return err
	}
	if err := gw.loadRoutes(*cfgPath); err != nil {
		gw.close()
		return err
	}
	if err := gw.openInspector(); err != nil {
		gw.close()
		return err
	}
	return gw.serve(ctx, hup)
}

// tuneGC starts gctune (GOGC from the live heap: 400 while it is small,
// down to Go's 100 from 64 MiB live) unless the environment sets GOGC, and
// returns its stop function. In the load harness GOGC 400 lowered the proxy's
// CPU per request in scenario 1 from 90 to 72 µs (docs/PERFORMANCE.md).
func tuneGC(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	return gctune.Start(gctune.Options{})
}

// loadConfig loads the file (or the defaults) with env overrides, and
// applies a --data-dir flag on top.
func loadConfig(path, dataDir string, getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return config.Config{}, err
	}
	if dataDir != "" {
		cfg.DataDir = dataDir
		if err := cfg.Validate(); err != nil {
			return config.Config{}, err
		}
	}
	return cfg, nil
}

// gateway is a running aliasgate: its stores, services and listeners.
type gateway struct {
	cfg        config.Config
	logger     *slog.Logger
	metrics    *obs.Metrics
	persistent persistentStore
	volatile   volatileStore
	vault      *vault.Service
	keys       *vault.Keyring
	auth       *auth.Service
	cardsAPI   http.Handler
	routes     *routes.Table
	reloader   *routes.Reloader // nil with inline routes
	audit      *audit.Writer    // nil with audit.enabled off (auditcmd.go)
	keyWorker  *vault.KeyWorker // key refresh and re-encryption (keyscmd.go)
	// inspector is the page at /ui/ and the proxies' Capturer; nil unless
	// admin.ui (inspector.go).
	inspector *inspector.Inspector
	// limiter holds the API clients' token buckets (limits.client_rate),
	// shared by every mount of the APIs; nil: no limit (limits.go).
	limiter *ratelimit.Limiter
	// abuse is the vault's Admission: enumeration and duplicate
	// detectors, new values per source (limits.*; abuse.go).
	abuse *abuse.Guard
	// inUse is the vault's InUse (cards.AliasUse), given the cards Handler once it exists.
	inUse *cards.AliasUse
	// numbers is the numbers index of every account's cards (vault/numbers.go).
	numbers *vault.Numbers
	// adminLockout locks out addresses that send wrong admin tokens, shared
	// by the key endpoints and the inspector (inspector.go).
	adminLockout *lockout.Table
	// apiLockout locks out source addresses that send failed API client
	// credentials (newLockouts).
	apiLockout *lockout.Table
	// outLockout does the same for the outbound proxy's clients
	// (newLockouts).
	outLockout *lockout.Table
	// outbox records webhook events, dispatcher delivers them
	// (webhooks.go).
	outbox     *webhooks.Outbox
	dispatcher *dispatch.Dispatcher
	// buffered bounds the body bytes both proxies hold in memory at once
	// (limits.max_buffered_bytes, limits.source_buffered_share).
	buffered *bodybudget.Budget
}

// openGateway opens the vault and builds the services. It fails, before
// any listener opens, on a locked or corrupt vault, a bad master key or a
// master key other than the vault's.
func openGateway(ctx context.Context, cfg config.Config, getenv func(string) string, logger *slog.Logger) (*gateway, error) {
	master, source, err := vault.LoadMasterKey(cfg.DataDir, getenv, true)
	if err != nil {
		return nil, err
	}
	persistent, where, err := openPersistent(ctx, cfg)
	if err != nil {
		return nil, err
	}
	gw := &gateway{cfg: cfg, logger: logger, metrics: obs.NewMetrics(), persistent: persistent}
	ok := false
	defer func() {
		if !ok {
			gw.close()
		}
	}()
	gw.buffered = newBodyBudget(cfg.Limits, largestDocument(cfg))
	if err := gw.buffered.Register(gw.metrics.Registry); err != nil {
		return nil, err
	}
	keys, err := vault.OpenKeyring(ctx, persistent, master)
	if err != nil {
		return nil, fmt.Errorf("open vault %s with the master key from %s: %w", where, source, err)
	}
	gw.keys = keys
	if err := gw.openAudit(master); err != nil {
		return nil, err
	}
	volatile, volatileWhere, err := openVolatile(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	gw.volatile = volatile
	registerVolatileMetrics(gw.metrics.Registry, volatile)
	signer, err := auth.DeriveSigningKey(master)
	if err != nil {
		return nil, err
	}
	var clients auth.ClientStore = clientStore{persistent} // clients.go
	if clientStoreHook != nil {
		clients = clientStoreHook(clients)
	}
	gw.newLockouts()
	gw.auth = newAuth(clients, signer, cfg, logger, gw.apiLockout)
	account, err := defaultAccount(ctx, cfg, persistent, gw.auth)
	if err != nil {
		return nil, err
	}
	_, err = persistent.GetMeta(ctx, vault.DefaultAccountMeta)
	provisional := errors.Is(err, vault.ErrNotFound)
	if provisional {
		logger.Warn("the vault has no client yet: its default account is provisional until the first client's account replaces it; restart the gateway after creating the first client",
			"default_account", account)
	}
	gw.abuse = gw.newAbuseGuard(cfg.Limits)
	inUse, err := cards.NewAliasUse(persistent, keys.FingerprintKey())
	if err != nil {
		return nil, err
	}
	gw.inUse = inUse
	gw.vault, err = vault.New(persistent, gw.volatile, keys, vault.Options{Env: cfg.Env, VolatileTTL: time.Duration(cfg.Vault.VolatileTTL), Auditor: gw.vaultAuditor(),
		MaxConcurrent: cfg.Limits.VaultConcurrency, MaxWait: cfg.Limits.VaultWait.Std(), Observer: gw.metrics,
		MaxVolatilePerCall: cfg.Limits.MaxVolatilePerMessage, MaxValuesPerCall: cfg.Limits.MaxValuesPerMessage,
		MaxNewPerCall: cfg.Limits.MaxNewPerMessage, Admission: gw.abuse, VolatileShare: volatileShare(cfg),
		MaxValueLen: int(cfg.Vault.MaxValueSize.Int64()), DefaultAccount: account, InUse: inUse})
	if err != nil {
		return nil, err
	}
	migrated := false
	if !provisional {
		if migrated, err = gw.migrateAccounts(ctx, account); err != nil {
			return nil, err
		}
	}
	gw.numbers = vault.NewNumbers(persistent, persistent, keys)
	if err := indexNumbers(ctx, persistent, gw.numbers, migrated, logger); err != nil {
		return nil, err
	}
	if err := indexTokenAliases(ctx, persistent, migrated, logger); err != nil {
		return nil, err
	}
	gw.limiter = ratelimit.New(cfg.Limits.ClientRate, cfg.Limits.ClientBurst, nil)
	if err := gw.newOutbox(getenv); err != nil {
		return nil, err
	}
	if gw.cardsAPI, err = gw.newCardsAPI(); err != nil {
		return nil, err
	}
	ok = true
	logger.Info("vault open", "store", where, "volatile", volatileWhere, "master_key", source, "volatile_ttl", time.Duration(cfg.Vault.VolatileTTL).String(),
		"default_account", account)
	return gw, nil
}

// migrateAccounts runs the accounts migration (cards.MigrateAccounts) once
// the default account is known, before anything is served: the cards of
// the other accounts get records of their own of the values they reference
// (written before accounts existed, so the default account's). Run again
// whole at the next start when it fails or is stopped.
// It reports whether cards now reference copies of aliases (res.Copied),
// which the numbers index does not hold yet.
func (gw *gateway) migrateAccounts(ctx context.Context, account string) (bool, error) {
	res, err := cards.MigrateAccounts(ctx, gw.persistent, gw.vault, account)
	if err != nil {
		return false, fmt.Errorf("accounts migration (it runs again at the next start): %w", err)
	}
	if res.Done {
		gw.logger.Info("accounts migration done", "cards", res.Cards, "reowned", res.Reowned, "copied", res.Copied, "gone", res.Gone)
	}
	return res.Copied > 0, nil
}

// indexNumbers builds the numbers index (cards.IndexNumbers) over the
// cards of a store not marked indexed (a vault written before the index),
// or again when again is set, before the gateway serves: a token service
// answer is checked against every account's cards only once they are all
// in it.
func indexNumbers(ctx context.Context, st cards.CardScanner, n *vault.Numbers, again bool, logger *slog.Logger) error {
	return buildCardIndex(ctx, "numbers index", n.Indexed, func(ctx context.Context) error {
		return cards.IndexNumbers(ctx, st, n)
	}, again, logger)
}

// indexTokenAliases builds the token alias index (cards.IndexTokenAliases)
// over the cards of a store not marked indexed (cards stored before the
// index), or again when again is set (an accounts migration gave cards
// new aliases), before the gateway serves: the vault API's delete of a
// network token's PAN alias is refused only for tokens in it.
func indexTokenAliases(ctx context.Context, st persistentStore, again bool, logger *slog.Logger) error {
	return buildCardIndex(ctx, "token alias index", st.TokenAliasesIndexed, func(ctx context.Context) error {
		return cards.IndexTokenAliases(ctx, st, st)
	}, again, logger)
}

// buildCardIndex runs build, an index's build over every stored card,
// when indexed says the store is not marked built, or when again is set.
func buildCardIndex(ctx context.Context, what string, indexed func(context.Context) (bool, error),
	build func(context.Context) error, again bool, logger *slog.Logger) error {
	done, err := indexed(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if done && !again {
		return nil
	}
	if err := build(ctx); err != nil {
		return fmt.Errorf("%s (it is built again at the next start): %w", what, err)
	}
	logger.Info(what + " built over the stored cards")
	return nil
}

// defaultAccount resolves the vault's default account (vault.ResolveDefaultAccount):
// default_account, else the one stored, else the account every active
// client shares.
func defaultAccount(ctx context.Context, cfg config.Config, store vault.MetaStore, svc *auth.Service) (string, error) {
	name, err := vault.ResolveDefaultAccount(ctx, store, cfg.DefaultAccount, func(ctx context.Context) ([]string, error) {
		return clientAccounts(ctx, svc)
	})
	if err != nil {
		return "", fmt.Errorf("default account: %w", err)
	}
	return name, nil
}

// clientAccounts returns the account of every client that is not revoked.
func clientAccounts(ctx context.Context, svc *auth.Service) ([]string, error) {
	cs, err := svc.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		if c.RevokedAt.IsZero() {
			out = append(out, c.Account)
		}
	}
	return out, nil
}

// newAuth returns the API clients' Service. lock, when set (serve), is
// the lockout of failed client credentials, under the source address the
// inbound listener found (vault.Actor.Source: proxy.Sources, the peer or
// a trusted proxy's X-Forwarded-For address); the commands that only
// manage clients pass nil.
func newAuth(store auth.ClientStore, key ed25519.PrivateKey, cfg config.Config, logger *slog.Logger, lock *lockout.Table) *auth.Service {
	opts := auth.Options{
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, TokenTTL: time.Duration(cfg.Auth.TokenTTL), Logger: logger,
		Unavailable: vault.Unavailable, // a store that refuses the gateway: 500, not 503 with Retry-After
	}
	if lock != nil {
		opts.Lockout = lock
		opts.Source = func(r *http.Request) string { return vault.ActorFrom(r.Context()).Source }
	}
	return auth.NewService(store, key, opts)
}

// clientStoreHook, when set (tests only), wraps the client store the
// gateway's API clients are checked against, to count its reads.
var clientStoreHook func(auth.ClientStore) auth.ClientStore

// newLockouts makes the lockouts of failed client credentials per source
// address, with lockout's defaults, apart from the admin token's (a
// guesser of client secrets does not lock the operator out of the admin
// listener, nor the other way round): apiLockout for the APIs' clients
// (the token endpoint, the vault API, the Card Management API, the routes
// to them: auth.Options.Lockout) and outLockout for the outbound proxy's,
// a table of its own, so that guesses at the public inbound listener's
// APIs from an address the merchant's backend shares (a NAT, an egress
// gateway) do not lock its payments out of the outbound proxy, nor the
// other way round. aliasgate_client_lockouts_total counts the lockouts
// of both (no address label: the log names it).
func (gw *gateway) newLockouts() {
	api, out := lockout.New(lockout.Options{}), lockout.New(lockout.Options{})
	gw.apiLockout, gw.outLockout = api, out
	registerOnce(gw.metrics.Registry, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "aliasgate_client_lockouts_total",
		Help: "Failed client credentials (wrong secrets, invalid tokens) that locked their source address out (every failure past the free ones), at the token endpoint, the vault API, the Card Management API and the outbound proxy.",
	}, func() float64 { return float64(api.Lockouts() + out.Lockouts()) }))
}

func (gw *gateway) close() {
	gw.closeAudit()
	if gw.volatile != nil {
		gw.volatile.Close()
	}
	if gw.persistent != nil {
		if err := gw.persistent.Close(); err != nil {
			gw.logger.Error("close vault", "err", err)
		}
	}
}

// builtinHandler serves the built-in mounts of the inbound listener, tried
// after the user's routes: /oauth/token, and the vault API at /aliases when
// enabled.
func (gw *gateway) builtinHandler() http.Handler {
	mux := http.NewServeMux()
	// The token endpoint reads its form whole too (at most
	// auth.MaxTokenRequestBody): counted in the body budget as the APIs'
	// documents are.
	mux.Handle("/oauth/token", routed("internal:oauth",
		proxy.HoldBodies(gw.buffered, auth.MaxTokenRequestBody, gw.apiAuth("oauth").TokenHandler())))
	if gw.cfg.Cards.Enabled {
		api := routed(routes.UpstreamCards, gw.heldBodies(gw.cardsAPI))
		mux.Handle("/cards", api)
		mux.Handle("/cards/", api)
	}
	if gw.cfg.VaultAPI.Enabled {
		api := routed("internal:aliases", gw.vaultAPI())
		mux.Handle("/aliases", api)
		mux.Handle("/aliases/", api)
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		detail := "no route matches this request"
		switch p := r.URL.Path; {
		case (p == "/aliases" || strings.HasPrefix(p, "/aliases/")) && !gw.cfg.VaultAPI.Enabled:
			detail = "the vault API is off: start the gateway with --enable-vault-api (or vault_api.enabled: true)"
		case (p == "/cards" || strings.HasPrefix(p, "/cards/")) && !gw.cfg.Cards.Enabled:
			detail = "the Card Management API is off: set cards.enabled: true"
		}
		jsonapi.WriteError(w, jsonapi.MediaType, jsonapi.NewError(http.StatusNotFound, "no_route", "Not Found", detail))
	}))
	return mux
}

func (gw *gateway) vaultAPI() http.Handler {
	h := vaultapi.New(gw.vault, gw.apiAuth("aliases"), gw.logger)
	if rel := releaser(gw.cardsAPI); rel != nil {
		h.ReleaseWith(rel) // a request a route redacted and the API refused leaves nothing behind
	}
	return gw.heldBodies(h)
}

// releaser is the Card Management API's release of what a refused
// request's route made, the one rule the proxy and the vault API use
// (cards.Handler.ReleaseRouteAliases); nil without it.
func releaser(api http.Handler) proxy.RouteAliasReleaser {
	if h, ok := api.(*cards.Handler); ok && h != nil {
		return h
	}
	return nil
}

// heldBodies counts the request documents an API handler reads whole (the
// vault API's, the Card Management API's) in the body budget the proxies'
// bodies count in (limits.max_buffered_bytes; proxy.HoldBodies).
func (gw *gateway) heldBodies(h http.Handler) http.Handler {
	if h == nil {
		return nil // an API that is off
	}
	max := int64(cards.MaxBody)
	if v, ok := h.(*vaultapi.Handler); ok {
		max = v.MaxBody()
	}
	return proxy.HoldBodies(gw.buffered, max, h)
}

// trustedProxies returns limits.trusted_proxies parsed.
func (gw *gateway) trustedProxies() ([]netip.Prefix, error) {
	var trusted []netip.Prefix
	for _, p := range gw.cfg.Limits.TrustedProxies {
		pfx, err := config.ParseTrustedProxy(p)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, pfx)
	}
	return trusted, nil
}

// inboundHandler is the reverse proxy: the user's inbound routes first,
// then the built-in mounts. A route may name internal:aliases as its
// upstream to put filters in front of the vault API (mounted for it even
// when vault_api.enabled is off).
func (gw *gateway) inboundHandler() (*proxy.Inbound, error) {
	trusted, err := gw.trustedProxies()
	if err != nil {
		return nil, err
	}
	return proxy.NewInbound(proxy.InboundOptions{
		Sources:   proxy.NewSources(trusted),
		Misses:    gw.inboundMisses(),
		Table:     gw.routes,
		Tokenizer: vaulttok.New(gw.vault),
		Internal: map[string]http.Handler{
			routes.UpstreamAliases: gw.vaultAPI(),
			routes.UpstreamCards:   gw.heldBodies(gw.cardsAPI),
		},
		Release:         releaser(gw.cardsAPI),
		Fallback:        gw.builtinHandler(),
		DefaultAccount:  gw.vault.DefaultAccount(), // RouteAccountHeader of a route naming none
		MaxBody:         gw.cfg.Limits.MaxBody.Int64(),
		Budget:          gw.buffered,
		UpstreamTimeout: gw.cfg.Limits.UpstreamTimeout.Std(),
		Logger:          gw.logger,
		Metrics:         gw.metrics,
		Capturer:        gw.capturer(),
		// An upgraded (WebSocket) connection is held to the limits of
		// the outbound proxy's tunnels.
		UpgradeIdleTimeout:  gw.cfg.Limits.IdleTimeout.Std(),
		UpgradeWriteTimeout: gw.cfg.Limits.WriteTimeout.Std(),
	})
}

// newCardsAPI builds the Card Management API (internal:cards).
func (gw *gateway) newCardsAPI() (http.Handler, error) {
	opts := cards.Options{VaultID: gw.cfg.VaultID, FingerprintKey: gw.keys.FingerprintKey(), Logger: gw.logger, Numbers: gw.numbers,
		Duplicates: gw.abuse, Settings: cardSettings(gw.cfg.Cards), TokenServiceTimeout: gw.cfg.Cards.TokenServiceTimeout.Std()}
	if gw.outbox != nil {
		opts.Events = gw.outbox // card and network-token events → webhook deliveries
	}
	if gw.cfg.Cards.BINTable != "" {
		f, err := os.Open(gw.cfg.Cards.BINTable)
		if err != nil {
			return nil, wherePath(fmt.Errorf("cards.bin_table: %w", err), gw.cfg.Cards.BINTable)
		}
		defer f.Close()
		opts.BINTable = f
	}
	h, err := cards.New(gw.persistent, gw.vault, gw.apiAuth("cards"), opts)
	if err != nil {
		return nil, fmt.Errorf("cards: %w", err)
	}
	if gw.inUse != nil {
		gw.inUse.RestoreWith(h) // a card stored while the vault API deleted its alias gets its number back
	}
	// No labels: the warning line of each failure names the account.
	registerOnce(gw.metrics.Registry, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "aliasgate_alias_releases_failed_total",
		Help: "Releases of aliases no card holds (a refused or failed write's, a route's CVC alias once the card holds its own, a PATCH's replaced CVC) that failed: the aliases stay in the vault, a volatile one until it expires.",
	}, func() float64 { return float64(h.ReleaseFailures()) }))
	return h, nil
}

// loadRoutes fills the route table: from routes_file (reloaded on SIGHUP
// and when the file changes) or from the inline routes list. An invalid
// set fails the start.
func (gw *gateway) loadRoutes(cfgPath string) error {
	gw.routes = routes.NewTable(nil)
	if gw.cfg.RoutesFile != "" {
		gw.reloader = routes.NewReloader(gw.routes, gw.cfg.RoutesFile, routeOptions(), gw.logger, gw.metrics)
		gw.reloader.OnReload(gw.auditReload)
		return wherePath(gw.reloader.Reload(), gw.cfg.RoutesFile)
	}
	set, err := routes.FromNode(&gw.cfg.Routes, cfgPath, routeOptions())
	if err != nil {
		return err
	}
	for _, w := range set.Warnings() {
		gw.logger.Warn("routes: " + w)
	}
	gw.routes.Store(set)
	return nil
}

// routed names the route of a built-in mount in the access log and metrics.
func routed(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.SetRoute(r.Context(), name)
		h.ServeHTTP(w, r.WithContext(vault.WithRoute(r.Context(), name))) // the actor of audited reveals
	})
}

// adminHandler serves the admin listener (package admin): /healthz,
// /readyz (the stores answer; and the audit log takes lines, for a
// PostgreSQL vault: auditReady), /metrics, the key endpoints behind
// admin.token (after startKeyWorker), and the inspector at /ui/.
func (gw *gateway) adminHandler() http.Handler {
	opts := admin.Options{
		Token:   gw.cfg.Admin.Token,
		Ready:   gw.storesReady,
		Metrics: gw.metrics.Handler(),
		Rotated: gw.auditRotation,
		Logger:  gw.logger,
		Lockout: gw.tokenLockout(),
		Pprof:   gw.cfg.Admin.Pprof,
	}
	if w := gw.audit; w != nil && gw.cfg.Vault.Store == "postgres" {
		opts.Audit = func(ctx context.Context) error { return auditReady(ctx, w) } // auditcmd.go
	}
	opts.Clients, opts.ClientChanged = adminClients{gw.auth}, gw.auditClientChange // clients.go
	opts.TSP = gw.tspSimulator()                                                   // tspcmd.go
	if gw.dispatcher != nil {
		opts.Webhooks = gw.dispatcher.Handler()
	}
	if gw.keyWorker != nil {
		opts.Keys = gw.keyWorker
	}
	mux := admin.New(opts)
	gw.mountInspector(mux)
	// Every answer of this listener, /metrics and /readyz included, only to
	// its own names (DNS rebinding) and no state-changing request from
	// another origin: before any handler, the token lockout included.
	guard, err := hostguard.New(adminHostNames(gw.cfg))
	if err != nil { // validated with the configuration
		panic(err)
	}
	return guard.Wrap(mux)
}

// adminHostNames are the names the admin listener answers to besides its
// addresses and localhost: admin.allowed_hosts and the host name
// listen.admin binds, if it names one (the admin commands' default base,
// adminRequest, is that name: they were refused 421 by their own
// gateway). An operator chose that name for the listener; a rebinding
// page's origin cannot be it.
func adminHostNames(cfg config.Config) []string {
	names := cfg.Admin.AllowedHosts
	if host, _, err := net.SplitHostPort(cfg.Listen.Admin); err == nil && host != "" && net.ParseIP(host) == nil {
		if _, err := hostguard.ParseName(host); err == nil {
			names = append(slices.Clip(names), host)
		}
	}
	return names
}

// storesReady pings the persistent and the volatile store (each Ping also
// checks that the store takes writes: a read-only one refuses every
// tokenization), sets their aliasgate_store_up gauges and logs the one
// that fails.
func (gw *gateway) storesReady(ctx context.Context) bool {
	ready := true
	for _, st := range []struct {
		name  string
		store interface{ Ping(context.Context) error }
	}{{gw.cfg.Vault.Store, gw.persistent}, {gw.cfg.Vault.Volatile, gw.volatile}} {
		if err := st.store.Ping(ctx); err != nil {
			gw.metrics.StoreUp.WithLabelValues(st.name).Set(0)
			gw.logger.Warn("readiness check failed", "store", st.name, "err", err)
			ready = false
			continue
		}
		gw.metrics.StoreUp.WithLabelValues(st.name).Set(1)
	}
	return ready
}

// volatileShare is the most volatile values one account may create in a
// volatile TTL (vault.Options.VolatileShare): limits.account_volatile_share
// percent of vault.volatile_max_records, at least 1; 0 when either is 0.
func volatileShare(cfg config.Config) int {
	pct, total := cfg.Limits.AccountVolatileShare, cfg.Vault.VolatileMaxRecords
	if pct <= 0 || total <= 0 {
		return 0
	}
	return max(total/100*pct+total%100*pct/100, 1)
}

// maxPEMFile bounds a listener certificate file: a chain is a few kilobytes.
const maxPEMFile = 1 << 20

// listener is one configured HTTP listener.
type listener struct {
	name    string
	addr    string
	handler http.Handler
	tls     *tls.Config // nil: plain HTTP
}

// listenerTLS loads a listener's certificate when one is configured (nil
// otherwise). h2 offers HTTP/2 (net/http's default over TLS); the outbound
// listener is HTTP/1.1 only: a CONNECT tunnel hijacks its connection, which
// HTTP/2 cannot give. The pair is read again when its files change
// (listenerCert), so a renewed certificate is served without a restart;
// logger (nil: none) says so, and warns at start when the certificate
// expires within expiryWarning; reg (nil: none) gets the date
// (aliasgate_listener_cert_not_after_seconds{listener=name}, the earliest
// NotAfter of the chain served).
//
// The private key is a secret file (internal/secretfile): refused when its
// group or others may read it, since whoever holds it can pose as the
// gateway to the browsers that post card data to it. Both files must be
// regular files of at most a megabyte (a FIFO would block the start).
func listenerTLS(name, certFile, keyFile string, h2 bool, logger *slog.Logger, reg *prometheus.Registry) (*tls.Config, error) {
	if certFile == "" {
		return nil, nil
	}
	lc, err := newListenerCert(name, certFile, keyFile, logger, time.Now)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		registerOnce(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aliasgate_listener_cert_not_after_seconds",
			Help:        "When the certificate a listener serves expires (Unix time; the earliest NotAfter of the chain in force, updated when a renewal is served).",
			ConstLabels: prometheus.Labels{"listener": name}},
			func() float64 { return float64(lc.notAfter().Unix()) }))
	}
	if until := lc.notAfter(); logger != nil && time.Until(until) < expiryWarning {
		logger.Warn(name+" listener certificate expires soon: renew it (a renewal written over the files is served from the next connection), "+
			"or every client refuses the listener's TLS from then on", "file", certFile, "not_after", until.UTC().Format(time.RFC3339))
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: lc.get}
	if !h2 {
		c.NextProtos = []string{"http/1.1"}
	}
	return c, nil
}

// loadKeyPair reads a listener's certificate and key (listenerTLS's rules)
// and refuses a certificate, or an intermediate in its file, not valid yet
// at now, beyond skew (a *certNotYetValid), or expired at now, beyond skew
// (a *certExpired): every client would refuse it.
// At start skew is proxy.ClockSkew (this machine's clock may run a little
// behind the issuer's, and there is no pair to serve instead); a renewal
// has none (listenerCert.get).
//
// It also returns the chain's date: the earliest NotAfter of the
// certificates in the file.
func loadKeyPair(name, certFile, keyFile string, now time.Time, skew time.Duration) (*tls.Certificate, time.Time, error) {
	certPEM, err := regfile.Read(certFile, maxPEMFile)
	if err != nil {
		return nil, time.Time{}, wherePath(fmt.Errorf("%s TLS: certificate (listen.%s_cert): %w", name, name, err), certFile)
	}
	keyPEM, err := secretfile.Read(keyFile)
	if err != nil {
		return nil, time.Time{}, wherePath(fmt.Errorf("%s TLS: key (listen.%s_key): %w", name, name, err), keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s TLS: load %s and %s: %w", name, certFile, keyFile, err)
	}
	// The leaf and the intermediates served with it (a fullchain.pem):
	// clients check the validity of each.
	var late *certNotYetValid
	var until time.Time
	for i, der := range cert.Certificate {
		c := cert.Leaf
		if i > 0 || c == nil { // an intermediate; or GODEBUG x509keypairleaf=0
			if c, err = x509.ParseCertificate(der); err != nil {
				return nil, time.Time{}, fmt.Errorf("%s TLS: parse certificate %d of %s: %w", name, i+1, certFile, err)
			}
		}
		if c.NotBefore.After(now.Add(skew)) && (late == nil || c.NotBefore.After(late.from)) {
			late = &certNotYetValid{name: name, file: certFile, from: c.NotBefore, index: i}
		}
		if until.IsZero() || c.NotAfter.Before(until) {
			until = c.NotAfter
		}
		if now.Add(-skew).After(c.NotAfter) {
			return nil, time.Time{}, &certExpired{name: name, file: certFile, at: c.NotAfter, index: i}
		}
	}
	if late != nil {
		return nil, time.Time{}, late
	}
	return &cert, until, nil
}

// certExpired: a listener certificate, or one of the intermediates in its
// file, whose NotAfter has passed.
type certExpired struct {
	name, file string
	at         time.Time
	index      int // in the file: 0 the leaf, else an intermediate
}

func (e *certExpired) Error() string {
	return fmt.Sprintf("%s TLS: %s expired at %s, and every client refuses it; renew it", e.name, certInFile(e.file, e.index), e.at.UTC().Format(time.RFC3339))
}

// certInFile names the certificate at index of a listener's certificate
// file: the leaf (0) or an intermediate served with it.
func certInFile(file string, index int) string {
	if index > 0 {
		return fmt.Sprintf("the intermediate certificate %d of %s (the chain served with the leaf)", index+1, file)
	}
	return "the certificate " + file
}

// certNotYetValid: a listener certificate, or one of the intermediates in
// its file, whose NotBefore is ahead (the latest such NotBefore: the chain
// is valid from then).
type certNotYetValid struct {
	name, file string
	from       time.Time
	index      int // in the file: 0 the leaf, else an intermediate
}

func (e *certNotYetValid) Error() string {
	return fmt.Sprintf("%s TLS: %s is not yet valid: it is valid from %s, and until then every client refuses it; "+
		"check this machine's clock, or serve it from that time", e.name, certInFile(e.file, e.index), e.from.UTC().Format(time.RFC3339))
}

// listenerCert is a listener's certificate, read again at the first
// handshake after its certificate or key file has changed (regfile.Stamp:
// time, size, mode, which file), so a certificate renewed on disk (certbot,
// cert-manager) is served without a restart. A pair that does not load (a
// half-written renewal, a certificate that is not the key's) leaves the
// pair in force served and is logged once; the next change is tried again.
// So is an expired certificate, and one not valid yet (a renewal staged early; without the
// clock skew allowed at start: the pair in force serves meanwhile), and it
// is read again at the first handshake from its NotBefore (the latest of
// its chain's), by this machine's clock.
type listenerCert struct {
	name, certFile, keyFile string
	logger                  *slog.Logger
	now                     func() time.Time // time.Now; replaced by tests

	mu                  sync.Mutex
	cert                *tls.Certificate
	until               time.Time     // cert's chain's date (loadKeyPair)
	expiredSaid         bool          // the log has said that cert expired
	certStamp, keyStamp regfile.Stamp // the files as last read (or tried)
	retryAt             time.Time     // the files as last tried hold a certificate valid from then; zero: none
}

// newListenerCert reads a listener's pair (loadKeyPair) at now(); logger
// (nil: none) gets its reloads.
func newListenerCert(name, certFile, keyFile string, logger *slog.Logger, now func() time.Time) (*listenerCert, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lc := &listenerCert{name: name, certFile: certFile, keyFile: keyFile, logger: logger, now: now,
		certStamp: regfile.StampOf(certFile), keyStamp: regfile.StampOf(keyFile)}
	cert, until, err := loadKeyPair(name, certFile, keyFile, now(), proxy.ClockSkew)
	if err != nil {
		return nil, err
	}
	lc.cert, lc.until = cert, until
	return lc, nil
}

// notAfter returns the date of the chain in force: the earliest NotAfter
// of its certificates.
func (c *listenerCert) notAfter() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.until
}

// get is the listener's tls.Config.GetCertificate.
func (c *listenerCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs, ks := regfile.StampOf(c.certFile), regfile.StampOf(c.keyFile)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.expiredSaid && now.After(c.until) {
		// Served on (there is nothing else to serve) and said once; a
		// renewal that loads is taken below all the same.
		c.expiredSaid = true
		c.logger.Error(c.name+" listener certificate has expired: every client refuses the listener's TLS until it is renewed "+
			"(a renewal written over the files is served from the next connection)", "file", c.certFile, "not_after", c.until.UTC().Format(time.RFC3339))
	}
	if cs.Same(c.certStamp) && ks.Same(c.keyStamp) && (c.retryAt.IsZero() || now.Before(c.retryAt)) {
		return c.cert, nil
	}
	retry := !c.retryAt.IsZero() && cs.Same(c.certStamp) && ks.Same(c.keyStamp) // logged already
	c.certStamp, c.keyStamp, c.retryAt = cs, ks, time.Time{}
	cert, until, err := loadKeyPair(c.name, c.certFile, c.keyFile, now, 0)
	if err != nil {
		if nyv := (*certNotYetValid)(nil); errors.As(err, &nyv) {
			c.retryAt = nyv.from
		}
		if !retry {
			c.logger.Error("TLS certificate not reloaded, keeping the one in force", "listener", c.name, "error", err.Error())
		}
		return c.cert, nil
	}
	c.cert, c.until, c.expiredSaid = cert, until, false
	attrs := []any{"listener", c.name, "file", c.certFile}
	if cert.Leaf != nil { // X509KeyPair fills it (GODEBUG x509keypairleaf=0 aside)
		attrs = append(attrs, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.logger.Info("TLS certificate reloaded", attrs...)
	return c.cert, nil
}

// serve opens every listener (all bound before any serves, so a port in use
// fails the start), logs one line each, and on ctx's end drains in-flight
// requests within limits.shutdown_timeout and closes the vault. A signal
// on hup (SIGHUP) reloads the routes file.
func (gw *gateway) serve(ctx context.Context, hup <-chan os.Signal) error {
	defer gw.close()
	stopKeys := gw.startKeyWorker(ctx) // before the vault closes: deferred after close
	defer stopKeys()
	stopProvisioner := gw.startProvisioner(ctx) // cards.provision_stored (payments.go)
	defer stopProvisioner()
	octx, stopOutbox := context.WithCancel(ctx)
	waitOutbox := gw.startOutbox(octx) // stopped and waited for before the vault closes
	defer waitOutbox()
	defer stopOutbox()
	inbound, err := gw.inboundHandler()
	if err != nil {
		return err
	}
	l := gw.cfg.Listen
	inboundTLS, err := listenerTLS("inbound", l.InboundCert, l.InboundKey, true, gw.logger, gw.metrics.Registry)
	if err != nil {
		return err
	}
	outboundTLS, err := listenerTLS("outbound", l.OutboundCert, l.OutboundKey, false, gw.logger, gw.metrics.Registry)
	if err != nil {
		return err
	}
	outbound, err := gw.outboundHandler()
	if err != nil {
		return err
	}
	defer outbound.Close() // also on the early returns below
	ls := []listener{
		{"inbound", gw.cfg.Listen.Inbound, inbound, inboundTLS},
		{"outbound", gw.cfg.Listen.Outbound, outbound, outboundTLS},
		{"admin", gw.cfg.Listen.Admin, gw.adminHandler(), nil},
	}
	trusted, err := gw.trustedProxies()
	if err != nil {
		return err
	}
	var servers []*http.Server
	var nls []net.Listener
	for _, l := range ls {
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range nls {
				o.Close()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				// Say how to move it: another gateway (or program) on the
				// default ports is the usual case on a shared machine.
				return fmt.Errorf("%s listener: %w (something already listens on %s: stop it, or give this listener another address with listen.%s in --config or ALIASGATE_LISTEN_%s=127.0.0.1:PORT)",
					l.name, err, l.addr, l.name, strings.ToUpper(l.name))
			}
			return fmt.Errorf("%s listener: %w", l.name, err)
		}
		nls = append(nls, gw.limitConns(l.name, nl, trusted))
		servers = append(servers, gw.httpServer(l))
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	// The routes file is checked every routesCheck, and put in force once
	// it has stayed the same that long, by the watcher and on SIGHUP.
	const routesCheck = 2 * time.Second
	if gw.reloader != nil {
		go gw.reloader.Watch(wctx, routesCheck)
	}
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		gw.logger.Info("listening", "listener", ls[i].name, "addr", nls[i].Addr().String(), "tls", ls[i].tls != nil, "serves", serves(ls[i].name, gw.cfg))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(nls[i], "", "")
			} else {
				err = srv.Serve(nls[i])
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", ls[i].name, err)
			}
		}()
	}
	// SIGHUPs, one that came while starting first, once every listener
	// serves.
	go func() {
		for {
			select {
			case <-wctx.Done():
				return
			case <-hup:
				if gw.reloader == nil {
					gw.logger.Warn("SIGHUP: no routes_file to reload (the routes are inline in the configuration, or none); nothing changed")
					continue
				}
				// Not read half written: put in force once it has settled.
				// An invalid set is logged and the old one kept.
				_ = gw.reloader.ReloadSettled(wctx, routesCheck)
			}
		}
	}()
	select {
	case <-ctx.Done():
		gw.logger.Info("shutting down", "reason", "signal")
	case err = <-errc:
		gw.logger.Error("listener failed", "err", err)
	}
	gw.stopInspector()
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(gw.cfg.Limits.ShutdownTimeout))
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			gw.logger.Warn("shutdown did not drain in time", "err", serr)
			srv.Close()
		}
	}
	// Shutdown neither sees nor waits for hijacked connections (CONNECT
	// tunnels, upgraded connections): close them once the listeners are
	// drained.
	outbound.Close()
	inbound.Close()
	wg.Wait()
	gw.logger.Info("stopped")
	return err
}

func serves(name string, cfg config.Config) string {
	switch name {
	case "inbound":
		s := []string{"routes", "/oauth/token"}
		if cfg.Cards.Enabled {
			s = append(s, "/cards")
		}
		if cfg.VaultAPI.Enabled {
			s = append(s, "/aliases")
		}
		return strings.Join(s, " ")
	case "outbound":
		return "forward proxy (CONNECT MITM for routed hosts)"
	case "admin":
		s := []string{"/healthz", "/readyz", "/metrics"}
		if cfg.Admin.Token != "" {
			s = append(s, "/admin/ (admin.token)")
		}
		if cfg.Admin.UI {
			s = append(s, "/ui/")
		}
		return strings.Join(s, " ")
	}
	return ""
}

// limitConns bounds the connections one source address holds open on
// the named listener (limits.max_conns_per_source, internal/connlimit).
// The trusted proxies are not counted on the inbound listener, the one
// they stand in front of (the only one that reads X-Forwarded-For);
// elsewhere they are senders like any other (an address of
// limits.trusted_proxies, often a whole private range, held as many
// outbound and admin connections as it opened). Refusals are counted in
// aliasgate_conns_refused_total{listener}.
func (gw *gateway) limitConns(name string, nl net.Listener, trusted []netip.Prefix) net.Listener {
	refused := gw.metrics.ConnsRefused.WithLabelValues(name)
	opts := connlimit.Options{
		PerSource: gw.cfg.Limits.MaxConnsPerSource,
		Refused:   func(string) { refused.Inc() },
	}
	if name == "inbound" {
		opts.Exempt = proxy.NewSources(trusted).Trusted
	}
	return connlimit.Wrap(nl, opts)
}

func (gw *gateway) httpServer(l listener) *http.Server {
	lim := gw.cfg.Limits
	srv := &http.Server{
		Handler:           closeAfterChunked(obs.AccessLog(gw.logger, gw.metrics, l.name, l.handler)),
		ReadHeaderTimeout: time.Duration(lim.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(lim.ReadTimeout),
		WriteTimeout:      time.Duration(lim.WriteTimeout),
		IdleTimeout:       time.Duration(lim.IdleTimeout),
		MaxHeaderBytes:    int(lim.MaxHeaderBytes),
		TLSConfig:         l.tls,
		ErrorLog:          slog.NewLogLogger(gw.logger.Handler(), slog.LevelWarn),
	}
	// The requests net/http refuses itself reach no handler: counted and
	// logged there.
	obs.WatchUnserved(srv, gw.logger, gw.metrics, l.name)
	return srv
}
