package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestMain lets the test binary play the harness's roles: the harness
// re-executes its own binary (here, the test binary) as the upstreams and
// baselines.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness in -smoke mode (a few seconds of load on
// every scenario, small vaults) and checks that it measured something sane.
// It asserts no timing: the machine may be busy.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway and runs it under load")
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "PERFORMANCE.md")
	if err := os.WriteFile(md, []byte("# Performance\n\nHand-written notes.\n\n"+beginMarker+"\nold\n"+endMarker+"\n\nMore notes.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := run(ctx, []string{"-smoke", "-duration", "200ms", "-baselines", "both", "-out", md, "-chart", filepath.Join(dir, "charts")}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, stderr.String())
	}
	if len(rep.scenarios) != 3 {
		t.Fatalf("%d proxy scenarios measured, want 3", len(rep.scenarios))
	}
	for _, s := range rep.scenarios {
		checkScenario(t, s, []string{kindTuned, kindStock})
		// The tuned baselines run gctune as serve does; the stock ones do
		// not, and only the tuned ReverseProxy pools its buffers.
		if !strings.Contains(s.tuning[0], "gctune (GOGC ") || !strings.Contains(s.tuning[1], "default GOGC 100") {
			t.Errorf("scenario %d: baseline tuning %q", s.id, s.tuning)
		}
		if s.baseName == nameReverseProxy && (!strings.Contains(s.tuning[0], "BufferPool of 32 KiB") || !strings.Contains(s.tuning[1], "no BufferPool")) {
			t.Errorf("scenario %d: ReverseProxy buffers %q", s.id, s.tuning)
		}
	}
	if rep.scale == nil || len(rep.scale.rows) != 2 {
		t.Fatalf("scenario 4: %+v", rep.scale)
	}
	for _, r := range rep.scale.rows {
		p50, p99 := r.pct(50), r.pct(99)
		if r.aliases == 0 || len(r.runs) == 0 || len(r.runs[0]) == 0 || p50 <= 0 || p99 < p50 {
			t.Errorf("scenario 4 at %d aliases: %d runs, p50 %v p99 %v", r.aliases, len(r.runs), p50, p99)
		}
		if r.fileBytes <= 0 || r.liveBytes <= 0 || r.compactBytes <= 0 {
			t.Errorf("scenario 4 at %d aliases: file %d, in use %d, compacted %d bytes", r.aliases, r.fileBytes, r.liveBytes, r.compactBytes)
		}
	}

	got, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Hand-written notes.", "More notes.", "### Scenario 1", "### Scenario 3", "### Scenario 4",
		"| target | measured (vs tuned baseline) | vs stock baseline |", "go run ./bench -smoke", "![perf-throughput-ratio]",
		"aliasgate ÷ ReverseProxy (tuned)", "aliasgate ÷ ReverseProxy (stock)", "aliasgate ÷ goproxy MITM (stock)", "added by aliasgate (vs goproxy MITM (tuned))"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("%s lacks %q", md, want)
		}
	}
	if strings.Contains(string(got), "\nold\n") || strings.Count(string(got), beginMarker) != 1 {
		t.Errorf("the generated section was not replaced:\n%s", got)
	}
	for _, c := range []string{"perf-throughput-ratio.svg", "perf-scenario1-latency.svg", "perf-scenario2-latency.svg",
		"perf-scenario3-latency.svg", "perf-vault-scaling.svg", "perf-vault-bytes.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, "charts", c))
		if err != nil || !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("chart %s: %v", c, err)
		}
	}
	if pan.Contains(stdout.Bytes()) || pan.Contains(got) {
		t.Error("the report holds a card number")
	}
}

// checkScenario checks that every baseline of kinds and the gateway were
// measured in both phases.
func checkScenario(t *testing.T, s *scenarioResult, kinds []string) {
	t.Helper()
	if !slices.Equal(s.kinds, kinds) || len(s.tuning) != len(kinds) || len(s.closed.bases) != len(kinds) || len(s.open.bases) != len(kinds) {
		t.Fatalf("scenario %d: baselines %v (tuning %q), %d closed, %d open; want %v", s.id, s.kinds, s.tuning, len(s.closed.bases), len(s.open.bases), kinds)
	}
	type runs struct {
		name string
		runs []runStats
	}
	all := []runs{{"closed/aliasgate", s.closed.gw}, {"open/aliasgate", s.open.gw}}
	for i := range kinds {
		all = append(all, runs{"closed/" + s.baseLabel(i), s.closed.bases[i]}, runs{"open/" + s.baseLabel(i), s.open.bases[i]})
	}
	for _, ph := range all {
		if len(ph.runs) == 0 {
			t.Errorf("scenario %d %s: no runs", s.id, ph.name)
		}
		for _, r := range ph.runs {
			checkRun(t, s.id, ph.name, r)
		}
	}
	if s.open.rate <= 0 {
		t.Errorf("scenario %d: open-loop rate %v", s.id, s.open.rate)
	}
}

// TestSmokeOneBaseline runs scenario 3 against the stock baseline alone,
// with -baseline-env reaching it.
func TestSmokeOneBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway and runs it under load")
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := run(ctx, []string{"-smoke", "-scenarios", "3", "-duration", "100ms", "-baselines", "stock", "-baseline-env", "GOGC=150"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, stderr.String())
	}
	if len(rep.scenarios) != 1 {
		t.Fatalf("%d proxy scenarios measured, want 1", len(rep.scenarios))
	}
	s := rep.scenarios[0]
	checkScenario(t, s, []string{kindStock})
	if !strings.Contains(s.tuning[0], "GOGC=150 from the environment") {
		t.Errorf("-baseline-env did not reach the baseline: %q", s.tuning[0])
	}
	out := stdout.String()
	if !strings.Contains(out, "| target | measured (vs stock baseline) | proxy CPU per request ÷ stock baseline's | holds |") ||
		strings.Contains(out, "(tuned)") {
		t.Errorf("report of a stock-only run:\n%s", out)
	}
}

func TestParseFlagsBaselinesAndEnv(t *testing.T) {
	for _, c := range []struct {
		args       []string
		kinds      []string
		gw, base   []string
		wantErrSub string
	}{
		{args: nil, kinds: []string{kindTuned, kindStock}},
		{args: []string{"-baselines", "tuned"}, kinds: []string{kindTuned}},
		{args: []string{"-baselines", "stock"}, kinds: []string{kindStock}},
		{args: []string{"-baselines", "all"}, wantErrSub: "tuned, stock or both"},
		{args: []string{"-env", "GOGC=200", "-gateway-env", "A=1", "-baseline-env", "B=2"}, kinds: []string{kindTuned, kindStock},
			gw: []string{"GOGC=200", "A=1"}, base: []string{"GOGC=200", "B=2"}},
		{args: []string{"-baseline-env", "ALIASGATE_X=1"}, wantErrSub: "ALIASGATE_"},
		{args: []string{"-env", roleEnv + "=echo"}, wantErrSub: roleEnv},
	} {
		var stderr bytes.Buffer
		o, err := parseFlags(c.args, &stderr)
		if c.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSub) {
				t.Errorf("%q: error %v, want one with %q", c.args, err, c.wantErrSub)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !slices.Equal(o.baselines, c.kinds) || !slices.Equal(o.gatewayEnv, c.gw) || !slices.Equal(o.baselineEnv, c.base) {
			t.Errorf("%q: baselines %v, gateway env %q, baseline env %q", c.args, o.baselines, o.gatewayEnv, o.baselineEnv)
		}
	}
}

func TestBufferPoolKeepsItsSize(t *testing.T) {
	var bp bufferPool
	b := bp.Get()
	if len(b) != 32<<10 {
		t.Fatalf("Get: %d bytes", len(b))
	}
	bp.Put(b[:10])
	bp.Put(make([]byte, 10)) // another size: dropped
	if got := bp.Get(); len(got) != 32<<10 {
		t.Fatalf("Get after Put: %d bytes", len(got))
	}
}

// checkRun checks one measured run: requests, no errors, ordered percentiles.
func checkRun(t *testing.T, id int, name string, r runStats) {
	t.Helper()
	l := r.load
	p50, p99, p999 := percentile(l.lat, 50), percentile(l.lat, 99), percentile(l.lat, 99.9)
	if l.requests == 0 || l.errors > 0 || l.elapsed <= 0 {
		t.Errorf("scenario %d %s: %d requests, %d errors (%s), elapsed %v", id, name, l.requests, l.errors, l.firstErr, l.elapsed)
	}
	if p50 <= 0 || p99 < p50 || p999 < p99 || l.lat[len(l.lat)-1] < p999 {
		t.Errorf("scenario %d %s: percentiles p50 %v p99 %v p99.9 %v max %v", id, name, p50, p99, p999, l.lat[len(l.lat)-1])
	}
	if r.cpu < 0 || r.rss <= 0 {
		t.Errorf("scenario %d %s: CPU %v s, RSS %d", id, name, r.cpu, r.rss)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {0.01, 1}} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 || percentile(s[:1], 99.9) != 1 {
		t.Error("edge cases")
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 1 2 3")
	if cpu, err := parseStatCPU(stat); err != nil || cpu != 4 {
		t.Errorf("parseStatCPU = %v, %v; want 4 s", cpu, err)
	}
	if n, err := parseStatusKB([]byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t1 kB\n"), "VmHWM:"); err != nil || n != 2048<<10 {
		t.Errorf("parseStatusKB = %d, %v", n, err)
	}
}

func TestPANSourceMakesDistinctValidNumbers(t *testing.T) {
	src := &panSource{base: 12345}
	seen := map[string]bool{}
	num := make([]byte, 16)
	for range 10000 {
		src.next(num)
		if !pan.Valid(string(num)) || num[0] != '4' {
			t.Fatalf("%s is not a Luhn-valid 4… number", num)
		}
		if seen[string(num)] {
			t.Fatalf("%s repeats", num)
		}
		seen[string(num)] = true
	}
}

func TestRedactArgsHidesStoreURLs(t *testing.T) {
	got := strings.Join(redactArgs([]string{"-store", "postgres", "-postgres-url", "postgres://u:secret@h/db", "--redis-url=redis://:pw@h:6379/0"}), " ")
	if strings.Contains(got, "secret") || strings.Contains(got, "pw@") {
		t.Errorf("redactArgs = %q", got)
	}
}

func TestParseFlagsInstructions(t *testing.T) {
	for _, c := range []struct {
		args       []string
		want       int
		wantErrSub string
	}{
		{args: []string{"-scenarios", "1,3", "-instructions", "2000"}, want: 2000},
		{args: []string{"-scenarios", "1,2,3"}, want: 0},
		{args: []string{"-scenarios", "1,4", "-instructions", "100"}, wantErrSub: "scenarios 1-3 only"},
		{args: []string{"-scenarios", "1", "-instructions", "-1"}, wantErrSub: "must not be negative"},
		{args: []string{"-scenarios", "1", "-instructions", "100", "-profile", "/tmp/x"}, wantErrSub: "one at a time"},
	} {
		o, err := parseFlags(c.args, io.Discard)
		if c.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSub) {
				t.Errorf("%q: error %v, want one with %q", c.args, err, c.wantErrSub)
			}
			continue
		}
		if err != nil || o.instructions != c.want {
			t.Errorf("%q: instructions %d, error %v; want %d", c.args, o.instructions, err, c.want)
		}
	}
}

// TestCallgrindTotal reads the count of a dump from its totals line, and
// tells a dump still being written (no totals line yet) from a bad one.
func TestCallgrindTotal(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	done := write("done.1", "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 963997524\n\nfl=(1) a.go\nfn=(1) f\n16 20\n\ntotals: 963997524\n")
	if n, err := callgrindTotal(done); err != nil || n != 963997524 {
		t.Errorf("complete dump: %d, %v", n, err)
	}
	partial := write("partial.1", "version: 1\nevents: Ir\nsummary: 12\nfl=(1) a.go\n")
	if _, err := callgrindTotal(partial); !errors.Is(err, errIncomplete) {
		t.Errorf("dump without totals: %v, want errIncomplete", err)
	}
	bad := write("bad.1", "totals: many\n")
	if _, err := callgrindTotal(bad); err == nil || errors.Is(err, errIncomplete) {
		t.Errorf("bad totals: %v, want a parse error", err)
	}
}

// TestWrapped runs a command through a wrapper's program and arguments,
// and without one as itself.
func TestWrapped(t *testing.T) {
	c := wrapped([]string{"valgrind", "--tool=callgrind", "--callgrind-out-file=/tmp/x"}, "/bin/aliasgate", "serve", "--config", "c.yaml")
	want := []string{"valgrind", "--tool=callgrind", "--callgrind-out-file=/tmp/x", "/bin/aliasgate", "serve", "--config", "c.yaml"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("wrapped: %q, want %q", c.Args, want)
	}
	if c := wrapped(nil, "/bin/aliasgate", "serve"); !slices.Equal(c.Args, []string{"/bin/aliasgate", "serve"}) || c.Path != "/bin/aliasgate" {
		t.Errorf("unwrapped: %q (%s)", c.Args, c.Path)
	}
}
