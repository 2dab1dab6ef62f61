package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/internal/redistest"
)

// TestRedisLoadingIsAnsweredAsTransient: the volatile Redis restarts and
// loads its dataset (LOADING, as after a crash or a failover to a node
// that loads its snapshot): a checkout meanwhile is answered 503 with
// Retry-After, never 500 (which tells clients not to retry), and once the
// dataset is loaded checkouts work again without the gateway restarting.
// Regression cover (passes before: redisstore.fail keeps LOADING
// vault.ErrUnavailable), next to TestPermanentStoreErrorsAreNotAnsweredAsTransient
// for the refusals that are 500. A Redis of the test's own, loading slowly
// (key-load-delay) a snapshot it was given.
func TestRedisLoadingIsAnsweredAsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	stop := redistest.Run(t, addr, dir, "--enable-debug-command", "local")

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer up.Close()
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	cfg := sharedConfig(t, testPostgresURL(t), "redis://"+addr+"/0", up.URL)
	g := startChild(t, cfg, env...)
	send := checkoutSender(t, g.inbound)
	if st, _ := send(); st != http.StatusOK {
		t.Fatalf("before: checkout %d; log:\n%s", st, g.stderr.String())
	}

	// A snapshot big enough to load for a while at 200 µs a key.
	redisDo(t, addr, "DEBUG", "POPULATE", "50000", "filler")
	redisDo(t, addr, "SAVE")
	stop()
	stop = redistest.Run(t, addr, dir, "--key-load-delay", "200", "--loading-process-events-interval-bytes", "1024")
	probe := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer probe.Close()
	loading := func() bool { return redis.HasErrorPrefix(probe.Ping(context.Background()).Err(), "LOADING") }
	seen := 0
	for range 3 {
		if !loading() {
			break
		}
		st, ra := send()
		if !loading() { // it ended during the call: the answer says nothing
			break
		}
		seen++
		if st != http.StatusServiceUnavailable || ra == "" {
			t.Errorf("checkout while Redis loads: %d with Retry-After %q; want 503 with Retry-After (it passes by itself)", st, ra)
		}
	}
	if seen == 0 {
		t.Fatal("Redis was not loading during any checkout: make the snapshot bigger")
	}
	// The rest loads at once without the delay: checkouts work again.
	stop()
	redistest.Run(t, addr, dir)
	if !waitFor(15*time.Second, func() bool { st, _ := send(); return st == http.StatusOK }) {
		t.Fatalf("after Redis loaded: checkout still failing; log:\n%s", g.stderr.String())
	}
}

// checkoutSender returns a function that posts a checkout with a new card
// number (and a CVC) to the gateway's inbound /checkout each time it is
// called and returns the answer's status and Retry-After.
func checkoutSender(t *testing.T, inbound string) func() (status int, retryAfter string) {
	t.Helper()
	run := randomDigits(6)
	n := 0
	return func() (int, string) {
		n++
		req, _ := http.NewRequest("POST", inbound+"/checkout",
			strings.NewReader(fmt.Sprintf(`{"card":{"number":%q,"cvc":"123"}}`, testPAN(run, n))))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Retry-After")
	}
}
