package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/vgs"
)

const routesImportVGSUsage = `Converts a VGS route export (YAML or JSON) into native aliasgate routes on
stdout, and lists on stderr every route, entry, condition or setting it
could not express exactly (those are left out or narrowed, never widened).
Exit status: 0 every route converted exactly; 1 something was left out,
narrowed or assumed (listed on stderr; the routes on stdout are still
usable); 2 bad input (unreadable, not a VGS export) or usage; 3 the
converted routes do not load (a bug in the importer).`

// Exit statuses of routes import-vgs.
const (
	importExitPartial  = 1
	importExitBadInput = 2
	importExitBug      = 3
)

// importExit is an import-vgs error with its exit status.
type importExit struct {
	code int
	err  error
}

func (e importExit) Error() string { return e.err.Error() }
func (e importExit) Unwrap() error { return e.err }

// ExitCode is the error's exit status.
func (e importExit) ExitCode() int { return e.code }

func runRoutesImportVGS(_ context.Context, e env, args []string) error {
	fs := newFlagSet("routes import-vgs FILE", routesImportVGSUsage)
	if err := parseArgs(fs, e, args, 1); err != nil {
		return helpOK(err)
	}
	in, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return importExit{importExitBadInput, err}
	}
	out, report, err := vgs.Convert(in)
	if err != nil {
		return importExit{importExitBadInput, fmt.Errorf("%s: %w", fs.Arg(0), err)}
	}
	// What we print must load: check it before anyone deploys it.
	if _, err := routes.Parse(out, "converted routes", routeOptions()); err != nil {
		return importExit{importExitBug, fmt.Errorf("the converted routes do not load (a bug in the importer; please report it): %w", err)}
	}
	if _, err := e.stdout.Write(out); err != nil {
		return err
	}
	for _, it := range report.Items {
		fmt.Fprintln(e.stderr, it.String())
	}
	if !report.Complete() {
		return importExit{importExitPartial, fmt.Errorf("%d VGS routes, entries or settings were not converted exactly (listed above)", len(report.Items))}
	}
	return nil
}
