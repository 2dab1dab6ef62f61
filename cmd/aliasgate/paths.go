package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
