package routes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestWatchSeesAFileSwappedForOneOfTheSameSizeAndTime: Watch told one
// file from another by modification time and size only, so a routes file
// swapped for another of the same size and time — a symbolic link moved
// from routes-blue.yaml to routes-green.yaml, or a finished file renamed
// into place, both from one `git archive` or `tar` (every file the
// archive's time) or copied with cp -p or rsync -t — was never loaded:
// the old upstream kept receiving the card data while the operator saw
// the new file in place. The file's identity (device and inode) is part
// of what Watch compares now.
func TestWatchSeesAFileSwappedForOneOfTheSameSizeAndTime(t *testing.T) {
	green := strings.Replace(reloadDoc, "http://127.0.0.1:1", "http://127.0.0.2:1", 1)
	if len(green) != len(reloadDoc) || green == reloadDoc {
		t.Fatal("fixture: the two files must differ and have one size")
	}
	stamp := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) // an archive's time
	write := func(t *testing.T, path, doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	upstreamOf := func(table *Table) string {
		if rt := table.Load().Routes; len(rt) == 1 {
			return rt[0].Upstream
		}
		return "?"
	}
	for _, how := range []string{"link moved", "file renamed into place"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "routes.yaml")
			if how == "link moved" {
				write(t, filepath.Join(dir, "routes-blue.yaml"), reloadDoc)
				write(t, filepath.Join(dir, "routes-green.yaml"), green)
				if err := os.Symlink("routes-blue.yaml", path); err != nil {
					t.Fatal(err)
				}
			} else {
				write(t, path, reloadDoc)
			}
			table := NewTable(nil)
			r := NewReloader(table, path, Options{}, obstest.NewCapture(t).Logger, obs.NewMetrics())
			if err := r.Reload(); err != nil || upstreamOf(table) != "http://127.0.0.1:1" {
				t.Fatalf("first load: %v, upstream %s", err, upstreamOf(table))
			}
			r.poll()
			next := filepath.Join(dir, "routes.yaml.new")
			if how == "link moved" {
				if err := os.Symlink("routes-green.yaml", next); err != nil {
					t.Fatal(err)
				}
			} else {
				write(t, next, green)
			}
			if err := os.Rename(next, path); err != nil {
				t.Fatal(err)
			}
			r.poll() // seen changed
			r.poll() // and settled: loaded
			if got := upstreamOf(table); got != "http://127.0.0.2:1" {
				t.Fatalf("after the swap and two polls the upstream is %s, want the new file's http://127.0.0.2:1", got)
			}
		})
	}
}
