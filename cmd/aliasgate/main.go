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
	"strings"
	"syscall"

	"github.com/aliasgate/aliasgate/internal/pan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCoder is an error that chooses the exit status.
type exitCoder interface{ ExitCode() int }

// exitCode prints err as one line, card numbers masked, and returns the
// process exit code: 0 for success and --help, 2 for usage errors, the
// error's own code when it has one, 1 for everything else.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	var ec exitCoder
	if err == nil {
		return 0
	}
	// Masked here too, whatever the error's source: a card number typed
	// into a flag or a file never reaches the terminal.
	fmt.Fprintf(stderr, "aliasgate: %s\n", oneLine(pan.MaskLoose(err.Error())))
	switch {
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	return 1
}

// oneLine joins the lines of an error message with "; " (pgx's connect
// errors give one line per address tried, each indented with a tab), so
// that a failure is one line on stderr, as the README promises.
func oneLine(msg string) string {
	if !strings.ContainsAny(msg, "\r\n") {
		return msg
	}
	var parts []string
	for _, l := range strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, strings.TrimSuffix(l, ":"))
		}
	}
	return strings.Join(parts, "; ")
}
