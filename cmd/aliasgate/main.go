// Command aliasgate is a self-hosted tokenization gateway: it swaps card
// numbers for aliases on the way into a merchant's systems and back on the
// way out to payment processors. Run "aliasgate --help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCoder is an error that chooses the exit status.
type exitCoder interface{ ExitCode() int }

// exitCode prints err as one line and returns the process exit code: 0
// for success and --help, 2 for usage errors, the error's own code when it
// has one, 1 for everything else.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	var ec exitCoder
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "aliasgate: %v\n", err)
		return 2
	case errors.As(err, &ec):
		fmt.Fprintf(stderr, "aliasgate: %v\n", err)
		return ec.ExitCode()
	default:
		fmt.Fprintf(stderr, "aliasgate: %v\n", err)
		return 1
	}
}
