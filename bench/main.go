// Command bench is aliasgate's load harness. One command starts an echo
// upstream, a TLS "processor", the baselines (httputil.ReverseProxy and
// goproxy MITM, without rewriting) and the real aliasgate binary (built
// with go build), each in its own process on 127.0.0.1, drives them with its
// own load generator, and reports requests/s, latency percentiles, CPU and
// peak RSS of each proxy and the ratio to its baselines:
//
//	go run ./bench                       # scenarios 1–4, docs/PERFORMANCE.md and charts in docs/
//	go run ./bench -smoke                # a few seconds, nothing written (CI)
//	go run ./bench -scenarios 1 -profile /tmp/prof   # with CPU and allocation profiles (gateway and baselines)
//	go run ./bench -scenarios 4 -vault-sizes 10000,100000,1000000,10000000   # 10M: not in CI
//	go run ./bench -store postgres -postgres-url postgres://… -redis-url redis://…   # scenario 5
//	go run ./bench -scenarios 1,3 -baselines tuned -env GOGC=200   # one baseline kind, GOGC for all proxies
//	go run ./bench -scenarios 1,3 -baselines tuned -instructions 1000 -keep   # instructions per request (callgrind; see instructions.go)
//
// Each baseline runs in two kinds (-baselines both, the default): tuned,
// with the gateway's GC policy (internal/gctune, as aliasgate serve) and
// buffer pooling, and stock, without them; both use the gateway's upstream
// transport settings (baselines.go). Targets are judged against the tuned
// baselines; the ratios to the stock ones are reported beside them.
//
// Scenarios: (1) inbound redact of a 1 KiB JSON body with a card number
// already in the vault and a CVC, against ReverseProxy; (2) the same with a
// new card number in every request (a durable write each); (3) outbound
// CONNECT MITM revealing both aliases towards a TLS processor, against
// goproxy MITM; (4) reveal latency and bytes on disk per alias at growing
// vault sizes. With -store postgres, 1–4 run on PostgreSQL + Redis (5).
//
// # How it measures
//
// Throughput is closed loop: -conns keep-alive connections (opened, tunnels
// and TLS sessions included, before the clock starts) each send the next
// request as soon as the previous answer is read, for -duration. Latency
// added is open loop: requests are due on a fixed schedule at 1/-open-div of
// the (tuned) baseline's closed-loop throughput and each latency counts
// from its due time (no coordinated omission). Every latency is kept;
// percentiles are exact (nearest rank over the sorted samples). Baselines
// and aliasgate are measured alternately, aliasgate next to each baseline
// (B A, A B, … with one kind; T A S, S A T, … with both) -reps times and
// the medians reported, with each ratio as the median of the per-rep
// ratios. CPU is the proxy process's user+system time over wall time
// (/proc/<pid>/stat), RSS its peak resident set during the run (VmHWM,
// reset before each run); CPU per request is reported for every side.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the harness's flags.
type options struct {
	scenarios     []int
	duration      time.Duration
	warmup        time.Duration
	reps          int
	conns         int
	openDiv       float64
	out           string
	chartDir      string
	smoke         bool
	vaultSizes    []int
	revealWorkers int
	profileDir    string
	gatewayBin    string
	logLevel      string
	store         string
	pgURL         string
	redisURL      string
	auditFsync    string
	limits        string   // -limits: on (the gateway's defaults) or off
	gatewayEnv    []string // -gateway-env and -env: added to the gateway's environment
	baselineEnv   []string // -baseline-env and -env: added to every baseline's environment
	baselines     []string // -baselines: kindTuned and/or kindStock, the one targets are judged against first
	keep          bool
	instructions  int // -instructions: requests counted per proxy, 0 for a timed run
	command       string
	log           io.Writer
}

func (o *options) logf(format string, args ...any) {
	fmt.Fprintf(o.log, format+"\n", args...)
}

// parseFlags reads the flags; -smoke changes the defaults of the flags not
// given.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{log: stderr}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: go run ./bench [flags]\n\nLoad harness of aliasgate (see docs/PERFORMANCE.md). Flags:")
		fs.PrintDefaults()
	}
	scen := fs.String("scenarios", "1,2,3,4", "scenarios to run, comma-separated (1-4; -store postgres makes them scenario 5; 6: bbolt vs PostgreSQL with 1 and 2 gateways, needs -postgres-url and -redis-url)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each scenario's runs")
	fs.IntVar(&o.reps, "reps", 3, "measured runs of each proxy per phase (alternating with its baseline)")
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections of the load generator")
	fs.Float64Var(&o.openDiv, "open-div", 8, "open-loop rate = baseline closed-loop req/s divided by this")
	fs.StringVar(&o.out, "out", "docs/PERFORMANCE.md", "markdown `file` to write or update (between its bench markers); empty: none")
	fs.StringVar(&o.chartDir, "chart", "docs", "`dir`ectory for the SVG charts; empty: none")
	fs.BoolVar(&o.smoke, "smoke", false, "a few seconds in all, small vaults, nothing written unless -out/-chart are given (CI)")
	sizes := fs.String("vault-sizes", "10000,100000,1000000", "scenario 4 vault sizes (10000000 works too: about 4 GB and many minutes, not for CI)")
	fs.IntVar(&o.revealWorkers, "reveal-workers", 1, "scenario 4: concurrent reveal callers")
	fs.StringVar(&o.profileDir, "profile", "", "write CPU and allocation profiles of the gateway and of the baselines for scenarios 1-3 into `dir`, each under the same closed-loop load after the measured runs (builds the gateway with a pprof endpoint)")
	fs.StringVar(&o.gatewayBin, "gateway", "", "use this aliasgate `binary` instead of building ./cmd/aliasgate")
	fs.StringVar(&o.logLevel, "log-level", "info", "the gateway's log.level (info: an access line per request, as deployed)")
	fs.StringVar(&o.store, "store", "bolt", "vault store: bolt, or postgres (with Redis for volatile values: scenario 5)")
	fs.StringVar(&o.pgURL, "postgres-url", "", "vault.postgres_url for -store postgres")
	fs.StringVar(&o.redisURL, "redis-url", "", "vault.redis_url for -store postgres")
	fs.StringVar(&o.limits, "limits", "on", "the gateway's abuse limits: on (its defaults; the new-value loads of scenarios 2 and 6 from one address turn off the two limits meant to refuse them, and the report says so) or off (every abuse limit 0)")
	fs.StringVar(&o.auditFsync, "audit-fsync", "", "the gateway's audit.fsync (interval or always); empty: its default")
	fs.Func("gateway-env", "`NAME=value` added to the gateway's environment only (repeatable), e.g. GOGC=200", envFlag(&o.gatewayEnv))
	fs.Func("baseline-env", "`NAME=value` added to the environment of every baseline, tuned and stock (repeatable); GOGC turns a tuned baseline's gctune off, as it does the gateway's", envFlag(&o.baselineEnv))
	fs.Func("env", "`NAME=value` added to the environment of the gateway and of every baseline (repeatable): -gateway-env and -baseline-env at once", envFlag(&o.gatewayEnv, &o.baselineEnv))
	baselines := fs.String("baselines", "both", "baselines of scenarios 1-3: tuned (the gateway's GC policy and buffer pooling), stock (neither), or both; targets are judged against tuned when it runs")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, vault files)")
	fs.IntVar(&o.instructions, "instructions", 0, "instead of timed runs, count the user-space instructions per request of each proxy of scenarios 1-3 over this many requests, each in its own process under valgrind's callgrind (needs valgrind; with -keep the dumps stay for callgrind_annotate)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.smoke {
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("duration", func() { o.duration = 250 * time.Millisecond })
		def("warmup", func() { o.warmup = 100 * time.Millisecond })
		def("reps", func() { o.reps = 1 })
		def("conns", func() { o.conns = 8 })
		def("vault-sizes", func() { *sizes = "1000,3000" })
		def("out", func() { o.out = "" })
		def("chart", func() { o.chartDir = "" })
	}
	var err error
	if o.scenarios, err = parseInts(*scen); err != nil {
		return nil, fmt.Errorf("-scenarios: %w", err)
	}
	for _, s := range o.scenarios {
		if s < 1 || s > 6 || s == 5 {
			return nil, fmt.Errorf("-scenarios: no scenario %d (1-4, 6; scenario 5 is -store postgres)", s)
		}
	}
	if o.baselines, err = baselineKinds(*baselines); err != nil {
		return nil, err
	}
	if o.vaultSizes, err = parseInts(*sizes); err != nil {
		return nil, fmt.Errorf("-vault-sizes: %w", err)
	}
	slices.Sort(o.vaultSizes)
	switch {
	case o.duration <= 0 || o.reps < 1 || o.conns < 1 || o.openDiv < 1 || o.revealWorkers < 1:
		return nil, errors.New("-duration, -reps, -conns, -reveal-workers must be positive and -open-div at least 1")
	case o.instructions < 0:
		return nil, errors.New("-instructions must not be negative")
	case o.instructions > 0 && slices.ContainsFunc(o.scenarios, func(s int) bool { return s > 3 }):
		return nil, errors.New("-instructions counts the proxies of scenarios 1-3 only")
	case o.instructions > 0 && o.profileDir != "":
		return nil, errors.New("-instructions and -profile measure in different ways: one at a time")
	case o.store != "bolt" && o.store != "postgres":
		return nil, fmt.Errorf("-store %q: bolt or postgres", o.store)
	case o.limits != "on" && o.limits != "off":
		return nil, fmt.Errorf("-limits %q: on or off", o.limits)
	case o.auditFsync != "" && o.auditFsync != "interval" && o.auditFsync != "always":
		return nil, fmt.Errorf("-audit-fsync %q: interval or always", o.auditFsync)
	case o.store == "postgres" && (o.pgURL == "" || o.redisURL == ""):
		return nil, errors.New("-store postgres needs -postgres-url and -redis-url")
	}
	o.command = "go run ./bench"
	if len(args) > 0 {
		o.command += " " + strings.Join(redactArgs(args), " ")
	}
	return o, nil
}

// redactArgs hides the URLs of -postgres-url and -redis-url (they may hold
// passwords) in the command written to the report.
func redactArgs(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		for _, f := range []string{"postgres-url", "redis-url"} {
			switch {
			case a == "-"+f || a == "--"+f:
				if i+1 < len(out) {
					out[i+1] = "…"
				}
			case strings.HasPrefix(a, "-"+f+"=") || strings.HasPrefix(a, "--"+f+"="):
				out[i] = a[:strings.IndexByte(a, '=')+1] + "…"
			}
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// report is everything one harness run measured.
type report struct {
	machine   machine
	command   string
	started   time.Time
	o         *options
	scenarios []*scenarioResult
	scale     *scaleResult
	charts    []string // chart files written, relative to the markdown file's directory
}

// run is the harness: it parses args, runs the scenarios, prints the
// tables to stdout, writes the markdown file and the charts, and returns
// what it measured.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*report, error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aliasgate-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		o.logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	rep := &report{machine: describeMachine(), command: o.command, started: time.Now(), o: o}
	o.logf("%s", rep.machine.oneLine())

	var proxyIDs []int
	for _, id := range o.scenarios {
		if id <= 3 {
			proxyIDs = append(proxyIDs, id)
		}
	}
	var e *env
	if len(proxyIDs) > 0 || (slices.Contains(o.scenarios, 4) && o.store == "postgres") {
		if e, err = setUp(ctx, o, dir); err != nil {
			return nil, err
		}
		defer e.close()
	}
	if o.instructions > 0 {
		for _, id := range proxyIDs {
			res, err := runInstructions(ctx, e, id)
			if err != nil {
				return nil, fmt.Errorf("scenario %d: %w", id, err)
			}
			fmt.Fprintln(stdout, instructionsMarkdown(o, res))
		}
		return rep, nil
	}
	for _, id := range proxyIDs {
		res, err := runProxyScenario(ctx, e, id)
		if err != nil {
			return nil, fmt.Errorf("scenario %d: %w", id, err)
		}
		rep.scenarios = append(rep.scenarios, res)
		fmt.Fprintln(stdout, rep.scenarioMarkdown(res))
	}
	if slices.Contains(o.scenarios, 4) {
		o.logf("scenario 4: vault scaling %v", o.vaultSizes)
		var res *scaleResult
		if o.store == "postgres" {
			res, err = runVaultScalingAPI(ctx, o, e)
		} else {
			res, err = runVaultScaling(ctx, o, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("scenario 4: %w", err)
		}
		rep.scale = res
		fmt.Fprintln(stdout, rep.scaleMarkdown(res))
	}
	if slices.Contains(o.scenarios, 6) {
		rows, err := runScaleOut(ctx, o, dir)
		if err != nil {
			return nil, fmt.Errorf("scenario 6: %w", err)
		}
		fmt.Fprintln(stdout, scaleOutMarkdown(o, rows))
	}
	if o.chartDir != "" {
		if err := rep.writeCharts(o.chartDir, o.out); err != nil {
			return nil, fmt.Errorf("charts: %w", err)
		}
	}
	fmt.Fprintln(stdout, rep.targetsMarkdown())
	if o.out != "" {
		if err := rep.writeMarkdown(o.out); err != nil {
			return nil, err
		}
		o.logf("wrote %s", o.out)
	}
	return rep, nil
}
