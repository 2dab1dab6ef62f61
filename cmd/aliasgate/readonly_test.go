package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// startRedisServer runs a redis-server of the test's own on a free
// loopback port (no persistence, in a temporary directory), for tests that
// change its role or configuration: the shared Redis is never touched. It
// returns the server's address; the server is killed when the test ends.
func startRedisServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	runRedisServer(t, addr, t.TempDir())
	return addr
}

// runRedisServer runs a redis-server of the test's own at addr (a
// loopback address) with its files in dir and the extra arguments given,
// and waits until it answers (LOADING counts as an answer). stop kills it
// and waits for it; it is also killed when the test ends.
func runRedisServer(t *testing.T, addr, dir string, extra ...string) (stop func()) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, extra...)
	cmd := exec.Command("redis-server", args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (install it: apt-get install redis-server)", err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	if !waitFor(10*time.Second, func() bool {
		err := c.Ping(context.Background()).Err()
		return err == nil || redis.HasErrorPrefix(err, "LOADING")
	}) {
		t.Fatalf("redis-server on %s did not start:\n%s", addr, out.String())
	}
	return stop
}

// redisDo runs one command on the Redis at addr.
func redisDo(t *testing.T, addr string, args ...any) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
}

// demoteRedis returns how to make the Redis at addr a read-only replica of
// another server of the test's own (as a failover demotes a primary) and
// how to promote it again.
func demoteRedis(t *testing.T, addr string) (demote, promote func()) {
	t.Helper()
	host, port, _ := net.SplitHostPort(startRedisServer(t))
	return func() { redisDo(t, addr, "REPLICAOF", host, port) }, func() { redisDo(t, addr, "REPLICAOF", "NO", "ONE") }
}

// pgExec runs statements on the database of pgURL.
func pgExec(t *testing.T, pgURL string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestReadOnlyStoreIsNotReady: a store that answers but refuses writes — a
// Redis demoted to a replica by a failover (READONLY) or full under
// noeviction (OOM), a PostgreSQL server that is a standby or read-only — fails every request a route must
// tokenize (503, nothing forwarded), and so /readyz must say the gateway
// is not ready, as it does when the store cannot be reached; once the store
// takes writes again the gateway serves without a restart. Before the fix
// /readyz pinged the stores only and answered 200 throughout, so a load
// balancer kept sending card data to a gateway that could only refuse it.
func TestReadOnlyStoreIsNotReady(t *testing.T) {
	for _, store := range []string{"redis", "redis full", "postgres", "postgres writable again, sessions kept"} {
		t.Run(store, func(t *testing.T) { testReadOnlyStore(t, store) })
	}
}

func testReadOnlyStore(t *testing.T, store string) {
	pgURL := testPostgresURL(t)
	redisAddr := startRedisServer(t)
	var fail, back func()
	switch store {
	case "redis":
		fail, back = demoteRedis(t, redisAddr)
	case "redis full": // maxmemory reached under noeviction: OOM
		fail = func() {
			redisDo(t, redisAddr, "CONFIG", "SET", "maxmemory-policy", "noeviction")
			redisDo(t, redisAddr, "CONFIG", "SET", "maxmemory", "1")
		}
		back = func() { redisDo(t, redisAddr, "CONFIG", "SET", "maxmemory", "0") }
	default:
		db := pgx.Identifier{pgURL[strings.LastIndex(pgURL, "/")+1 : strings.Index(pgURL, "?")]}.Sanitize()
		// Sessions opened from now on are read-only, as on a standby; the
		// open ones are ended, as a failover ends them.
		terminate := `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`
		fail = func() { pgExec(t, pgURL, "ALTER DATABASE "+db+" SET default_transaction_read_only = on", terminate) }
		back = func() {
			pgExec(t, pgURL, "SET default_transaction_read_only = off", "ALTER DATABASE "+db+" RESET default_transaction_read_only", terminate)
		}
		if store != "postgres" {
			// Made writable again without ending the sessions (or a pool
			// left on a standby while the primary is back): the sessions the
			// gateway opened while the database was read-only stay so. The
			// gateway answered 503 until its pool recycled them (an hour).
			back = func() {
				pgExec(t, pgURL, "SET default_transaction_read_only = off", "ALTER DATABASE "+db+" RESET default_transaction_read_only")
			}
		}
	}

	var mu sync.Mutex
	var leaked []string
	var sent sync.Map // the PANs sent in clear
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Card struct{ Number, CVC string } }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		if _, clear := sent.Load(body.Card.Number); clear || body.Card.CVC == "123" || body.Card.Number == "" {
			mu.Lock()
			leaked = append(leaked, string(b))
			mu.Unlock()
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	g := startChild(t, sharedConfig(t, pgURL, "redis://"+redisAddr+"/0", up.URL), "ALIASGATE_MASTER_KEY="+newMasterKey())

	run := randomDigits(6)
	n := 0
	send := func() int {
		n++
		p := testPAN(run, n)
		sent.Store(p, true)
		st, _ := callNoFatal("POST", g.inbound+"/checkout", "application/json",
			fmt.Sprintf(`{"card":{"number":%q,"cvc":"123"}}`, p), nil)
		return st
	}
	ready := func() int { st, _ := callNoFatal("GET", g.admin+"/readyz", "", "", nil); return st }
	if st, r := send(), ready(); st != 200 || r != 200 {
		t.Fatalf("before: checkout %d, /readyz %d", st, r)
	}

	fail()
	if !waitFor(15*time.Second, func() bool { return send() == http.StatusServiceUnavailable }) {
		t.Fatalf("%s read-only: checkout never refused with 503; log:\n%s", store, g.stderr.String())
	}
	if st := send(); st != http.StatusServiceUnavailable {
		t.Errorf("%s read-only: checkout %d, want 503", store, st)
	}
	if !waitFor(10*time.Second, func() bool { return ready() == http.StatusServiceUnavailable }) {
		t.Errorf("%s read-only: /readyz answers %d while every checkout is refused; want 503", store, ready())
	}

	back()
	if !waitFor(30*time.Second, func() bool { return ready() == 200 && send() == 200 }) {
		t.Fatalf("%s writable again: the gateway did not recover; log:\n%s", store, g.stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the upstream received card data in clear: %q", leaked)
	}
}

// TestVaultUnavailableAnswersAlike: while the vault cannot store a value
// (here Redis demoted to a read-only replica), every way in refuses a
// request carrying card data alike — 503 vault_unavailable with
// Retry-After — the inbound route, the vault API and the Card Management
// API. Before the fix only the vault API sent Retry-After; the route and
// /cards sent none, so a client could not tell when to retry.
func TestVaultUnavailableAnswersAlike(t *testing.T) {
	redisAddr := startRedisServer(t)
	demote, _ := demoteRedis(t, redisAddr)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer up.Close()
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	cfg := sharedConfig(t, testPostgresURL(t), "redis://"+redisAddr+"/0", up.URL)
	var c credential
	if err := json.Unmarshal([]byte(cliRun(t, env, "clients", "create", "--config", cfg, "--name", "shop", "--account", "acct_1",
		"--scopes", "aliases:write,cards:write")), &c); err != nil {
		t.Fatal(err)
	}
	g := startChild(t, cfg, env...)
	auth := bearerAuth(token(t, g.inbound, c))
	demote()
	for _, rq := range []struct{ name, path, ctype, body string }{
		{"inbound route", "/checkout", "application/json", `{"card":{"number":"4111111111111111","cvc":"123"}}`},
		{"vault API", "/aliases", "application/json", `{"data":[{"value":"123","storage":"VOLATILE"}]}`},
		{"Card Management API", "/cards", "application/vnd.api+json",
			`{"data":{"type":"cards","attributes":{"pan":"4111111111111111","cvc":"123","exp_month":12,"exp_year":2031}}}`},
	} {
		var res *http.Response
		waitFor(15*time.Second, func() bool {
			req, _ := http.NewRequest("POST", g.inbound+rq.path, strings.NewReader(rq.body))
			req.Header.Set("Content-Type", rq.ctype)
			auth(req)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			res = r
			return r.StatusCode == http.StatusServiceUnavailable
		})
		if res == nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			st, ra := 0, ""
			if res != nil {
				st, ra = res.StatusCode, res.Header.Get("Retry-After")
			}
			t.Errorf("%s with the vault unable to store: %d, Retry-After %q; want 503 with Retry-After", rq.name, st, ra)
		}
	}
}
