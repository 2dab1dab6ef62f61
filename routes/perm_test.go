package routes

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// hijackDoc is what a local user who may write the routes file puts in it:
// the checkout route sent, card numbers and all, to a host of theirs.
const hijackDoc = `routes:
  - id: checkout
    direction: inbound
    host: "*"
    upstream: http://203.0.113.66:80
`

// TestRoutesFileOthersMayWriteIsRefused: a routes file every user of the
// host may write (mode 0666, o+w) was loaded at start and at every reload,
// so any local account could send the inbound card data, unredacted, to a
// host of its own. Such a file is refused: at start (the reloader's first
// load) and on reload, where the current set is kept, the refusal logged
// and counted as an invalid reload. At 0664 (a deployment group) or
// 0644 it loads.
func TestRoutesFileOthersMayWriteIsRefused(t *testing.T) {
	path, table, r, log, m := newReloadFixture(t)
	var reported error
	r.OnReload(func(_ int, err error) { reported = err })
	if err := os.WriteFile(path, []byte(hijackDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	err := r.Reload()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod o-w") {
		t.Fatalf("reload of a file others may write: %v; want a refusal naming the file and the chmod", err)
	}
	if reported == nil {
		t.Error("the refusal was not reported to OnReload")
	}
	if rt := table.Load().Routes; len(rt) != 1 || len(rt[0].Filters) != 1 || targetsOf(table) != 2 {
		t.Fatalf("after the refused reload: %d routes, %d targets; want the old route with its 2 targets", len(rt), targetsOf(table))
	}
	if n := len(log.Messages("routes: reload failed, keeping the current set")); n != 1 {
		t.Errorf("%d log lines saying the reload failed and the set was kept, want 1", n)
	}
	if v := counterValue(m.RouteReloads.WithLabelValues("invalid")); v != 1 {
		t.Errorf("invalid reloads counted %v, want 1", v)
	}
	r.settle = func(context.Context, time.Duration) error { return nil }
	if err := r.ReloadSettled(context.Background(), time.Second); err == nil {
		t.Error("a SIGHUP's reload of a file others may write was accepted")
	}

	// At start: a new reloader's first load fails, the table stays empty.
	fresh := NewTable(nil)
	if err := NewReloader(fresh, path, Options{}, obstest.NewCapture(t).Logger, obs.NewMetrics()).Reload(); err == nil {
		t.Error("the first load of a file others may write was accepted")
	}
	if n := len(fresh.Load().Routes); n != 0 {
		t.Errorf("%d routes loaded from a file others may write", n)
	}
	if _, err := ReadFile(path); err == nil {
		t.Error("ReadFile (the inspector's) read a file others may write")
	}

	// Group-writable (a deployment group) and 0644 files load.
	for _, perm := range []os.FileMode{0o664, 0o644} {
		if err := os.Chmod(path, perm); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err != nil {
			t.Fatalf("reload of a file of mode %04o: %v", perm, err)
		}
	}
	if rt := table.Load().Routes; len(rt) != 1 || len(rt[0].Filters) != 0 {
		t.Fatalf("the file of mode 0644 was not loaded: %d routes", len(rt))
	}
}

// TestWatchLoadsARoutesFileOnceItsModeIsFixed: a routes file the watcher
// refused because others may write it says "run chmod o-w on it"; the
// operator did, and the watcher never loaded the file: it looked for a
// change of time, size or file only, and a chmod changes none, so the
// edit the operator had made stayed out of force until another edit or
// a SIGHUP. The file's mode is part of what the watcher looks at.
func TestWatchLoadsARoutesFileOnceItsModeIsFixed(t *testing.T) {
	path, table, r, log, _ := newReloadFixture(t)
	r.poll()
	edited := reloadDoc + "  - id: second\n    direction: outbound\n    host: api.psp.example\n"
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	r.poll()
	r.poll() // settled: refused, others may write it
	if n := len(log.Messages("routes: reload failed, keeping the current set")); n != 1 {
		t.Fatalf("%d log lines about the refused file, want 1", n)
	}
	if n := len(table.Load().Routes); n != 1 {
		t.Fatalf("%d routes loaded from a file others may write", n)
	}
	if err := os.Chmod(path, 0o644); err != nil { // what the refusal says to do
		t.Fatal(err)
	}
	r.poll()
	r.poll()
	if n := len(table.Load().Routes); n != 2 {
		t.Fatalf("after chmod o-w the watcher did not load the file: %d routes in force, want 2", n)
	}
}
