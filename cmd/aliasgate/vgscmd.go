package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/vgs"
)

const routesImportVGSUsage = `Converts a VGS route export (YAML or JSON) into native aliasgate routes on
stdout, and lists on stderr every entry or condition it could not express
(those are left out, never widened). Exit status 0 when everything
converted, 2 when some entries could not be, 1 on an unreadable file.`

// errPartial reports an import that left entries out: exit status 2.
type errPartial struct{ n int }

func (e errPartial) Error() string {
	return fmt.Sprintf("%d VGS entries or conditions could not be converted (listed above)", e.n)
}

// ExitCode makes the exit status 2.
func (errPartial) ExitCode() int { return 2 }

func runRoutesImportVGS(_ context.Context, e env, args []string) error {
	fs := newFlagSet("routes import-vgs FILE", routesImportVGSUsage)
	if err := parseArgs(fs, e, args, 1); err != nil {
		return helpOK(err)
	}
	in, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	out, report, err := vgs.Convert(in)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	// What we print must load: check it before anyone deploys it.
	if _, err := routes.Parse(out, "converted routes", routeOptions()); err != nil {
		return fmt.Errorf("the converted routes do not load (a bug in the importer; please report it): %w", err)
	}
	if _, err := e.stdout.Write(out); err != nil {
		return err
	}
	for _, it := range report.Items {
		fmt.Fprintln(e.stderr, it.String())
	}
	if !report.Complete() {
		return errPartial{n: len(report.Items)}
	}
	return nil
}
