package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/aliasgate/aliasgate/config"
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
// containers may share a host name and a process id).
func ownerName(host string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	if host == "" {
		host = "gateway"
	}
	return host + "-" + hex.EncodeToString(b)
}

// webhookEndpoints reads every endpoint's secrets: secret_file (one per
// line) or the variable secret_env (comma-separated). Errors name the key
// and the file or variable, never a secret.
func webhookEndpoints(w config.Webhooks, getenv func(string) string) ([]webhooks.Endpoint, error) {
	var out []webhooks.Endpoint
	for i, ep := range w.Endpoints {
		key := "webhooks.endpoints[" + strconv.Itoa(i) + "]"
		var raw string
		var sep string
		switch {
		case ep.SecretFile != "":
			b, err := os.ReadFile(ep.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("%s.secret_file: %w", key, err)
			}
			raw, sep = string(b), "\n"
		default:
			raw, sep = getenv(ep.SecretEnv), ","
			if raw == "" {
				return nil, fmt.Errorf("%s.secret_env: the environment variable %s is empty or not set", key, ep.SecretEnv)
			}
		}
		var secrets [][]byte
		for s := range strings.SplitSeq(raw, sep) {
			if s = strings.TrimSpace(s); s != "" {
				if len(s) < webhooks.MinSecretLen {
					return nil, fmt.Errorf("%s: a signing secret is shorter than %d bytes (make one with: openssl rand -hex 32)", key, webhooks.MinSecretLen)
				}
				secrets = append(secrets, []byte(s))
			}
		}
		if len(secrets) == 0 {
			return nil, fmt.Errorf("%s: no signing secret in its secret_file or secret_env", key)
		}
		out = append(out, webhooks.Endpoint{ID: ep.ID, Account: ep.Account, URL: ep.URL, Secrets: secrets, Events: ep.Events})
	}
	return out, nil
}

// startOutbox runs the webhook dispatcher until ctx ends; the function it
// returns waits for it to stop (the attempts under way end, each within
// webhooks.timeout), before the store closes.
func (gw *gateway) startOutbox(ctx context.Context) (wait func()) {
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
