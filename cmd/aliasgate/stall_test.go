package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/faultnet"
)

// TestStoreStall makes PostgreSQL, then (in its own gateway) Redis, hang
// under a serving gateway: the connections stay open but nothing answers,
// as when a network path drops packets. A request a route must redact is
// refused with 503 (nothing reaches the upstream) instead of waiting for
// the store as long as the client does, /readyz fails, and service resumes
// by itself when the store answers again.
func TestStoreStall(t *testing.T) {
	for _, store := range []string{"postgres", "redis"} {
		t.Run(store, func(t *testing.T) { testStoreStall(t, store) })
	}
}

func testStoreStall(t *testing.T, store string) {
	pgURL, redisURL := testPostgresURL(t), testRedisURL()
	var fault *faultnet.Proxy
	if store == "postgres" {
		pgURL, fault = throughFault(t, pgURL)
	} else {
		redisURL, fault = throughFault(t, redisURL)
	}
	var forwarded atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		forwarded.Add(1)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	g := startChild(t, sharedConfig(t, pgURL, redisURL, up.URL), "ALIASGATE_MASTER_KEY="+newMasterKey())

	run := randomDigits(6)
	n := 0
	// The client waits longer than the gateway may keep a request: a
	// request that is not answered by then was held for the store.
	client := &http.Client{Timeout: 90 * time.Second}
	send := func() (int, error) {
		n++
		res, err := client.Post(g.inbound+"/checkout", "application/json",
			strings.NewReader(`{"card":{"number":"`+testPAN(run, n)+`","cvc":"123"}}`))
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		return res.StatusCode, nil
	}
	if st, err := send(); st != 200 {
		t.Fatalf("before the stall: %d %v", st, err)
	}
	before := forwarded.Load()
	fault.Stall()
	t0 := time.Now()
	st, err := send()
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("while %s hung the request was not answered (%v after %v); log:\n%s", store, err, took.Round(time.Millisecond), g.stderr.String())
	}
	if st != http.StatusServiceUnavailable {
		t.Fatalf("while %s hung: %d, want 503", store, st)
	}
	if forwarded.Load() != before {
		t.Fatalf("the upstream received a request while %s hung", store)
	}
	t.Logf("%s hung: 503 after %v", store, took.Round(time.Millisecond))
	if !waitFor(30*time.Second, func() bool {
		st, _ := callNoFatal("GET", g.admin+"/readyz", "", "", nil)
		return st == 503
	}) {
		t.Fatalf("/readyz did not fail while %s hung", store)
	}
	fault.Resume()
	if !waitFor(60*time.Second, func() bool { st, _ := send(); return st == 200 }) {
		t.Fatalf("the gateway did not recover after %s answered again; log:\n%s", store, g.stderr.String())
	}
}
