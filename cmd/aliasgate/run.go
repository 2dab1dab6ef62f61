package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or "dev" is shown.
var version = ""

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// env is what every command gets from the process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway (inbound and outbound proxies, admin listener)", runServe},
		{"clients create", "create an API client and print its id and secret once", runClientsCreate},
		{"clients list", "list the API and outbound clients (never a secret)", runClientsList},
		{"clients revoke", "revoke a client: its secret and tokens stop working", runClientsRevoke},
		{"clients rotate-secret", "give a client a new secret, printed once; older tokens stop working", runClientsRotateSecret},
		{"config check", "validate a configuration file and print every problem", runConfigCheck},
		{"routes validate", "validate a route file and print every problem with its line", runRoutesValidate},
		{"routes test", "show what a request becomes under a route file (dry run)", runRoutesTest},
		{"routes import-vgs", "convert a VGS route export into native routes", runRoutesImportVGS},
		{"ca cert", "print the gateway CA certificate that outbound proxy clients trust", runCACert},
		{"migrate", "apply the PostgreSQL schema migrations of vault.store", runMigrate},
		{"vault copy", "copy a vault into another store (bbolt to PostgreSQL), same aliases", runVaultCopy},
		{"vault compact", "rewrite the stopped bbolt vault file with full pages (reclaims free space)", runVaultCompact},
		{"audit verify", "check the audit log's HMAC chain: edited, removed, reordered or truncated lines", runAuditVerify},
		{"keys rotate", "add a data-key version; the gateway re-encrypts older records in the background", runKeysRotate},
		{"keys status", "show the data-key versions and the re-encryption's progress", runKeysStatus},
		{"tsp simulate", "have the running gateway's token service simulator raise a network event for a card", runTSPSimulate},
		{"webhooks deliveries", "print the webhook delivery log: every delivery and its attempts", runWebhooksDeliveries},
		{"webhooks redeliver", "send a delivered or failed webhook delivery again", runWebhooksRedeliver},
		{"version", "print the version", runVersion},
	}
}

const mainUsage = `aliasgate keeps card data out of your systems: a tokenization gateway.

Usage:
  aliasgate <command> [flags]

Commands:
%s
Run "aliasgate <command> --help" for a command's flags.
`

func printMainUsage(w io.Writer) {
	var b strings.Builder
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, mainUsage, b.String())
}

// run is the whole program: main only adds the process around it. Every
// command's stdout, its --help and --version's included, is an
// outputWriter: output that could not be written (a full disk, a closed
// pipe) is a failure, named after the command.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	out := &outputWriter{w: stdout}
	name, err := runCommand(ctx, args, env{getenv: getenv, stdout: out, stderr: stderr})
	if err == nil && out.err != nil {
		err = fmt.Errorf("%s: its output could not be written: %w", name, out.err)
	}
	return err
}

// runCommand runs the command args name and returns that name (for run's
// message) with the command's error.
func runCommand(ctx context.Context, args []string, e env) (string, error) {
	if len(args) == 0 {
		printMainUsage(e.stderr)
		return "", usagef("no command given")
	}
	switch a := args[0]; {
	case a == "-h" || a == "--help":
		printMainUsage(e.stdout)
		return "help", nil
	case a == "help":
		// "help" alone, or "help <command>": that command's help.
		if len(args) == 1 {
			printMainUsage(e.stdout)
			return "help", nil
		}
		return runCommand(ctx, append(append([]string(nil), args[1:]...), "--help"), e)
	case a == "--version" || a == "-version":
		return "version", runVersion(ctx, e, args[1:])
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.name, c.run(ctx, e, args[len(words):])
		}
	}
	// A group word alone ("clients", "config") lists its subcommands; with
	// --help (or -h) that list is the help asked for.
	var sub []command
	for _, c := range commands() {
		if strings.HasPrefix(c.name, args[0]+" ") {
			sub = append(sub, c)
		}
	}
	if len(sub) > 0 {
		if len(args) == 2 && (args[1] == "--help" || args[1] == "-h") {
			fmt.Fprintf(e.stdout, "Usage: aliasgate %s <subcommand> [flags]\n\nSubcommands:\n", args[0])
			for _, c := range sub {
				fmt.Fprintf(e.stdout, "  %-22s %s\n", c.name, c.summary)
			}
			fmt.Fprintf(e.stdout, "\nRun \"aliasgate %s <subcommand> --help\" for its flags.\n", args[0])
			return args[0], nil
		}
		names := make([]string, len(sub))
		for i, c := range sub {
			names[i] = c.name
		}
		return args[0], usagef("%q needs a subcommand: %s", args[0], strings.Join(names, ", "))
	}
	printMainUsage(e.stderr)
	return args[0], usagef("unknown command %q", args[0])
}

// parseFlags parses args with fs, printing usage to stdout for --help
// (returning errHelp) and turning other problems into usage errors. The
// command takes no positional arguments.
func parseFlags(fs *flag.FlagSet, e env, args []string) error {
	return parseArgs(fs, e, args, 0)
}

// parseArgs is parseFlags for a command with n positional arguments (n < 0:
// any number, left in fs.Args()). A usage error never echoes a card-like
// number a user typed into the wrong place: it is masked as text shown to
// people is (pan.MaskShown, after pan.MaskLoose's '_' and ':' groups).
func parseArgs(fs *flag.FlagSet, e env, args []string, n int) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return errHelp
		}
		return usagef("%s: %s (see --help)", fs.Name(), pan.MaskShown(pan.MaskLoose(err.Error())))
	}
	if err := emptyFlag(fs); err != nil {
		return err
	}
	if n < 0 {
		return nil
	}
	if fs.NArg() != n {
		if n == 0 {
			return usagef("%s: unexpected argument %q (see --help)", fs.Name(), pan.MaskShown(pan.MaskLoose(fs.Arg(0))))
		}
		return usagef("%s: want %d argument(s), got %d (see --help)", fs.Name(), n, fs.NArg())
	}
	return nil
}

// emptyFlag refuses a flag given an empty value (--data-dir "" or
// --config=): most likely an unset variable ("$DATA"), and leaving the flag
// out means something else (the configured data dir, the built-in
// defaults), such as a new vault in the working directory.
func emptyFlag(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			return
		}
		if err == nil && f.Value.String() == "" {
			err = usagef("%s: --%s was given an empty value (an unset variable?); leave the flag out for its default (see --help)", fs.Name(), f.Name)
		}
	})
	return err
}

// outputWriter is a command's stdout that remembers the first write that
// failed: a command whose output could not be written (a redirect to a
// full disk, a closed pipe) fails, whatever it did with the write's error
// (run). serve writes only its --help there (its logs go to stderr).
type outputWriter struct {
	w   io.Writer
	err error
}

func (o *outputWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// errHelp ends a command after it printed its help; run returns nil for it.
var errHelp = errors.New("help shown")

func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aliasgate %s\n\n%s\n", name, strings.TrimSpace(usage))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags { // no empty "Flags:" heading for routes validate, version…
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlagSet("version", "Prints the version of this build.")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	fmt.Fprintln(e.stdout, "aliasgate", buildVersion())
	return nil
}

// buildVersion is the version of this build: -ldflags -X main.version
// when set, else the module version from the build info ("(devel)" for a
// build from a checkout), followed by the VCS revision, its time and
// "+dirty" when the build info records them (go build from a git
// checkout does).
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	v := version
	if v == "" {
		v = "(devel)"
		if ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	if !ok {
		return v
	}
	var rev, at, dirty string
	for _, st := range bi.Settings {
		switch st.Key {
		case "vcs.revision":
			rev = st.Value
		case "vcs.time":
			at = st.Value
		case "vcs.modified":
			if st.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return v + " " + bi.GoVersion
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("%s %s%s %s %s", v, rev, dirty, at, bi.GoVersion)
}

// helpOK turns errHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
