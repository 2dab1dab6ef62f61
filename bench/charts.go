package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart colours: tuned baselines grey, stock ones light brown, aliasgate
// blue; closed loop solid, open loop dashed.
var (
	colBase  = color.RGBA{R: 120, G: 120, B: 120, A: 255}
	colStock = color.RGBA{R: 190, G: 150, B: 90, A: 255}
	colRatio = map[string]color.Color{kindTuned: color.RGBA{R: 31, G: 100, B: 200, A: 255}, kindStock: color.RGBA{R: 140, G: 180, B: 235, A: 255}}
	colGW    = color.RGBA{R: 31, G: 100, B: 200, A: 255}
	colP50   = color.RGBA{R: 46, G: 139, B: 87, A: 255}
	colP99   = color.RGBA{R: 31, G: 100, B: 200, A: 255}
	colP999  = color.RGBA{R: 200, G: 60, B: 40, A: 255}
)

// writeCharts writes the SVG charts into dir and records their paths
// relative to the markdown file mdPath.
func (rep *report) writeCharts(dir, mdPath string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var files []string
	save := func(p *plot.Plot, name string, w, h vg.Length) error {
		path := filepath.Join(dir, name)
		if err := p.Save(w, h, path); err != nil {
			return err
		}
		files = append(files, path)
		return nil
	}
	if len(rep.scenarios) > 0 {
		p, err := rep.ratioChart()
		if err != nil {
			return err
		}
		if err := save(p, "perf-throughput-ratio.svg", 5*vg.Inch, 3.2*vg.Inch); err != nil {
			return err
		}
	}
	for _, s := range rep.scenarios {
		p, err := latencyChart(s)
		if err != nil {
			return err
		}
		if err := save(p, fmt.Sprintf("perf-scenario%d-latency.svg", s.id), 6*vg.Inch, 3.6*vg.Inch); err != nil {
			return err
		}
	}
	if s := rep.scale; s != nil && len(s.rows) > 0 {
		p, err := scalingChart(s)
		if err != nil {
			return err
		}
		if err := save(p, "perf-vault-scaling.svg", 6*vg.Inch, 3.6*vg.Inch); err != nil {
			return err
		}
		if s.rows[0].fileBytes > 0 {
			p, err := bytesChart(s)
			if err != nil {
				return err
			}
			if err := save(p, "perf-vault-bytes.svg", 6*vg.Inch, 3.2*vg.Inch); err != nil {
				return err
			}
		}
	}
	base := "."
	if mdPath != "" {
		base = filepath.Dir(mdPath)
	}
	for _, f := range files {
		rel, err := filepath.Rel(base, f)
		if err != nil {
			rel = f
		}
		rep.charts = append(rep.charts, filepath.ToSlash(rel))
	}
	return nil
}

// ratioChart is the throughput ratio of each scenario against each
// baseline kind run (bars side by side) with its target.
func (rep *report) ratioChart() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "aliasgate req/s ÷ baseline req/s (closed loop)"
	p.Y.Label.Text = "throughput ratio"
	p.Y.Min, p.Y.Max = 0, 1.35 // room for the legend above the bars
	names := make([]string, len(rep.scenarios))
	for i, s := range rep.scenarios {
		names[i] = fmt.Sprintf("%d: vs %s", s.id, s.baseName)
	}
	kinds := rep.o.baselines
	const width = 32.0
	for k, kind := range kinds {
		vals := make(plotter.Values, len(rep.scenarios))
		for i, s := range rep.scenarios {
			vals[i] = s.throughputRatio(k)
			p.Y.Max = math.Max(p.Y.Max, vals[i]*1.35)
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(width))
		if err != nil {
			return nil, err
		}
		bars.Color = colRatio[kind]
		bars.LineStyle.Width = 0
		bars.Offset = vg.Points(width * (float64(k) - float64(len(kinds)-1)/2))
		p.Add(bars)
		p.Legend.Add("vs "+kind+" baseline", bars)
	}
	for i, s := range rep.scenarios {
		t := throughputTargets[s.id]
		l, err := plotter.NewLine(plotter.XYs{{X: float64(i) - 0.45, Y: t}, {X: float64(i) + 0.45, Y: t}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Width, l.Dashes = colP999, vg.Points(1.5), []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(l)
		if i == 0 {
			p.Legend.Add("target", l)
		}
	}
	p.NominalX(names...)
	p.Legend.Top = true
	return p, nil
}

// percentileCurve samples a sorted latency distribution on a log axis of
// 1/(1-q) from q = 0 to q = 0.999 (HdrHistogram's percentile plot).
func percentileCurve(sorted []time.Duration) plotter.XYs {
	const n = 120
	var xys plotter.XYs
	for k := 0; k <= n; k++ {
		x := math.Pow(10, 3*float64(k)/n) // 1 … 1000
		q := 100 * (1 - 1/x)
		ms := float64(percentile(sorted, math.Max(q, 0.0001))) / 1e6
		if ms <= 0 {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: ms})
	}
	return xys
}

// merged is every latency of the runs, sorted.
func merged(runs []runStats) []time.Duration {
	var all []time.Duration
	for _, r := range runs {
		all = append(all, r.load.lat...)
	}
	slices.Sort(all)
	return all
}

var percentileTicks = plot.ConstantTicks{
	{Value: 1, Label: "p0"}, {Value: 2, Label: "p50"}, {Value: 10, Label: "p90"},
	{Value: 100, Label: "p99"}, {Value: 1000, Label: "p99.9"},
}

// latencyChart is the latency percentile distribution of a scenario's
// proxies, closed and open loop.
func latencyChart(s *scenarioResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Scenario %d latency: aliasgate vs %s", s.id, s.baseName)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, percentileTicks
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = false, false // bottom right: the curves rise to the right
	type curve struct {
		name   string
		runs   []runStats
		col    color.Color
		dashed bool
	}
	col := func(i int) color.Color {
		if s.kinds[i] == kindStock {
			return colStock
		}
		return colBase
	}
	var lines []curve
	for i, runs := range s.closed.bases {
		lines = append(lines, curve{s.baseLabel(i) + ", closed loop", runs, col(i), false})
	}
	lines = append(lines, curve{"aliasgate, closed loop", s.closed.gw, colGW, false})
	for i, runs := range s.open.bases {
		lines = append(lines, curve{fmt.Sprintf("%s, open loop %.0f/s", s.baseLabel(i), s.open.rate), runs, col(i), true})
	}
	lines = append(lines, curve{fmt.Sprintf("aliasgate, open loop %.0f/s", s.open.rate), s.open.gw, colGW, true})
	for _, l := range lines {
		xys := percentileCurve(merged(l.runs))
		if len(xys) < 2 {
			continue
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		ln.Color, ln.Width = l.col, vg.Points(1.5)
		if l.dashed {
			ln.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(ln)
		p.Legend.Add(l.name, ln)
	}
	return p, nil
}

// scalingChart is reveal latency against vault size.
func scalingChart(s *scaleResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Vault scaling: reveal latency, " + s.store
	p.X.Label.Text = "aliases in the vault"
	p.Y.Label.Text = "reveal latency (µs)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	for _, c := range []struct {
		name string
		p    float64
		col  color.Color
	}{{"p50", 50, colP50}, {"p99", 99, colP99}, {"p99.9", 99.9, colP999}} {
		var xys plotter.XYs
		for _, r := range s.rows {
			if us := float64(r.pct(c.p)) / 1e3; us > 0 {
				xys = append(xys, plotter.XY{X: float64(r.aliases), Y: us})
			}
		}
		if len(xys) == 0 {
			continue
		}
		lp, pts, err := plotterLinePoints(xys, c.col)
		if err != nil {
			return nil, err
		}
		p.Add(lp, pts)
		p.Legend.Add(c.name, lp, pts)
	}
	return p, nil
}

// bytesChart is bytes on disk per alias against vault size.
func bytesChart(s *scaleResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Vault scaling: bytes per alias (bbolt)"
	p.X.Label.Text = "aliases in the vault"
	p.Y.Label.Text = "bytes per alias"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Y.Min = 0
	p.Legend.Top = true
	var file, live plotter.XYs
	for _, r := range s.rows {
		file = append(file, plotter.XY{X: float64(r.aliases), Y: float64(r.fileBytes) / float64(r.aliases)})
		if r.liveBytes > 0 {
			live = append(live, plotter.XY{X: float64(r.aliases), Y: float64(r.liveBytes) / float64(r.aliases)})
		}
	}
	for _, c := range []struct {
		name string
		xys  plotter.XYs
		col  color.Color
	}{{"file size ÷ aliases", file, colGW}, {"pages in use ÷ aliases", live, colP50}} {
		if len(c.xys) == 0 {
			continue
		}
		lp, pts, err := plotterLinePoints(c.xys, c.col)
		if err != nil {
			return nil, err
		}
		p.Add(lp, pts)
		p.Legend.Add(c.name, lp, pts)
	}
	lo, hi := float64(s.rows[0].aliases), float64(s.rows[len(s.rows)-1].aliases)
	if hi > lo {
		t, err := plotter.NewLine(plotter.XYs{{X: lo, Y: 250}, {X: hi, Y: 250}})
		if err != nil {
			return nil, err
		}
		t.Color, t.Dashes = colP999, []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(t)
		p.Legend.Add("target 250 B", t)
	}
	return p, nil
}

func plotterLinePoints(xys plotter.XYs, col color.Color) (*plotter.Line, *plotter.Scatter, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, nil, err
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, nil, err
	}
	l.Color, l.Width = col, vg.Points(1.5)
	s.Color, s.Shape = col, draw.CircleGlyph{}
	return l, s, nil
}
