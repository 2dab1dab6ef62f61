package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aliasgate/aliasgate/config"
)

// wherePath adds to err, when a relative path of the configuration does not
// exist, where it was looked for: relative paths are read from the working
// directory of the process, not from the configuration file's directory
// (config/README.md), which a gateway started from elsewhere trips over.
func wherePath(err error, path string) error {
	if err == nil || path == "" || filepath.IsAbs(path) || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	wd, werr := os.Getwd()
	if werr != nil {
		return err
	}
	return fmt.Errorf("%w (relative paths of the configuration are read from the working directory %s, not from the configuration file's directory)", err, wd)
}

// environ is the process environment (os.Environ): unknownEnv reads the
// names in it, which getenv cannot list.
var environ = os.Environ

// unknownEnv warns of ALIASGATE_ variables nothing reads (a typo such as
// ALIASGATE_LISTEN_INBUOND would otherwise leave the default in force
// without a word); the webhook endpoints' secret_env names are read.
func unknownEnv(cfg config.Config) []string {
	var secrets []string
	for _, ep := range cfg.Webhooks.Endpoints {
		if ep.SecretEnv != "" {
			secrets = append(secrets, ep.SecretEnv)
		}
	}
	return config.UnknownEnv(environ(), secrets...)
}
