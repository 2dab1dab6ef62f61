package routes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// reloadDoc is a routes file of one inbound route whose filter redacts the
// card number and the CVC.
const reloadDoc = `routes:
  - id: checkout
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
    filters:
      - id: card
        operation: redact
        targets:
          - json: card.number
          - json: card.cvc
            storage: volatile
`

// newReloadFixture writes reloadDoc to a file, loads it and returns the
// file's path, the table, the reloader, the log and the metrics.
func newReloadFixture(t *testing.T) (string, *Table, *Reloader, *obstest.Capture, *obs.Metrics) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(reloadDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	log := obstest.NewCapture(t)
	m := obs.NewMetrics()
	table := NewTable(nil)
	r := NewReloader(table, path, Options{}, log.Logger, m)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	return path, table, r, log, m
}

// targetsOf counts the targets of the table's filters.
func targetsOf(table *Table) int {
	n := 0
	for _, rt := range table.Load().Routes {
		for _, f := range rt.Filters {
			n += len(f.Targets)
		}
	}
	return n
}

// TestRoutesFileOfSeveralYAMLDocumentsIsRefused: a second document (---)
// was ignored without a word, so the routes it held were not in force; it
// is refused with its line, like a configuration file of several documents.
func TestRoutesFileOfSeveralYAMLDocumentsIsRefused(t *testing.T) {
	second := "---\n" + reloadDoc
	for _, src := range []string{
		reloadDoc + second,      // the second one ignored
		"routes: []\n" + second, // every route ignored
		"---\nroutes: []\n" + second,
	} {
		_, err := Parse([]byte(src), "r.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), "second YAML document") {
			t.Errorf("Parse(%q) = %v, want a second-document problem", src, err)
		}
	}
	path, table, r, log, m := newReloadFixture(t)
	os.WriteFile(path, []byte("routes: []\n"+second), 0o600)
	if err := r.Reload(); err == nil {
		t.Fatal("reload of two documents accepted")
	}
	if n := len(table.Load().Routes); n != 1 {
		t.Errorf("%d routes after a refused reload", n)
	}
	if n := len(log.Messages("routes: reload rejected, keeping the current set")); n != 1 {
		t.Errorf("%d rejection lines", n)
	}
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != 1 {
		t.Errorf("invalid reloads counted %v", v)
	}
}

// TestReloadOfAnEmptyFileKeepsTheRoutes: a routes file found empty (an
// editor or `cat >` half way through writing it, down to its first line
// "routes:") emptied the table, so no request had a route; the reload is
// refused and the routes kept. `routes: []` still removes every route.
func TestReloadOfAnEmptyFileKeepsTheRoutes(t *testing.T) {
	path, table, r, _, m := newReloadFixture(t)
	var reported error
	r.OnReload(func(_ int, err error) { reported = err })
	empties := []string{"", "\n\n", "# being written\n", "   \n", "routes:\n", "routes: ~\n", "~\n", "{}\n", "---\n"}
	for _, empty := range empties {
		os.WriteFile(path, []byte(empty), 0o600)
		if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("reload of %q: %v", empty, err)
		}
		if reported == nil {
			t.Errorf("reload of %q not reported to OnReload", empty)
		}
		if n := len(table.Load().Routes); n != 1 {
			t.Fatalf("reload of %q left %d routes", empty, n)
		}
	}
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != float64(len(empties)) {
		t.Errorf("invalid reloads counted %v", v)
	}
	os.WriteFile(path, []byte("routes: []\n"), 0o600)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := len(table.Load().Routes); n != 0 {
		t.Errorf("routes: [] left %d routes", n)
	}
}

// TestWatchReloadsOnlyAFileThatHasSettled: Watch reloaded a file as soon
// as its size or time changed, so a file written in place (truncated, then
// written) could be read half written: here a filter that has lost its
// CVC target, which then reached the upstream in clear. Watch now reloads
// a change once the file has stayed the same for a whole poll.
func TestWatchReloadsOnlyAFileThatHasSettled(t *testing.T) {
	path, table, r, _, _ := newReloadFixture(t)
	r.poll() // the loaded file, unchanged
	if targetsOf(table) != 2 {
		t.Fatal("fixture")
	}
	// A writer half way through: the file stops before the CVC target.
	half := reloadDoc[:strings.Index(reloadDoc, "          - json: card.cvc")]
	if _, err := Parse([]byte(half), "", Options{}); err != nil {
		t.Fatalf("the half file must load on its own to make the point: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(half)
	r.poll()
	if n := targetsOf(table); n != 2 {
		t.Fatalf("a file seen changing was loaded half written: %d targets", n)
	}
	f.WriteString(reloadDoc[len(half):] + "  - id: second\n    direction: outbound\n    host: api.psp.example\n")
	f.Close() // the writer is done (a file still open for writing is not loaded: TestRoutesFileOpenForWritingIsNotLoaded)
	r.poll()
	if n := targetsOf(table); n != 2 {
		t.Fatalf("%d targets", n)
	}
	r.poll() // unchanged since the last poll: loaded
	if n, routes := targetsOf(table), len(table.Load().Routes); n != 2 || routes != 2 {
		t.Fatalf("the settled file was not loaded: %d routes, %d targets", routes, n)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestRoutesFileRemovedKeepsTheRoutes: a routes file that disappears (an
// editor's delete-then-write, a volume unmounted) leaves the routes in
// force: Watch does not reload a missing file, SIGHUP's reload fails and
// is counted; the file's return is loaded once it has settled.
func TestRoutesFileRemovedKeepsTheRoutes(t *testing.T) {
	path, table, r, _, m := newReloadFixture(t)
	r.poll()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r.poll()
	r.poll()
	if n := len(table.Load().Routes); n != 1 {
		t.Fatalf("%d routes once the file is gone", n)
	}
	if err := r.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reload of a missing file: %v", err)
	}
	if n := len(table.Load().Routes); n != 1 {
		t.Fatalf("%d routes after a failed reload", n)
	}
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != 1 {
		t.Errorf("invalid reloads counted %v", v)
	}
	os.WriteFile(path, []byte(reloadDoc+"  - id: second\n    direction: outbound\n    host: api.psp.example\n"), 0o600)
	r.poll()
	r.poll()
	if n := len(table.Load().Routes); n != 2 {
		t.Fatalf("the file's return was not loaded: %d routes", n)
	}
}

// TestFiltersWithNoValueIsRefused: "filters:" with no value (a file cut
// right after that line, or a list commented out below it) loaded as a
// route without filters, whose requests reach the upstream as they came,
// card numbers and all. It is refused with its line; a route without
// filters leaves the key out or says filters: [].
func TestFiltersWithNoValueIsRefused(t *testing.T) {
	head := "routes:\n  - id: checkout\n    direction: inbound\n    host: \"*\"\n    upstream: http://127.0.0.1:1\n"
	for _, tail := range []string{"    filters:\n", "    filters: ~\n", "    filters: null\n", "    filters:\n    # - operation: redact\n"} {
		_, err := Parse([]byte(head+tail), "r.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), "r.yaml:6: route checkout: filters has no value") {
			t.Errorf("%q: %v", tail, err)
		}
	}
	for _, tail := range []string{"", "    filters: []\n"} {
		set, err := Parse([]byte(head+tail), "r.yaml", Options{})
		if err != nil || len(set.Routes) != 1 || len(set.Routes[0].Filters) != 0 {
			t.Errorf("%q: %v", tail, err)
		}
	}
}

// TestSIGHUPReloadOfAFileBeingWrittenWaitsForItToSettle: SIGHUP's reload
// read the file at once, so a SIGHUP that came while a writer was half way
// through writing the file in place (a unit's ExecReload, logrotate's
// postrotate, an operator's kill -HUP racing a deploy) put the half file
// in force: here a filter that has lost its CVC target, which then reached
// the upstream in clear. The watcher waited for the file to settle; SIGHUP
// now does too: the file is read, read again an interval later, and put in
// force once two reads are alike.
func TestSIGHUPReloadOfAFileBeingWrittenWaitsForItToSettle(t *testing.T) {
	path, table, r, _, _ := newReloadFixture(t)
	half := reloadDoc[:strings.Index(reloadDoc, "          - json: card.cvc")]
	if _, err := Parse([]byte(half), "", Options{}); err != nil {
		t.Fatalf("the half file must load on its own to make the point: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(half)
	// The writer goes on while the reload waits for the file to settle.
	rest := reloadDoc[len(half):] + "  - id: second\n    direction: outbound\n    host: api.psp.example\n"
	waits := 0
	r.settle = func(ctx context.Context, _ time.Duration) error {
		if waits++; waits == 1 {
			f.WriteString(rest)
			f.Close() // the writer is done
		}
		return ctx.Err()
	}
	if err := r.ReloadSettled(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if n, routes := targetsOf(table), len(table.Load().Routes); n != 2 || routes != 2 {
		t.Fatalf("SIGHUP put %d routes with %d targets in force; want the whole file's 2 routes, 2 targets", routes, n)
	}
	if waits != 2 {
		t.Errorf("the file was read after %d waits; want 2 (changed, then alike)", waits)
	}
}

// TestSIGHUPReloadOfAFileThatKeepsChangingIsRefused: a file that is still
// changing after ReloadSettled's last wait is refused as changed while
// read (logged, counted invalid, reported), the routes in force kept.
func TestSIGHUPReloadOfAFileThatKeepsChangingIsRefused(t *testing.T) {
	path, table, r, _, m := newReloadFixture(t)
	var reported error
	r.OnReload(func(_ int, err error) { reported = err })
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.settle = func(ctx context.Context, _ time.Duration) error {
		f.WriteString("# still being written\n")
		return ctx.Err()
	}
	if err := r.ReloadSettled(context.Background(), time.Second); !errors.Is(err, errChangedWhileRead) || !errors.Is(reported, errChangedWhileRead) {
		t.Fatalf("reload of a file that keeps changing: %v (reported %v)", err, reported)
	}
	if n := len(table.Load().Routes); n != 1 {
		t.Fatalf("%d routes", n)
	}
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != 1 {
		t.Errorf("invalid reloads counted %v", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.ReloadSettled(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("reload when the gateway stops: %v", err)
	}
}
