package routes

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
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
// rejected, its problems logged, and the old set kept.
type Reloader struct {
	table   *Table
	path    string
	opts    Options
	logger  *slog.Logger
	metrics *obs.Metrics

	mu       sync.Mutex // serialises reloads
	seen     fileStamp
	onReload func(routes int, err error)
}

type fileStamp struct {
	mtime time.Time
	size  int64
	ok    bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mtime: fi.ModTime(), size: fi.Size(), ok: true}
}

// NewReloader returns a Reloader of path into table. It does not load the
// file: call Reload once to fill the table. logger and m may be nil.
func NewReloader(table *Table, path string, opts Options, logger *slog.Logger, m *obs.Metrics) *Reloader {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Reloader{table: table, path: path, opts: opts, logger: logger, metrics: m}
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
// problem, or a read error) is logged and returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = stampOf(r.path)
	set, err := LoadFile(r.path, r.opts)
	if err != nil {
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

func (r *Reloader) count(result string) {
	if r.metrics != nil {
		r.metrics.RouteReloads.WithLabelValues(result).Inc()
	}
}

// Watch polls the file's modification time and size every interval and
// reloads when either changes, until ctx is done. A change that fails to
// load is reported once, not at every poll.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	r.mu.Lock()
	if !r.seen.ok {
		r.seen = stampOf(r.path)
	}
	r.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := stampOf(r.path)
		r.mu.Lock()
		changed := !now.mtime.Equal(r.seen.mtime) || now.size != r.seen.size || now.ok != r.seen.ok
		r.mu.Unlock()
		if changed && now.ok {
			_ = r.Reload()
		}
	}
}
