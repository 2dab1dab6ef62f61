package main

import (
	"context"
	"fmt"
)

const configCheckUsage = `Loads a configuration file with the environment's overrides, validates it,
and prints every problem with its line. Exit status 0 when it is valid.`

func runConfigCheck(_ context.Context, e env, args []string) error {
	fs := newFlagSet("config check --config FILE", configCheckUsage)
	path := fs.String("config", "", "configuration `file` (required)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *path == "" {
		return usagef("config check: --config FILE is required")
	}
	if _, err := loadConfig(*path, "", e.getenv); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: configuration is valid\n", *path)
	return nil
}
