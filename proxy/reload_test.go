package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

func routeDoc(id, up string) string {
	return fmt.Sprintf(`routes:
  - id: %s
    direction: inbound
    host: "*"
    upstream: %s
    filters:
      - id: f
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
`, id, up)
}

// routeOf asks the gateway which route served a request (the upstream
// echoes nothing; the test reads it from the metrics of the access log).
func servedBy(t testing.TB, g *gateway, id string) float64 {
	t.Helper()
	return counterValue(g.metrics.HTTPRequests.WithLabelValues("inbound", id, "POST", "200"))
}

func TestReload(t *testing.T) {
	up := newUpstream(t, nil)
	dir := t.TempDir()
	path := writeFile(t, dir, "routes.yaml", routeDoc("one", up.URL))
	log := obstest.NewCapture(t)
	g := newGateway(t, nil, nil, gwOptions{logger: log.Logger})
	r := routes.NewReloader(g.table, path, routes.Options{}, log.Logger, g.metrics)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	post := func() int {
		resp, _ := g.do(t, "POST", "/x", "application/json", strings.NewReader(cardJSON), nil)
		return resp.StatusCode
	}
	if post() != 200 || servedBy(t, g, "one") != 1 {
		t.Fatal("route one not used")
	}
	writeFile(t, dir, "routes.yaml", routeDoc("two", up.URL))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if post() != 200 || servedBy(t, g, "two") != 1 {
		t.Fatal("route two not used after reload")
	}
	// An invalid file is rejected; the old set stays.
	writeFile(t, dir, "routes.yaml", "routes:\n  - id: bad\n    direction: sideways\n")
	if err := r.Reload(); err == nil {
		t.Fatal("invalid file accepted")
	}
	if post() != 200 || servedBy(t, g, "two") != 2 {
		t.Fatal("old set not kept")
	}
	if n := len(log.Messages("routes: reload rejected, keeping the current set")); n != 1 {
		t.Errorf("%d rejection lines", n)
	}
	if ok, bad := counterValue(g.metrics.RouteReloads.WithLabelValues("ok")), counterValue(g.metrics.RouteReloads.WithLabelValues("invalid")); ok != 2 || bad != 1 {
		t.Errorf("reload counts ok %v invalid %v", ok, bad)
	}
	for _, rq := range up.requests() {
		if strings.Contains(string(rq.Body), testPAN) {
			t.Error("upstream got the PAN")
		}
	}
}

func TestReloadWatchesFile(t *testing.T) {
	up := newUpstream(t, nil)
	dir := t.TempDir()
	path := writeFile(t, dir, "routes.yaml", routeDoc("one", up.URL))
	g := newGateway(t, nil, nil, gwOptions{logger: obstest.Logger(t)})
	r := routes.NewReloader(g.table, path, routes.Options{}, obstest.Logger(t), g.metrics)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	writeFile(t, dir, "routes.yaml", routeDoc("watched-two", up.URL)) // size changes
	deadline := time.Now().Add(5 * time.Second)
	for g.table.Load().Routes[0].ID != "watched-two" {
		if time.Now().After(deadline) {
			t.Fatal("change not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloadUnderLoadLosesNothing(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	dir := t.TempDir()
	docs := []string{routeDoc("a", up.URL), routeDoc("b", up.URL)}
	path := writeFile(t, dir, "routes.yaml", docs[0])
	g := newGateway(t, nil, nil, gwOptions{logger: obstest.Logger(t)})
	r := routes.NewReloader(g.table, path, routes.Options{}, obstest.Logger(t), g.metrics)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker, reloads = 8, 200, 20
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				resp, err := g.Client().Post(g.URL+"/pay", "application/json", strings.NewReader(cardJSON))
				if err != nil {
					errs <- err.Error()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- resp.Status
				}
			}
		}()
	}
	for i := 1; i <= reloads; i++ {
		if err := os.WriteFile(path, []byte(docs[i%2]), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed: %s", e)
	}
	if n := len(up.requests()); n != workers*perWorker {
		t.Errorf("upstream got %d requests, want %d", n, workers*perWorker)
	}
	if c := counterValue(g.metrics.RouteReloads.WithLabelValues("ok")); c != reloads+1 {
		t.Errorf("reloads %v", c)
	}
}

// TestReloadOfBadFilesUnderLoadKeepsEveryRequestRouted: while many
// requests carrying a card run, the routes file is replaced by rename,
// rewritten in place, and replaced by files that must not load: one that
// is not a route set, an empty one, one of two YAML documents whose first
// holds no route. Every request is served by a route that redacts (200,
// never "no route"), the upstream never sees the PAN, and every bad file
// is refused with the old set kept. An empty file or a second document
// used to empty the table.
func TestReloadOfBadFilesUnderLoadKeepsEveryRequestRouted(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	dir := t.TempDir()
	good := []string{routeDoc("a", up.URL), routeDoc("b", up.URL)}
	bad := []string{
		"routes:\n  - id: bad\n    direction: sideways\n",
		"",
		"# being written\n",
		"routes: []\n---\n" + good[0],
	}
	path := writeFile(t, dir, "routes.yaml", good[0])
	g := newGateway(t, nil, nil, gwOptions{logger: obstest.Logger(t)})
	r := routes.NewReloader(g.table, path, routes.Options{}, obstest.Logger(t), g.metrics)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker, rounds = 8, 100, 10
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				resp, err := g.Client().Post(g.URL+"/pay", "application/json", strings.NewReader(cardJSON))
				if err != nil {
					errs <- err.Error()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- resp.Status
				}
			}
		}()
	}
	refused := 0
	for i := 0; i < rounds; i++ {
		// A good file by rename, as editors and the inspector write it.
		tmp := writeFile(t, dir, "routes.yaml.tmp", good[i%2])
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := r.Reload(); err == nil {
				t.Fatalf("reload of %q accepted", b)
			}
			refused++
		}
		// A good file written in place.
		if err := os.WriteFile(path, []byte(good[(i+1)%2]), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed: %s", e)
	}
	for _, rq := range up.requests() {
		if strings.Contains(string(rq.Body), testPAN) {
			t.Fatal("the upstream got the PAN")
		}
	}
	if n := len(up.requests()); n != workers*perWorker {
		t.Errorf("upstream got %d requests, want %d", n, workers*perWorker)
	}
	if c := counterValue(g.metrics.RouteReloads.WithLabelValues("invalid")); c != float64(refused) {
		t.Errorf("invalid reloads %v, want %d", c, refused)
	}
}
