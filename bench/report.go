package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machine describes where the figures were measured.
type machine struct {
	cpu     string
	cores   int
	memory  string
	kernel  string
	goVer   string
	loadavg string
}

func describeMachine() machine {
	m := machine{cpu: "unknown CPU", cores: runtime.NumCPU(), memory: "?", kernel: "?", goVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if n, err := parseStatusKB(b, "MemTotal:"); err == nil {
			m.memory = fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.loadavg = strings.Join(f[:3], " ")
		}
	}
	return m
}

func (m machine) oneLine() string {
	return fmt.Sprintf("%s × %d, %s, %s, %s, load average %s", m.cpu, m.cores, m.memory, m.kernel, m.goVer, m.loadavg)
}

// fmtDur prints a latency in ms with three significant digits.
func fmtDur(d time.Duration) string {
	ms := float64(d) / 1e6
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.3f ms", ms)
	}
}

func fmtMB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// agg is the median of a metric over a side's runs.
func agg(runs []runStats, f func(runStats) float64) float64 { return median(mapf(runs, f)) }

func pct(p float64) func(runStats) float64 {
	return func(r runStats) float64 { return float64(percentile(r.load.lat, p)) }
}

func rps(r runStats) float64 { return r.load.reqPerSec() }

// pairRatios are gw[i]/base[i] of a metric, rep by rep.
func pairRatios(base, gw []runStats, f func(runStats) float64) []float64 {
	var out []float64
	for i := range min(len(base), len(gw)) {
		if b := f(base[i]); b > 0 {
			out = append(out, f(gw[i])/b)
		}
	}
	return out
}

// pairDiffs are gw[i]-base[i] of a metric, rep by rep.
func pairDiffs(base, gw []runStats, f func(runStats) float64) []float64 {
	var out []float64
	for i := range min(len(base), len(gw)) {
		out = append(out, f(gw[i])-f(base[i]))
	}
	return out
}

func sumErrors(runs []runStats) (n int, first string) {
	for _, r := range runs {
		n += r.load.errors
		if first == "" {
			first = r.load.firstErr
		}
	}
	return n, first
}

func listf(v []float64, format string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, ", ")
}

func cpuPerReq(r runStats) float64 { return float64(r.cpuPerReq()) }

// throughputRatio is the scenario's headline against baseline b: median of
// per-rep req/s ratios.
func (s *scenarioResult) throughputRatio(b int) float64 {
	return median(pairRatios(s.closed.bases[b], s.closed.gw, rps))
}

// cpuRatio is the median of per-rep ratios of CPU per request against
// baseline b (closed loop).
func (s *scenarioResult) cpuRatio(b int) float64 {
	return median(pairRatios(s.closed.bases[b], s.closed.gw, cpuPerReq))
}

// p99Added is the median of per-rep open-loop p99 differences against
// baseline b.
func (s *scenarioResult) p99Added(b int) time.Duration {
	return time.Duration(median(pairDiffs(s.open.bases[b], s.open.gw, pct(99))))
}

// scenarioMarkdown is the tables of one proxy scenario.
func (rep *report) scenarioMarkdown(s *scenarioResult) string {
	o := rep.o
	var b strings.Builder
	fmt.Fprintf(&b, "### Scenario %d: %s\n\n", s.id, s.title)
	if len(s.kinds) > 0 {
		b.WriteString("Baselines:")
		for i := range s.kinds {
			sep := ";"
			if i == len(s.kinds)-1 {
				sep = "."
			}
			fmt.Fprintf(&b, " %s: %s%s", s.baseLabel(i), s.tuning[i], sep)
		}
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "Closed loop, %d keep-alive connections, %d × %s per proxy (alternating), medians:\n\n", o.conns, o.reps, o.duration)
	b.WriteString("| proxy | req/s | p50 | p99 | p99.9 | CPU (cores) | CPU / req | RSS peak | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, runs []runStats) {
		n, _ := sumErrors(runs)
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %.2f | %.0f µs | %s | %d |\n", name, agg(runs, rps),
			fmtDur(time.Duration(agg(runs, pct(50)))), fmtDur(time.Duration(agg(runs, pct(99)))), fmtDur(time.Duration(agg(runs, pct(99.9)))),
			agg(runs, runStats.cpuCores), agg(runs, cpuPerReq)/1e3,
			fmtMB(int64(agg(runs, func(r runStats) float64 { return float64(r.rss) }))), n)
	}
	for i, runs := range s.closed.bases {
		row(s.baseLabel(i), runs)
	}
	row("aliasgate", s.closed.gw)
	for i, base := range s.closed.bases {
		ratio := func(f func(runStats) float64) float64 { return median(pairRatios(base, s.closed.gw, f)) }
		bold := "**"
		if i > 0 {
			bold = "" // the headline is the first baseline
		}
		fmt.Fprintf(&b, "| %saliasgate ÷ %s%s | %s%.2f×%s | %.2f× | %.2f× | %.2f× | %.2f× | %.2f× | %.2f× | |\n", bold, s.baseLabel(i), bold,
			bold, ratio(rps), bold, ratio(pct(50)), ratio(pct(99)), ratio(pct(99.9)), ratio(runStats.cpuCores), ratio(cpuPerReq),
			ratio(func(r runStats) float64 { return float64(r.rss) }))
	}
	b.WriteString("\n")
	if o.reps > 1 {
		for i, base := range s.closed.bases {
			fmt.Fprintf(&b, "Throughput ratio per rep against %s: %s.\n\n", s.baseLabel(i), listf(pairRatios(base, s.closed.gw, rps), "%.2f"))
		}
	}
	fmt.Fprintf(&b, "Open loop at %.0f req/s (1/%g of the %s closed-loop rate), latency from each request's due time, medians:\n\n",
		s.open.rate, o.openDiv, s.baseLabel(0))
	b.WriteString("| proxy | req/s | p50 | p99 | p99.9 | CPU (cores) | CPU / req | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	orow := func(name string, runs []runStats) {
		n, _ := sumErrors(runs)
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %.2f | %.0f µs | %d |\n", name, agg(runs, rps),
			fmtDur(time.Duration(agg(runs, pct(50)))), fmtDur(time.Duration(agg(runs, pct(99)))), fmtDur(time.Duration(agg(runs, pct(99.9)))),
			agg(runs, runStats.cpuCores), agg(runs, cpuPerReq)/1e3, n)
	}
	for i, runs := range s.open.bases {
		orow(s.baseLabel(i), runs)
	}
	orow("aliasgate", s.open.gw)
	for i, base := range s.open.bases {
		added := func(p float64) string { return signed(time.Duration(median(pairDiffs(base, s.open.gw, pct(p))))) }
		bold := "**"
		if i > 0 {
			bold = ""
		}
		fmt.Fprintf(&b, "| %sadded by aliasgate (vs %s)%s | | %s%s%s | %s%s%s | %s%s%s | | | |\n", bold, s.baseLabel(i), bold,
			bold, added(50), bold, bold, added(99), bold, bold, added(99.9), bold)
	}
	b.WriteString("\n")
	warns := 0
	var lines []string
	all := append(slices.Clone(s.closed.gw), s.open.gw...)
	for _, r := range all {
		warns += r.warns
		lines = append(lines, r.lines...)
	}
	for i := range s.closed.bases {
		all = append(append(all, s.closed.bases[i]...), s.open.bases[i]...)
	}
	if n, first := sumErrors(all); n > 0 {
		fmt.Fprintf(&b, "Errors: %d (first: %s).\n\n", n, first)
	}
	if warns > 0 {
		fmt.Fprintf(&b, "The gateway logged %d warnings or errors during the runs; first: `%s`\n\n", warns, strings.Join(lines[:min(len(lines), 1)], ""))
	}
	for _, n := range s.notes {
		fmt.Fprintf(&b, "Note: %s\n\n", n)
	}
	return b.String()
}

// scaleMarkdown is the table of scenario 4.
func (rep *report) scaleMarkdown(s *scaleResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Scenario 4: vault scaling, %s\n\n", s.store)
	fmt.Fprintf(&b, "Reveal of one uniformly random alias (FPE_SIX_T_FOUR card numbers, persistent) by %d caller(s), %d × %s per size (sizes in turn), medians:\n\n",
		s.workers, len(s.rows[0].runs), rep.o.duration)
	b.WriteString("| aliases | reveals/s | p50 | p99 | p99.9 | file bytes / alias | in-use pages / alias | compacted / alias | fill |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range s.rows {
		per := func(n int64) string {
			if n == 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.0f", float64(n)/float64(r.aliases))
		}
		fmt.Fprintf(&b, "| %d | %.0f | %s | %s | %s | %s | %s | %s | %s (%.0f/s) |\n", r.aliases, median(r.revealsPS),
			fmtDur(r.pct(50)), fmtDur(r.pct(99)), fmtDur(r.pct(99.9)), per(r.fileBytes), per(r.liveBytes), per(r.compactBytes),
			r.fill.Round(10*time.Millisecond), float64(r.aliases)/r.fill.Seconds())
	}
	if len(s.rows) > 1 {
		first, last := s.rows[0], s.rows[len(s.rows)-1]
		fmt.Fprintf(&b, "\nReveal p99 at %d aliases ÷ at %d: **%.2f×**.\n", last.aliases, first.aliases, float64(last.pct(99))/float64(first.pct(99)))
	}
	for _, n := range s.notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	return b.String()
}

// pct is the median over reps of the p-th percentile.
func (r *scaleRow) pct(p float64) time.Duration {
	return time.Duration(median(mapf(r.runs, func(l []time.Duration) float64 { return float64(percentile(l, p)) })))
}

// throughputTargets are the issues' throughput targets of scenarios 1-3,
// aliasgate's req/s ÷ its baseline's (scenario 1: issue 21).
var throughputTargets = map[int]float64{1: 0.9, 2: 0.5, 3: 0.85}

// targetsMarkdown is the summary: each target of the issue, what was
// measured against each baseline kind run (side by side), and whether it
// holds against the first (tuned when it ran).
func (rep *report) targetsMarkdown() string {
	var b strings.Builder
	kinds, first := rep.o.baselines, " (vs "+rep.o.baselines[0]+" baseline)"
	if len(rep.scenarios) == 0 {
		kinds, first = kinds[:1], "" // scenario 4 alone: no baseline
	}
	b.WriteString("| target | measured" + first)
	for _, k := range kinds[1:] {
		b.WriteString(" | vs " + k + " baseline")
	}
	for _, k := range kinds {
		b.WriteString(" | proxy CPU per request ÷ " + k + " baseline's")
	}
	b.WriteString(" | holds |\n|---|---:")
	b.WriteString(strings.Repeat("|---:", 2*len(kinds)-1))
	b.WriteString("|---|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	// line writes a row: the target, a cell per kind, a CPU cell per kind,
	// and whether it holds.
	line := func(target string, measured, cpu []string, holds string) {
		b.WriteString("| " + target)
		for i := range kinds {
			c := ""
			if i < len(measured) {
				c = measured[i]
			}
			b.WriteString(" | " + c)
		}
		for i := range kinds {
			c := ""
			if i < len(cpu) {
				c = cpu[i]
			}
			b.WriteString(" | " + c)
		}
		b.WriteString(" | " + holds + " |\n")
	}
	for _, s := range rep.scenarios {
		var ratios, cpus, added []string
		for k := range s.kinds {
			ratios = append(ratios, fmt.Sprintf("%.2f×", s.throughputRatio(k)))
			cpus = append(cpus, fmt.Sprintf("%.2f×", s.cpuRatio(k)))
			added = append(added, signed(s.p99Added(k)))
		}
		r, t := s.throughputRatio(0), throughputTargets[s.id]
		switch s.id {
		case 1:
			line(fmt.Sprintf("1: ≥ %g× ReverseProxy req/s", t), ratios, cpus, yes(r >= t))
			d := s.p99Added(0)
			line(fmt.Sprintf("1: p99 added ≤ 1 ms (open loop, %.0f req/s)", s.open.rate), added, nil, yes(d <= time.Millisecond))
		case 2:
			line(fmt.Sprintf("2: ≥ %g× ReverseProxy req/s, every write durable", t), ratios, cpus, yes(r >= t))
		case 3:
			line(fmt.Sprintf("3: ≥ %g× goproxy MITM req/s", t), ratios, cpus, yes(r >= t))
		}
	}
	if s := rep.scale; s != nil && len(s.rows) > 0 {
		first, last := s.rows[0], s.rows[len(s.rows)-1]
		if len(s.rows) > 1 {
			x := float64(last.pct(99)) / float64(first.pct(99))
			scope := ""
			if last.aliases < 10_000_000 {
				scope = fmt.Sprintf(" (largest size run: %d)", last.aliases)
			}
			line(fmt.Sprintf("4: reveal p99 at 10M ≤ 2× at 10k%s", scope), []string{fmt.Sprintf("%.2f× (%d vs %d)", x, last.aliases, first.aliases)}, nil, yes(x <= 2))
		}
		if last.fileBytes > 0 {
			per := float64(last.fileBytes) / float64(last.aliases)
			line(fmt.Sprintf("4: ≤ 250 bytes on disk per alias, file as written (file size ÷ aliases at %d)", last.aliases), []string{fmt.Sprintf("%.0f B", per)}, nil, yes(per <= 250))
			if last.compactBytes > 0 {
				// The copy is made with bbolt's Compact and the settings of
				// boltstore.Compact, what `aliasgate vault compact` writes.
				per := float64(last.compactBytes) / float64(last.aliases)
				line(fmt.Sprintf("4: ≤ 250 bytes on disk per alias after `aliasgate vault compact` (at %d)", last.aliases), []string{fmt.Sprintf("%.0f B", per)}, nil, yes(per <= 250))
			}
		}
	}
	return b.String()
}

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}

// Markers of the generated part of the markdown file; the text around them
// is kept when the file is updated.
const (
	beginMarker = "<!-- bench:begin (generated by go run ./bench; edit outside these markers) -->"
	endMarker   = "<!-- bench:end -->"
)

// generated is the part of the markdown file the harness owns.
func (rep *report) generated() string {
	var b strings.Builder
	m := rep.machine
	b.WriteString(beginMarker + "\n\n")
	fmt.Fprintf(&b, "Measured %s on **%s × %d** (nproc %d), %s RAM, %s, %s; load average at start %s.\n\n",
		rep.started.UTC().Format("2006-01-02 15:04 UTC"), m.cpu, m.cores, m.cores, m.memory, m.kernel, m.goVer, m.loadavg)
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", rep.command)
	if rep.o.store == "postgres" {
		b.WriteString("Vault: **PostgreSQL + Redis** (scenario 5: scenarios 1-4 on the shared stores).\n\n")
	}
	b.WriteString(limitsNote(rep.o) + "\n\n")
	b.WriteString("#### Targets\n\n")
	b.WriteString(rep.targetsMarkdown())
	b.WriteString("\n")
	for _, s := range rep.scenarios {
		b.WriteString(rep.scenarioMarkdown(s))
	}
	if rep.scale != nil {
		b.WriteString(rep.scaleMarkdown(rep.scale))
		b.WriteString("\n")
	}
	if len(rep.charts) > 0 {
		b.WriteString("#### Charts\n\n")
		for _, c := range rep.charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(filepath.Base(c), filepath.Ext(c)), c)
		}
	}
	b.WriteString(endMarker + "\n")
	return b.String()
}

// writeMarkdown writes the report into path: between the markers when the
// file has them, at its end when it has none, or as a new file.
func (rep *report) writeMarkdown(path string) error {
	gen := rep.generated()
	old, err := os.ReadFile(path)
	var out []byte
	switch {
	case err == nil && bytes.Contains(old, []byte(beginMarker[:20])) && bytes.Contains(old, []byte(endMarker)):
		i := bytes.Index(old, []byte(beginMarker[:20]))
		j := bytes.Index(old[i:], []byte(endMarker)) + i + len(endMarker)
		if j < len(old) && old[j] == '\n' {
			j++
		}
		out = append(append(append([]byte{}, old[:i]...), gen...), old[j:]...)
	case err == nil: // no markers: keep the file, add the section at its end
		out = append(append(bytes.TrimRight(old, "\n"), "\n\n"...), gen...)
	case os.IsNotExist(err):
		out = []byte("# Performance\n\nFigures of the load harness (`go run ./bench`, see bench/main.go for how it measures).\n\n" + gen)
	default:
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, out, 0o644)
}
