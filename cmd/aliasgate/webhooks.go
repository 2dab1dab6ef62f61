package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/dispatch"
)

// newOutbox builds the webhook outbox and its dispatcher over the
// persistent store from webhooks.* (the endpoints' secrets read from their
// files or variables); the outbox wakes the dispatcher on each event.
func (gw *gateway) newOutbox(getenv func(string) string) error {
	w := gw.cfg.Webhooks
	eps, err := webhookEndpoints(w, getenv)
	if err != nil {
		return err
	}
	roots, err := rootCAs("webhooks.ca_bundle", w.CABundle)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	d, err := dispatch.New(gw.persistent, dispatch.Options{
		Endpoints: eps, Owner: ownerName(host), AllowHTTP: w.AllowInsecureHTTP, AllowPrivate: w.AllowPrivateDestinations,
		RootCAs: roots, Timeout: w.Timeout.Std(), BackoffBase: w.BackoffBase.Std(), BackoffMax: w.BackoffMax.Std(),
		RetryFor: w.RetryFor.Std(), PollInterval: w.PollInterval.Std(), Retention: w.Retention.Std(),
		Logger: gw.logger, Registerer: gw.metrics.Registry,
	})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	o, err := webhooks.New(gw.persistent, webhooks.Options{Endpoints: eps, AllowHTTP: w.AllowInsecureHTTP, Notify: d.Wake})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	gw.outbox, gw.dispatcher = o, d
	return nil
}

// ownerName names this gateway's dispatcher in leases and the delivery
// log: the host name (when it has one) and 8 random bytes, unique per
// start, since a lease is checked by this name (two gateways in
// containers may share a host name and a process id). The name is logged
// and shown in every attempt, so it must not read as a card number: '_'
// (not '-', a separator to internal/pan) keeps the host's digits
// (ip-172-31-5-10) apart from the random ones, and random bytes whose hex
// spells a card-like run are drawn again.
func ownerName(host string) string {
	b := make([]byte, 8)
	if host == "" {
		host = "gateway"
	}
	for {
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		if h := hex.EncodeToString(b); !pan.ContainsString(h) {
			return host + "_" + h
		}
	}
}

// webhookEndpoints reads every endpoint's secrets: secret_file (one per
// line) or the variable secret_env (comma-separated). Errors name the key
// and the file or variable, never a secret.
func webhookEndpoints(w config.Webhooks, getenv func(string) string) ([]webhooks.Endpoint, error) {
	var out []webhooks.Endpoint
	for i, ep := range w.Endpoints {
		e, err := webhookEndpoint(i, ep, getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// webhookEndpoint reads the secrets of endpoint i (webhookEndpoints; config
// check asks each endpoint, to report every problem).
func webhookEndpoint(i int, ep config.WebhookEndpoint, getenv func(string) string) (webhooks.Endpoint, error) {
	key := "webhooks.endpoints[" + strconv.Itoa(i) + "]"
	var raw string
	var sep string
	switch {
	case ep.SecretFile != "":
		// As the master key file: a secret others can read is refused
		// (whoever reads it can sign events the receiver trusts).
		b, err := secretfile.Read(ep.SecretFile)
		if errors.Is(err, os.ErrNotExist) {
			return webhooks.Endpoint{}, wherePath(fmt.Errorf("%s.secret_file: %w", key, err), ep.SecretFile)
		}
		if err != nil {
			return webhooks.Endpoint{}, fmt.Errorf("%s.secret_file: %w", key, err)
		}
		raw, sep = string(b), "\n"
	default:
		raw, sep = getenv(ep.SecretEnv), ","
		if raw == "" {
			return webhooks.Endpoint{}, fmt.Errorf("%s.secret_env: the environment variable %s is empty or not set", key, ep.SecretEnv)
		}
	}
	var secrets [][]byte
	for s := range strings.SplitSeq(raw, sep) {
		if s = strings.TrimSpace(s); s != "" {
			if len(s) < webhooks.MinSecretLen {
				return webhooks.Endpoint{}, fmt.Errorf("%s: a signing secret is shorter than %d bytes (make one with: openssl rand -hex 32)", key, webhooks.MinSecretLen)
			}
			secrets = append(secrets, []byte(s))
		}
	}
	if len(secrets) == 0 {
		return webhooks.Endpoint{}, fmt.Errorf("%s: no signing secret in its secret_file or secret_env", key)
	}
	if len(secrets) > webhooks.MaxSecrets {
		return webhooks.Endpoint{}, fmt.Errorf("%s: %d signing secrets in its secret_file or secret_env, at most %d (receivers' webhooks.Verify reads no more)", key, len(secrets), webhooks.MaxSecrets)
	}
	return webhooks.Endpoint{ID: ep.ID, Account: ep.Account, URL: ep.URL, Secrets: secrets, Events: ep.Events}, nil
}

// startOutbox runs the webhook dispatcher until ctx ends; the function it
// returns waits for it to stop (the attempts under way end, each within
// webhooks.timeout), before the store closes. Without endpoints no
// dispatcher runs (nothing is published); deliveries left from an earlier
// configuration wait, visible in the delivery log, until one does.
func (gw *gateway) startOutbox(ctx context.Context) (wait func()) {
	if len(gw.cfg.Webhooks.Endpoints) == 0 {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := gw.dispatcher.Run(ctx); err != nil {
			gw.logger.Error("webhooks: dispatcher stopped", "err", err)
		}
	}()
	gw.logger.Info("webhooks: dispatcher started", "endpoints", len(gw.cfg.Webhooks.Endpoints), "owner", gw.dispatcher.Owner())
	return wg.Wait
}

const webhooksDeliveriesUsage = `Prints the webhook delivery log as JSON, newest first: each delivery's
event, endpoint, state (pending, delivered, failed) and every attempt (time,
status or error class, next attempt, a short masked excerpt of the answer).
It reads vault.store directly (a stopped bbolt gateway, or PostgreSQL while
gateways run), or, when a running gateway holds the bbolt file or with
--admin, asks its admin listener (GET /admin/webhooks/deliveries with
admin.token).`

func runWebhooksDeliveries(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("webhooks deliveries [--config FILE | --data-dir D] [--admin URL] [--state S] [--account A] [--before ID] [--limit N]", webhooksDeliveriesUsage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	adminURL := fs.String("admin", "", "ask a running gateway's admin listener at this `URL` (http://host:port)")
	state := fs.String("state", "", "only deliveries in this `state`: pending, delivered or failed")
	acct := fs.String("account", "", "only this `account`'s deliveries")
	before := fs.String("before", "", "only deliveries older than this delivery `id` (the next page)")
	limit := fs.Int("limit", webhooks.DefaultLimit, "at most `N` deliveries (1 to 1000)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	switch webhooks.State(*state) {
	case "", webhooks.StatePending, webhooks.StateDelivered, webhooks.StateFailed:
	default:
		return usagef("--state must be pending, delivered or failed")
	}
	if *limit < 1 || *limit > 1000 {
		return usagef("--limit must be 1 to 1000")
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": *state, "account": *acct, "before": *before, "limit": strconv.Itoa(*limit)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/admin/webhooks/deliveries?" + q.Encode()
	if *adminURL != "" {
		return adminCall(ctx, e, cfg, *adminURL, http.MethodGet, path)
	}
	store, err := openWebhookStore(ctx, cfg)
	if errors.Is(err, boltstore.ErrLocked) {
		return adminCall(ctx, e, cfg, "", http.MethodGet, path)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	ds, err := store.ListDeliveries(ctx, webhooks.Filter{Account: *acct, State: webhooks.State(*state), Before: *before, Limit: *limit})
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []webhooks.Delivery{}
	}
	out := map[string]any{"data": ds}
	if len(ds) == *limit {
		out["next_before"] = ds[len(ds)-1].ID
	}
	b, err := json.Marshal(out) // one line, as the admin listener answers
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, string(b))
	return err
}

const webhooksRedeliverUsage = `Makes a delivered or failed webhook delivery pending again, due now: the
dispatcher of a running gateway sends it with the next poll, and retries it
for webhooks.retry_for from now (the event keeps its id, so receivers that
dedupe by it see a duplicate). Like "webhooks
deliveries", directly on vault.store or through a running gateway's admin
listener (POST /admin/webhooks/deliveries/{id}/redeliver).`

func runWebhooksRedeliver(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("webhooks redeliver ID [--config FILE | --data-dir D] [--admin URL]", webhooksRedeliverUsage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	adminURL := fs.String("admin", "", "redeliver through a running gateway's admin listener at this `URL` (http://host:port)")
	// The id may come before or after the flags, as the usage line shows.
	id, err := parseOptionalArg(fs, e, args)
	if err != nil {
		return helpOK(err)
	}
	if id == "" {
		return usagef("webhooks redeliver: the delivery id is required (see --help)")
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	path := "/admin/webhooks/deliveries/" + url.PathEscape(id) + "/redeliver"
	if *adminURL != "" {
		return adminCall(ctx, e, cfg, *adminURL, http.MethodPost, path)
	}
	store, err := openWebhookStore(ctx, cfg)
	if errors.Is(err, boltstore.ErrLocked) {
		return adminCall(ctx, e, cfg, "", http.MethodPost, path)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	d, err := store.RedeliverDelivery(ctx, id, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("webhooks redeliver %s: %w", id, err)
	}
	b, _ := json.Marshal(d) // a Delivery always marshals
	_, err = fmt.Fprintln(e.stdout, string(b))
	return err
}

// openWebhookStore opens vault.store for the webhook commands (no master
// key needed: the delivery log is not encrypted and holds no card data);
// a store without a vault is errNoVault, nothing is created
// (openExistingStore).
func openWebhookStore(ctx context.Context, cfg config.Config) (persistentStore, error) {
	s, _, err := openExistingStore(ctx, cfg)
	return s, err
}
