package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The -instructions mode counts the instructions each proxy of scenarios
// 1-3 executes per request, in its own process as deployed (the gateway is
// `aliasgate serve` with the harness's configuration: access log, vault,
// abuse limits, metrics; each baseline its role), under valgrind's
// callgrind with GOMAXPROCS=1 and asynchronous preemption off. The count
// does not depend on the machine's load or clock, so a change can be
// measured while other work runs, and it covers what an in-process Go
// benchmark leaves out (the access log, the listeners' middleware). It
// counts user-space instructions only: the kernel's share of the CPU
// (network system calls, about the same for both sides) is not in it, so
// its ratios are larger than the CPU-per-request ratios of a timed run.
//
// Each proxy gets instrWarm requests, its counters zeroed, n requests on
// instrConns keep-alive connections, and a dump; what runs in the process
// meanwhile (the collector, timers, the access log's flushes) is counted
// with the requests, as it is paid for them.
const (
	instrConns = 4
	instrWarm  = 200
)

// instrRow is one proxy's count.
type instrRow struct {
	name    string
	perReq  float64
	outFile string // the callgrind dump
}

// instrResult is one scenario's counts: the baselines first, the gateway
// last.
type instrResult struct {
	id    int
	title string
	rows  []instrRow
}

// valgrindWrap is the command that runs a proxy under callgrind, its dumps
// written to out.<n>.
func valgrindWrap(out string) []string {
	return []string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + out}
}

// instrEnv makes the runtime deterministic enough to count: one P, no
// preemption signals; and runnable under valgrind: the runtime reads the
// time stamp counter with RDTSCP where the CPU has it (AMD EPYC), an
// instruction valgrind 3.19 cannot run (SIGILL in runtime.cputicks), so
// it is turned off (RDTSC with fences instead).
var instrEnv = []string{"GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off"}

// runInstructions counts scenario id's proxies (see the comment above).
func runInstructions(ctx context.Context, e *env, id int) (*instrResult, error) {
	o := e.o
	res := &instrResult{id: id}
	var role, baseName string
	var args map[string][]string
	var body bodyFunc
	switch id {
	case 1, 2:
		role, baseName, args = roleReverseProxy, nameReverseProxy, e.rpArgs
		res.title = "inbound redact, PAN already in the vault + CVC, 1 KiB JSON"
		body = fixedBody(checkoutBody(benchPAN, benchCVC))
		if id == 2 {
			res.title = "inbound redact, a new PAN in every request (durable write, fsync) + CVC, 1 KiB JSON"
			body = newPANBody(&panSource{base: uint64(time.Now().UnixNano()) % 1e12})
		}
	case 3:
		role, baseName, args = roleGoproxy, nameGoproxy, e.gpArgs
		res.title = "outbound CONNECT MITM, reveal PAN + CVC aliases, 1 KiB JSON, TLS processor"
		// The baselines forward what they get; the counted gateway makes
		// its CVC alias again (below).
		body = fixedBody(checkoutBody(e.panAlias, e.cvcAlias))
	default:
		return nil, fmt.Errorf("-instructions counts scenarios 1-3, not %d", id)
	}
	for _, kind := range o.baselines {
		name := baselineName(baseName, kind)
		out := filepath.Join(e.dir, fmt.Sprintf("callgrind-s%d-%s-%s", id, role, kind))
		o.logf("scenario %d: counting %s's instructions (%d requests)…", id, name, o.instructions)
		p, addr, err := startRoleWrapped(ctx, role, append(append([]string(nil), o.baselineEnv...), instrEnv...), valgrindWrap(out), args[kind]...)
		if err != nil {
			return nil, err
		}
		ep := &endpoint{addr: addr, host: "shop.example", path: "/checkout"}
		if id == 3 {
			ep = e.tunnel(addr)
		}
		n, err := countInstructions(ctx, ep, p, body, o.instructions, out)
		p.kill() // its count is dumped; callgrind may trip over a SIGTERM
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		res.rows = append(res.rows, instrRow{name: name, perReq: n, outFile: out})
	}

	// The gateway: the running one stopped (its vault file is the one the
	// counted gateway opens), started again under callgrind with the same
	// binary, configuration and environment.
	out := filepath.Join(e.dir, fmt.Sprintf("callgrind-s%d-aliasgate", id))
	o.logf("scenario %d: counting aliasgate's instructions (%d requests)…", id, o.instructions)
	e.gw.stop()
	g, err := startGatewayWrapped(ctx, e.gwBin, e.gwCfg, e.gwLog, append(append([]string(nil), e.gwEnv...), instrEnv...), "", valgrindWrap(out))
	if err != nil {
		return nil, err
	}
	e.gw, e.fresh = g, false
	if err := e.makeAliases(ctx); err != nil { // the CVC's alias lives in the process
		return nil, err
	}
	ep := e.inbound().ep
	if id == 3 {
		ep = e.outbound().ep
		body = fixedBody(checkoutBody(e.panAlias, e.cvcAlias))
	}
	n, err := countInstructions(ctx, ep, g.proc, body, o.instructions, out)
	g.kill()
	if err != nil {
		return nil, fmt.Errorf("aliasgate: %w", err)
	}
	res.rows = append(res.rows, instrRow{name: "aliasgate", perReq: n, outFile: out})
	if err := e.restartGateway(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// restartGateway starts the gateway again as setUp does, after a count
// stopped it, for the next scenario.
func (e *env) restartGateway(ctx context.Context) error {
	if e.gw != nil {
		e.gw.stop()
	}
	g, err := startGateway(ctx, e.gwBin, e.gwCfg, e.gwLog, e.gwEnv, e.gwPprof)
	if err != nil {
		return err
	}
	e.gw, e.fresh = g, true
	return e.makeAliases(ctx)
}

// countInstructions sends instrWarm requests to ep, zeroes the callgrind
// counters of p, sends n requests, dumps them and returns the count per
// request.
func countInstructions(ctx context.Context, ep *endpoint, p *proc, body bodyFunc, n int, out string) (float64, error) {
	load := func(count int) error {
		res, err := runLoad(ctx, ep, loadSpec{conns: instrConns, count: count, body: body})
		if err != nil {
			return err
		}
		if res.errors > 0 || res.requests != count {
			return fmt.Errorf("%d of %d requests answered 200 (%d errors, first: %s)", res.requests, count, res.errors, res.firstErr)
		}
		return nil
	}
	if err := load(instrWarm); err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	pid := strconv.Itoa(p.pid())
	if err := callgrindControl(ctx, "--zero", pid); err != nil {
		return 0, err
	}
	if err := load(n); err != nil {
		return 0, err
	}
	before, _ := filepath.Glob(out + ".*")
	if err := callgrindControl(ctx, "--dump", pid); err != nil {
		return 0, err
	}
	// The dump is written by the process; wait for its new file.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		files, _ := filepath.Glob(out + ".*")
		for _, f := range files {
			if !slices.Contains(before, f) {
				total, err := callgrindTotal(f)
				if err == nil {
					return float64(total) / float64(n), nil
				}
				if !errors.Is(err, errIncomplete) {
					return 0, err
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no complete callgrind dump %s.* within 2 minutes", out)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// callgrindControl runs callgrind_control with args.
func callgrindControl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "callgrind_control", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// errIncomplete: a dump file without its totals line yet.
var errIncomplete = errors.New("callgrind dump not complete")

// callgrindTotal reads the instruction count of a callgrind dump: its
// "totals:" line, the last one written.
func callgrindTotal(file string) (uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "totals: "); ok {
			n, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: totals line %q: %w", file, v, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errIncomplete
}

// instructionsMarkdown reports one scenario's counts.
func instructionsMarkdown(o *options, r *instrResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Scenario %d: %s — instructions per request (callgrind)\n\n", r.id, r.title)
	fmt.Fprintf(&b, "User-space instructions per request, %d requests on %d keep-alive connections after %d unmeasured, each proxy in its own process under callgrind (`GOMAXPROCS=1`, `GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off`); the kernel's share is not counted.\n\n", o.instructions, instrConns, instrWarm)
	b.WriteString("| proxy | instructions / request | aliasgate ÷ it |\n|---|---:|---:|\n")
	gw := r.rows[len(r.rows)-1]
	for _, row := range r.rows {
		ratio := ""
		if row.name != gw.name && row.perReq > 0 {
			ratio = fmt.Sprintf("%.2f×", gw.perReq/row.perReq)
		}
		fmt.Fprintf(&b, "| %s | %.1fk | %s |\n", row.name, row.perReq/1000, ratio)
	}
	return b.String()
}
