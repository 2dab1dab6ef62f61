package inspector

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/routes"
)

// TestApplyRacingReloadsEndsOnTheFile: applies through the inspector while
// SIGHUP reloads and the file watcher run on the same reloader, as in the
// gateway. Every apply succeeds, the table never holds fewer than the
// routes of one whole document (no empty or partial set), and at the end
// the routes in force are the ones in the file.
func TestApplyRacingReloadsEndsOnTheFile(t *testing.T) {
	var rl *routes.Reloader
	f := newFixture(t, false, func(o *Options) {
		rl = routes.NewReloader(o.Table, o.RoutesFile, routes.Options{}, nil, nil)
		o.Reload = rl.Reload
	})
	doc := func(n int) string {
		return fmt.Sprintf("routes:\n  - id: shop-%d\n    direction: inbound\n    host: \"*\"\n    upstream: http://127.0.0.1:3000\n"+
			"  - id: psp-%d\n    direction: outbound\n    host: api.psp.example\n", n, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	var short atomic.Int64
	bg.Add(3)
	go func() { defer bg.Done(); rl.Watch(ctx, time.Millisecond) }()
	go func() { // SIGHUPs
		defer bg.Done()
		for ctx.Err() == nil {
			_ = rl.Reload()
		}
	}()
	go func() { // requests: each takes the table once
		defer bg.Done()
		for ctx.Err() == nil {
			if len(f.table.Load().Routes) != 2 {
				short.Add(1)
			}
		}
	}()
	var applies sync.WaitGroup
	for w := range 4 {
		applies.Add(1)
		go func() {
			defer applies.Done()
			for i := range 10 {
				res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc(w*100 + i)}, bearer)
				if res.StatusCode != http.StatusOK {
					t.Errorf("apply: %d %s", res.StatusCode, b)
				}
			}
		}()
	}
	applies.Wait()
	cancel()
	bg.Wait()
	if n := short.Load(); n != 0 {
		t.Errorf("the table held other than one whole document %d times", n)
	}
	data, err := os.ReadFile(f.file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := routes.Parse(data, f.file, routes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := f.table.Load()
	if got.Routes[0].ID != want.Routes[0].ID || got.Routes[1].ID != want.Routes[1].ID {
		t.Errorf("in force %s, %s; the file says %s, %s", got.Routes[0].ID, got.Routes[1].ID, want.Routes[0].ID, want.Routes[1].ID)
	}
}
