package routes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/regfile"
	"github.com/aliasgate/aliasgate/internal/sleep"
)

// Table holds the current route set. Readers take the pointer once per
// request (Load), so a request finishes on the set it began with even when a
// reload swaps the set in the middle of it. It is safe for concurrent use.
type Table struct {
	p atomic.Pointer[Set]
}

// NewTable returns a table holding set (nil: an empty set).
func NewTable(set *Set) *Table {
	t := &Table{}
	t.Store(set)
	return t
}

// Load returns the current set (never nil).
func (t *Table) Load() *Set {
	if s := t.p.Load(); s != nil {
		return s
	}
	return &Set{}
}

// Store replaces the current set (nil: an empty set).
func (t *Table) Store(set *Set) {
	if set == nil {
		set = &Set{}
	}
	t.p.Store(set)
}

// Reloader loads a route file into a Table on demand (Reload, for
// SIGHUP) and when the file changes (Watch). A new set that does not load is
// rejected, its problems logged, and the old set kept; so is a file found
// empty while the table has routes, and a file that changed while it was
// read (both are what a file being written in place looks like).
type Reloader struct {
	table   *Table
	path    string
	opts    Options
	logger  *slog.Logger
	metrics *obs.Metrics

	mu       sync.Mutex    // serialises reloads
	seen     regfile.Stamp // the file as last reloaded (or tried)
	polled   regfile.Stamp // the file at Watch's previous poll
	onReload func(routes int, err error)
	settle   func(ctx context.Context, d time.Duration) error // ReloadSettled's wait (sleep.For; tests replace it)
	// writer: the last reload found the file open for writing (reported
	// once); Watch tries again at every settled poll until it is closed.
	writer bool
}

// ErrEmptyFile is the error of a reload that found the routes file empty
// (Empty: no YAML document, or no routes list) while the table has routes:
// more likely a file half written than a wish to remove every route, which
// `routes: []` says.
var ErrEmptyFile = errors.New("the routes file holds no routes list (empty, or routes: with no value); write routes: [] to remove every route")

// errOpenForWriting is the error of a reload of a file some process still
// holds open for writing (Linux): what was read may be half of a write
// that has paused.
var errOpenForWriting = errors.New("the routes file is still open for writing by another process; it is loaded once closed (rename a finished file into place to edit it)")

// errChangedWhileRead is the error of a reload during which the file
// changed: what was read may be half of a write.
var errChangedWhileRead = errors.New("the routes file changed while it was read; it is reloaded once it has settled")

// NewReloader returns a Reloader of path into table. It does not load the
// file: call Reload once to fill the table. logger and m may be nil.
func NewReloader(table *Table, path string, opts Options, logger *slog.Logger, m *obs.Metrics) *Reloader {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Reloader{table: table, path: path, opts: opts, logger: logger, metrics: m, settle: sleep.For}
}

// OnReload sets fn, called after every reload with the number of routes
// loaded and the reload's error (nil: the new set is in use), for the audit
// log. Set it before Watch starts.
func (r *Reloader) OnReload(fn func(routes int, err error)) {
	r.mu.Lock()
	r.onReload = fn
	r.mu.Unlock()
}

// Reload reads the file and, when it loads, makes it the table's set. On
// error the old set stays and the error (a *LoadError listing every
// problem, a read error, ErrEmptyFile, or a file that changed while it was
// read) is logged, counted, passed to OnReload and returned. It reads the
// file at once: for a file someone else may be writing (a SIGHUP), see
// ReloadSettled.
func (r *Reloader) Reload() error { return r.reload(nil, false, false) }

// maxSettleWaits bounds ReloadSettled's waits for a file that keeps
// changing.
const maxSettleWaits = 10

// ReloadSettled is Reload for a SIGHUP: like Watch, it puts the file in
// force only once it has stayed the same for interval. It reads the file,
// waits interval and reads it again until two reads in a row are alike
// (at most maxSettleWaits waits), then reloads those very bytes: a SIGHUP
// that comes while a writer is half way through writing the file in place
// does not put the half file in force. A file still changing after the
// last wait is refused as changed while read (logged, counted, reported to
// OnReload; the watcher loads it once it has settled). When ctx ends
// during a wait, its error is returned and nothing is reloaded. A writer
// that stalls longer than interval in the middle of the file cannot be
// told from one that has finished: renaming a finished file into place is
// the safe way to edit it.
func (r *Reloader) ReloadSettled(ctx context.Context, interval time.Duration) error {
	prev, prevErr := ReadFile(r.path)
	for range maxSettleWaits {
		if err := r.settle(ctx, interval); err != nil {
			return err
		}
		cur, err := ReadFile(r.path)
		switch {
		case err != nil && prevErr != nil:
			return r.Reload() // missing or unreadable twice: reported as Reload reports it
		case err == nil && prevErr == nil && bytes.Equal(prev, cur):
			return r.reload(cur, true, false)
		}
		prev, prevErr = cur, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected(fmt.Errorf("routes: %s: %w (still changing after %d waits of %s)", r.path, errChangedWhileRead, maxSettleWaits, interval))
}

// reload is Reload; with check, the file must hold exactly settled (what
// ReloadSettled read alike twice), else it changed while read. quiet (a
// poll looking again at a file found open for writing) reports that
// refusal again only when it is not the one already reported.
func (r *Reloader) reload(settled []byte, check, quiet bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = regfile.StampOf(r.path)
	set, err := r.load(settled, check)
	if errors.Is(err, errOpenForWriting) {
		again := quiet && r.writer
		r.writer = true
		if again {
			return err
		}
		return r.rejected(err)
	}
	r.writer = false
	if err != nil {
		return r.rejected(err)
	}
	r.table.Store(set)
	r.count("ok")
	if r.onReload != nil {
		r.onReload(len(set.Routes), nil)
	}
	r.logger.Info("routes: loaded", "file", r.path, "routes", len(set.Routes))
	for _, w := range set.Warnings() {
		r.logger.Warn("routes: "+w, "file", r.path)
	}
	return nil
}

// rejected logs, counts and reports a reload that failed with err, and
// returns err; the caller holds r.mu.
func (r *Reloader) rejected(err error) error {
	var le *LoadError
	if errors.As(err, &le) {
		problems := make([]string, len(le.Problems))
		for i, p := range le.Problems {
			problems[i] = p.String()
		}
		r.logger.Error("routes: reload rejected, keeping the current set", "file", r.path, "problems", problems)
	} else {
		r.logger.Error("routes: reload failed, keeping the current set", "file", r.path, "error", err.Error())
	}
	r.count("invalid")
	if r.onReload != nil {
		r.onReload(0, err)
	}
	return err
}

// load reads and parses the file (a regular file not every user may
// write, openServed), refusing what a file being written in place may
// look like: a file some process still holds open for writing
// (where that can be told: Linux, a file the gateway owns), a file that
// changed while it was read (or, with check, that no longer holds
// settled), or one found empty while the table has routes.
func (r *Reloader) load(settled []byte, check bool) (*Set, error) {
	f, err := openServed(r.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := regfile.ReadOpen(f, r.path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	if writing, _ := openForWriting(f); writing {
		return nil, fmt.Errorf("routes: %s: %w", r.path, errOpenForWriting)
	}
	if !regfile.StampOf(r.path).Same(r.seen) || (check && !bytes.Equal(data, settled)) {
		return nil, fmt.Errorf("routes: %s: %w", r.path, errChangedWhileRead)
	}
	if n := len(r.table.Load().Routes); n > 0 && Empty(data) {
		return nil, fmt.Errorf("routes: %s: %w; keeping the %d route(s) in force", r.path, ErrEmptyFile, n)
	}
	return Parse(data, r.path, r.opts)
}

func (r *Reloader) count(result string) {
	if r.metrics != nil {
		r.metrics.RouteReloads.WithLabelValues(result).Inc()
	}
}

// Watch polls the file's modification time, size, mode (the chmod o-w
// a refusal asks for) and identity (a file swapped for another,
// regfile.Stamp) every interval and reloads when one has
// changed and then stayed the same for a whole
// interval (a file written in place is not read half way through a slow
// write; renaming a finished file into place is the safe way to edit it),
// until ctx is done. A change that fails to load is reported once, not at
// every poll.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	r.mu.Lock()
	if !r.seen.OK() {
		r.seen = regfile.StampOf(r.path)
	}
	r.polled = r.seen
	r.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.poll()
	}
}

// poll is one look at the file for Watch: it reloads a file that differs
// from the one last reloaded and is as it was at the previous poll.
func (r *Reloader) poll() {
	now := regfile.StampOf(r.path)
	r.mu.Lock()
	changed := !now.Same(r.seen) || r.writer // a file found open for writing: again until closed
	settled := now.Same(r.polled)
	r.polled = now
	r.mu.Unlock()
	if changed && settled && now.OK() {
		_ = r.reload(nil, false, true)
	}
}
