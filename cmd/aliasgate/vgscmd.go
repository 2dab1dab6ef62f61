package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aliasgate/aliasgate/internal/regfile"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/vgs"
)

const routesImportVGSUsage = `Converts a VGS route export (YAML or JSON) into native aliasgate routes on
stdout, and lists on stderr every route, entry, condition or setting it
could not express exactly (those are left out or narrowed, never widened).
Exit status: 0 every route converted exactly; 1 something was left out,
narrowed or assumed (listed on stderr; the routes on stdout are still
usable); 2 bad input (unreadable, over 16 MiB, not a VGS export) or usage; 3 the
converted routes do not load (a bug in the importer).`

// maxVGSExport bounds the export routes import-vgs reads: as a routes file
// the gateway reads (a VGS export is kilobytes).
const maxVGSExport = 16 << 20

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
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return importExit{importExitBadInput, err}
	}
	defer f.Close()
	// Any file (/dev/stdin too), read up to the limit: a runaway export or
	// a device that never ends is refused, not read into memory whole.
	in, err := regfile.ReadOpen(f, fs.Arg(0), maxVGSExport)
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
