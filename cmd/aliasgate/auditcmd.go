package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/regfile"
	"github.com/aliasgate/aliasgate/vault"
)

const auditVerifyUsage = `Verifies the audit log (audit.path, default <data_dir>/audit.log, or FILE)
together with its rotated files (FILE.<seq>.<time>, oldest first): every
line's HMAC, that the sequence counts up and that each line chains to the one
before, across files. It needs the master key (ALIASGATE_MASTER_KEY or
<data_dir>/master.key), which the HMACs are derived from.

Prints "ok, N lines" (and "in K files" for a rotated set) and exits 0 when the
log is intact; otherwise names the first bad file and line and how it is bad
(edited, removed, reordered, truncated, a gap the gateway recorded, or a
missing file between two others) and exits 1. A torn line left by a crash and
the audit_recovered line that follows it are accepted, as is a rotation a
crash cut short. When the oldest rotated files were removed (audit.keep, or by
hand) the set starts after seq 1 and a note says so. Lines cut off the end of
a log cannot be seen in the files alone: a stopped gateway's log ends with
gateway_stopped, and a note says when it does not (an empty log included). With --single, FILE is
verified alone (a rotated file may be given).`

func runAuditVerify(_ context.Context, e env, args []string) error {
	fs := newFlagSet("audit verify [--config FILE | --data-dir D] [--single] [FILE]", auditVerifyUsage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	single := fs.Bool("single", false, "verify FILE alone, without its rotated files")
	file, err := parseOptionalArg(fs, e, args)
	if err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if file == "" {
		file = cfg.AuditPath()
	}
	master, _, err := vault.LoadMasterKey(cfg.DataDir, e.getenv, false)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit verify needs the master key: %s does not exist (check --data-dir or data_dir: the data dir that holds the log's %s), and %s is not set",
				filepath.Join(cfg.DataDir, vault.MasterKeyFile), vault.MasterKeyFile, vault.MasterKeyEnv)
		}
		return err
	}
	keys, err := audit.DeriveKeys(master)
	if err != nil {
		return err
	}
	if *single {
		res, err := audit.VerifyFile(file, keys)
		if err != nil {
			return fmt.Errorf("audit log %s: %w", file, err)
		}
		fmt.Fprintf(e.stdout, "ok, %d lines\n", res.Lines)
		auditNotes(e, res.Recovered, res.FirstSeq, res.Lines, res.LastEvent, res.LastActor, file)
		return nil
	}
	res, err := audit.VerifySet(file, keys)
	if err != nil {
		return fmt.Errorf("audit log %s: %w", file, err)
	}
	if len(res.Files) > 1 {
		fmt.Fprintf(e.stdout, "ok, %d lines in %d files\n", res.Lines, len(res.Files))
	} else {
		fmt.Fprintf(e.stdout, "ok, %d lines\n", res.Lines)
	}
	first := file
	if len(res.Files) > 0 {
		first = res.Files[0].Path
	}
	auditNotes(e, res.Recovered, res.FirstSeq, res.Lines, res.LastEvent, res.LastActor, first)
	if res.CurrentMissing {
		fmt.Fprintf(e.stderr, "note: %s does not exist: a rotation was cut short (a crash after the rename); the next append continues the chain in a new file\n", file)
	}
	if res.RotationPending {
		fmt.Fprintf(e.stderr, "note: %s ends with its audit_rotated line: a rotation was cut short (a crash before the rename); the next append finishes it\n", file)
	}
	return nil
}

// auditNotes prints verify's notes: recovered crashes, a log that starts
// after seq 1 (rotated files removed), and a last line that is not a stop
// (a gateway's gateway_stopped, or a line a command wrote while none ran),
// or no line at all.
func auditNotes(e env, recovered int, firstSeq uint64, lines int, lastEvent, lastActor, first string) {
	if recovered > 0 {
		fmt.Fprintf(e.stderr, "note: %d torn line(s) from crashes, each followed by its audit_recovered line\n", recovered)
	}
	if firstSeq > 1 {
		fmt.Fprintf(e.stderr, "note: the log starts at seq %d (%s starts with audit_continued): the rotated files before it were removed (audit.keep, or by hand) or are kept elsewhere\n", firstSeq, first)
	}
	switch {
	case lines == 0:
		// Every line cut off looks the same as nothing recorded yet.
		fmt.Fprintf(e.stderr, "note: the log is empty: fine if nothing was ever recorded in it; otherwise its lines were cut off\n")
	case lastEvent != audit.EventGatewayStopped && lastActor != audit.ActorCLI:
		fmt.Fprintf(e.stderr, "note: the last line is %q, not gateway_stopped: fine while a gateway runs (or after a crash); otherwise lines may have been cut off the end\n", lastEvent)
	}
}

// parseOptionalArg parses args with at most one positional argument, which
// may come before, between or after the flags, and returns it ("" when
// absent).
func parseOptionalArg(fs *flag.FlagSet, e env, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := parseArgs(fs, e, args, -1); err != nil {
		return "", err
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
		if err := parseArgs(fs, e, fs.Args()[1:], -1); err != nil {
			return "", err
		}
	}
	if fs.NArg() > 0 {
		return "", usagef("%s: want at most one argument, got %d (see --help)", fs.Name(), fs.NArg()+1)
	}
	return arg, nil
}

// openAuditLog opens the configured audit log, or returns nil when
// audit.enabled is off.
func openAuditLog(cfg config.Config, master []byte, logger *slog.Logger) (*audit.Writer, error) {
	if !cfg.Audit.Enabled {
		return nil, nil
	}
	keys, err := audit.DeriveKeys(master)
	if err != nil {
		return nil, err
	}
	w, err := audit.Open(cfg.AuditPath(), keys, audit.Options{Logger: logger, SyncInterval: cfg.AuditSyncInterval(),
		MaxSize: cfg.Audit.MaxSize.Int64(), MaxAge: cfg.Audit.MaxAge.Std(), Keep: cfg.Audit.Keep})
	if err != nil {
		return nil, fmt.Errorf("audit log (audit.path): %w", err)
	}
	return w, nil
}

// openAudit opens the gateway's audit log, writes its gateway_started line
// and registers its metrics. With audit.enabled off it does nothing (serve
// warns of it at start).
func (gw *gateway) openAudit(master []byte) error {
	w, err := openAuditLog(gw.cfg, master, gw.logger)
	if err != nil {
		return err
	}
	if w == nil {
		return nil // said at start (config.Config.Warnings)
	}
	gw.audit = w
	if err := w.Log(context.Background(), audit.Event{Event: audit.EventGatewayStarted, Actor: audit.ActorSystem}); err != nil {
		return err
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aliasgate_audit_lines_total",
			Help: "Audit log lines written by this process."}, func() float64 { return float64(w.Lines()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aliasgate_audit_failures_total",
			Help: "Audit log lines that could not be written (their reveals were refused)."}, func() float64 { return float64(w.Failures()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aliasgate_audit_rotations_total",
			Help: "Audit log files this process closed and renamed (audit.max_size, audit.max_age)."}, func() float64 { return float64(w.Rotations()) }),
	} {
		registerOnce(gw.metrics.Registry, c)
	}
	gw.logger.Info("audit log open", "file", w.Path())
	return nil
}

// registerOnce registers c, ignoring a collector registered before.
func registerOnce(r *prometheus.Registry, c prometheus.Collector) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
	}
}

// vaultAuditor is the vault's Auditor: the audit log, or none.
func (gw *gateway) vaultAuditor() vault.Auditor {
	if gw.audit == nil {
		return nil
	}
	return gw.audit
}

// auditEvent records e when the audit log is on. Failures are logged: the
// callers (reloads, rotations) cannot be undone, so they are not refused.
func (gw *gateway) auditEvent(ctx context.Context, e audit.Event) error {
	if gw.audit == nil {
		return nil
	}
	if err := gw.audit.Log(ctx, e); err != nil {
		gw.logger.Error("audit: could not record an event", "event", e.Event, "error", err.Error())
		return err
	}
	return nil
}

// auditReady is the audit part of /readyz for a gateway of a PostgreSQL
// vault, w its audit log: while the log takes no lines every reveal is refused (503), so a
// load balancer should send them to another gateway of the vault. It
// checks the writer (audit.Writer.Check: nothing to do while the last
// append succeeded; after a failure it appends an audit_resumed line, so
// the gateway is ready again as soon as the log is writable, with no
// reveal first). The reason names the system error, not the path (the
// readiness answer needs no token); the gateway's log has the whole error.
// A bbolt vault's only gateway does not check it: there is no other
// gateway to send reveals to, and its redactions need no audit line.
func auditReady(ctx context.Context, w *audit.Writer) error {
	err := w.Check(ctx)
	if err == nil {
		return nil
	}
	reason := "the audit log cannot be written, so reveals are refused until it can (the gateway's log says why: \"audit: append failed\")"
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		reason += ": " + errno.Error()
	case errors.Is(err, regfile.ErrNotRegular):
		reason += ": audit.path is not a regular file"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		reason += ": the check timed out"
	}
	return errors.New(reason)
}

// auditReload records a route reload (routes.Reloader.OnReload).
func (gw *gateway) auditReload(routes int, err error) {
	e := audit.Event{Event: audit.EventRoutesReloaded, Actor: audit.ActorSystem, Routes: routes}
	if err != nil {
		e.Outcome = audit.OutcomeInvalid
	}
	_ = gw.auditEvent(context.Background(), e)
}

// auditRoutesApplied records a route set put in force through the
// inspector (inspector.Options.Applied): a routes_reloaded line whose actor
// is the admin listener, reason "inspector".
func (gw *gateway) auditRoutesApplied(ctx context.Context, routes int) error {
	return gw.auditEvent(ctx, audit.Event{Event: audit.EventRoutesReloaded, Actor: audit.ActorAdmin,
		Routes: routes, Reason: "inspector"})
}

// closeAudit writes the gateway_stopped line and closes the log.
func (gw *gateway) closeAudit() {
	if gw.audit == nil {
		return
	}
	_ = gw.auditEvent(context.Background(), audit.Event{Event: audit.EventGatewayStopped, Actor: audit.ActorSystem})
	if err := gw.audit.Close(); err != nil {
		gw.logger.Error("close audit log", "error", err.Error())
	}
	gw.audit = nil
}

// auditCLI opens the audit log for a command that changes the vault
// (clients create, keys rotate): nil when audit.enabled is off. Opening it
// first makes a command fail before it changes anything when the log is
// unusable.
func auditCLI(cfg config.Config, master []byte) (*audit.Writer, error) {
	return openAuditLog(cfg, master, nil)
}

// logCLI records e through w (nil: audit off).
func logCLI(ctx context.Context, w *audit.Writer, e audit.Event) error {
	if w == nil {
		return nil
	}
	e.Actor = audit.ActorCLI
	return w.Log(ctx, e)
}
