package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/routes"
)

const configCheckUsage = `Loads a configuration file with the environment's overrides, validates it
and its routes (routes_file or the inline routes list), and prints every
problem with its line. It also reads the files and secrets serve reads at
start (the listeners' TLS key pairs, outbound.ca_cert/ca_key, the CA
bundles, the webhook endpoints' secret_file or secret_env, cards.bin_table),
so that none of them stops serve later; it opens no vault. Exit status 0 when
it is valid.`

func runConfigCheck(_ context.Context, e env, args []string) error {
	fs := newFlagSet("config check --config FILE", configCheckUsage)
	path := fs.String("config", "", "configuration `file` (required)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *path == "" {
		return usagef("config check: --config FILE is required")
	}
	// Every problem at once: the configuration's own, then those of the
	// routes and files it names, also when the first are there.
	var problems []error
	cfg, err := config.Load(*path, e.getenv)
	if err != nil {
		if ve := (*config.ValidationError)(nil); !errors.As(err, &ve) {
			return err
		}
		problems = append(problems, err)
	}
	for _, w := range append(unknownEnv(cfg), cfg.Warnings()...) {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	set, err := loadRoutes(cfg, *path)
	if err != nil {
		problems = append(problems, err)
	} else {
		printWarnings(e, set)
	}
	problems = append(problems, startFiles(cfg, e.getenv)...)
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	fmt.Fprintf(e.stdout, "%s: configuration is valid (%d routes)\n", *path, len(set.Routes))
	return nil
}

// startFiles reads what serve reads at start besides the configuration and
// the routes, with the same functions, and returns every problem: the
// listeners' TLS key pairs, the configured outbound CA, the CA bundles and
// the webhook endpoints' secrets. Nothing is created (the data dir's CA is
// made by serve when absent, so it is not read here).
func startFiles(cfg config.Config, getenv func(string) string) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	l := cfg.Listen
	_, err := listenerTLS("inbound", l.InboundCert, l.InboundKey, true, nil, nil)
	add(err)
	_, err = listenerTLS("outbound", l.OutboundCert, l.OutboundKey, false, nil, nil)
	add(err)
	if cfg.Outbound.CACert != "" {
		_, err = loadCA(cfg) // both files must exist: loadCA creates none then
		add(err)
	}
	_, err = rootCAs("outbound.ca_bundle", cfg.Outbound.CABundle)
	add(err)
	_, err = rootCAs("webhooks.ca_bundle", cfg.Webhooks.CABundle)
	add(err)
	for i, ep := range cfg.Webhooks.Endpoints {
		_, err = webhookEndpoint(i, ep, getenv)
		add(err)
	}
	if path := cfg.Cards.BINTable; path != "" {
		f, err := os.Open(path)
		if err != nil {
			add(wherePath(fmt.Errorf("cards.bin_table: %w", err), path))
		} else {
			if err := cards.CheckBINTable(f); err != nil {
				add(fmt.Errorf("cards.bin_table %s: %w", path, err))
			}
			f.Close()
		}
	}
	return errs
}

// loadRoutes loads the configured route set: routes_file, read as serve
// reads it (routes.ReadFile: a regular file not every user may write), or
// the inline list of the configuration file at cfgPath.
func loadRoutes(cfg config.Config, cfgPath string) (*routes.Set, error) {
	if cfg.RoutesFile != "" {
		b, err := routes.ReadFile(cfg.RoutesFile)
		if err != nil {
			return nil, wherePath(err, cfg.RoutesFile)
		}
		set, err := routes.Parse(b, cfg.RoutesFile, routeOptions())
		return set, wherePath(err, cfg.RoutesFile)
	}
	return routes.FromNode(&cfg.Routes, cfgPath, routeOptions())
}
