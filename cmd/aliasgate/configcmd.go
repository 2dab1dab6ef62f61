package main

import (
	"context"
	"fmt"

	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/routes"
)

const configCheckUsage = `Loads a configuration file with the environment's overrides, validates it
and its routes (routes_file or the inline routes list), and prints every
problem with its line. Exit status 0 when it is valid.`

func runConfigCheck(_ context.Context, e env, args []string) error {
	fs := newFlagSet("config check --config FILE", configCheckUsage)
	path := fs.String("config", "", "configuration `file` (required)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *path == "" {
		return usagef("config check: --config FILE is required")
	}
	cfg, err := loadConfig(*path, "", e.getenv)
	if err != nil {
		return err
	}
	set, err := loadRoutes(cfg, *path)
	if err != nil {
		return err
	}
	printWarnings(e, set)
	fmt.Fprintf(e.stdout, "%s: configuration is valid (%d routes)\n", *path, len(set.Routes))
	return nil
}

// loadRoutes loads the configured route set: routes_file, or the inline
// list of the configuration file at cfgPath.
func loadRoutes(cfg config.Config, cfgPath string) (*routes.Set, error) {
	if cfg.RoutesFile != "" {
		return routes.LoadFile(cfg.RoutesFile, routeOptions())
	}
	return routes.FromNode(&cfg.Routes, cfgPath, routeOptions())
}
