package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/internal/pgtest"
	"github.com/aliasgate/aliasgate/internal/redistest"
)

// TestPermanentStoreErrorsAreNotAnsweredAsTransient: a store that refuses
// the gateway for a reason no retry changes — a Redis ACL that no longer
// grants the keys (NOPERM), a Redis that now requires a password the
// gateway does not have (NOAUTH), a PostgreSQL role whose privileges were
// revoked (42501) or that may no longer log in (28000) — is answered 500
// internal_error without Retry-After, and /readyz says not ready: an
// operator must act. Before, the Redis refusals were answered 503
// vault_unavailable with Retry-After: 1, telling every client to retry
// forever, the same as a store that restarts (failed before: "redis
// NOPERM", "redis NOAUTH"). With PostgreSQL, the client store, the token
// endpoint answered 503 temporarily_unavailable with Retry-After, and with
// the privileges revoked /readyz said 200 while every checkout got 500
// (failed before); the checkouts themselves were already 500 there.
func TestPermanentStoreErrorsAreNotAnsweredAsTransient(t *testing.T) {
	for _, c := range []string{"redis NOPERM", "redis NOAUTH", "postgres 42501", "postgres 28000"} {
		t.Run(c, func(t *testing.T) { testPermanentStoreError(t, c) })
	}
}

func testPermanentStoreError(t *testing.T, c string) {
	redisAddr := redistest.Start(t)
	pgURL, fail := "", func() {}
	switch c {
	case "redis NOPERM":
		pgURL = testPostgresURL(t)
		fail = func() { redisDo(t, redisAddr, "ACL", "SETUSER", "default", "resetkeys") }
	case "redis NOAUTH":
		pgURL = testPostgresURL(t)
		fail = func() {
			rc := redis.NewClient(&redis.Options{Addr: redisAddr})
			defer rc.Close()
			ctx := context.Background()
			if err := rc.ConfigSet(ctx, "requirepass", "a-password-the-gateway-lacks").Err(); err != nil {
				t.Fatal(err)
			}
			// Its connections are ended (a restart with the new setting).
			if err := rc.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
				t.Fatal(err)
			}
		}
	default:
		role, admin := pgRole(t)
		ownerURL := pgtest.NewDatabase(t, "aliasgate_perm")
		db := pgx.Identifier{ownerURL[strings.LastIndex(ownerURL, "/")+1 : strings.Index(ownerURL, "?")]}.Sanitize()
		r := pgx.Identifier{role}.Sanitize()
		pgExec(t, ownerURL, "GRANT ALL ON DATABASE "+db+" TO "+r, "GRANT ALL ON SCHEMA public TO "+r)
		// The schema is made by the role itself (the gateway migrates at
		// start); its rights are taken away by the database's owner.
		u, _ := url.Parse(ownerURL)
		u.User = url.User(role)
		roleURL := u.String()
		terminate := "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'"
		if c == "postgres 42501" {
			fail = func() {
				// Owners keep their rights: the tables go to the superuser.
				pgExec(t, ownerURL, "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP "+
					"EXECUTE format('ALTER TABLE %I OWNER TO postgres', t); EXECUTE format('REVOKE ALL ON %I FROM "+role+"', t); END LOOP; END $$",
					"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "+r)
			}
		} else {
			fail = func() { pgExec(t, admin, "ALTER ROLE "+r+" NOLOGIN", terminate) }
		}
		pgURL = roleURL
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer up.Close()
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	cfg := sharedConfig(t, pgURL, "redis://"+redisAddr+"/0", up.URL)
	var cred credential
	if err := json.Unmarshal([]byte(cliRun(t, env, "clients", "create", "--config", cfg, "--name", "shop", "--account", "acct_1",
		"--scopes", "aliases:write")), &cred); err != nil {
		t.Fatal(err)
	}
	g := startChild(t, cfg, env...)
	tokenStatus := func() (int, string) {
		req, _ := http.NewRequest("POST", g.inbound+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cred.ID, cred.Secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Retry-After")
	}
	send := checkoutSender(t, g.inbound)
	ready := func() int { st, _ := callNoFatal("GET", g.admin+"/readyz", "", "", nil); return st }
	if st, _ := send(); st != 200 || ready() != 200 {
		t.Fatalf("before: checkout %d, /readyz %d; log:\n%s", st, ready(), g.stderr.String())
	}
	if st, _ := tokenStatus(); st != 200 {
		t.Fatalf("before: /oauth/token %d", st)
	}
	fail()
	var st int
	var ra string
	if !waitFor(15*time.Second, func() bool { st, ra = send(); return st != 200 }) {
		t.Fatalf("%s: checkout still 200", c)
	}
	for range 3 {
		if st, ra = send(); st != http.StatusInternalServerError || ra != "" {
			t.Errorf("%s: checkout %d with Retry-After %q; want 500 without Retry-After (no retry helps)", c, st, ra)
		}
	}
	if strings.HasPrefix(c, "postgres") { // the client store: the token endpoint
		if st, ra := tokenStatus(); st != http.StatusInternalServerError || ra != "" {
			t.Errorf("%s: /oauth/token %d with Retry-After %q; want 500 without Retry-After", c, st, ra)
		}
	}
	if r := ready(); r != http.StatusServiceUnavailable {
		t.Errorf("%s: /readyz %d; want 503 (the gateway cannot serve)", c, r)
	}
	if !strings.Contains(g.stderr.String(), "store refused the gateway") {
		t.Errorf("%s: the log does not say the store refused the gateway:\n%s", c, g.stderr.String())
	}
}

// pgRole creates a login role of the test's own on the shared server (no
// privileges anywhere) and drops it when the test ends, after the
// databases the test made (cleanups run last first). It returns the role
// and the server's admin URL.
func pgRole(t *testing.T) (string, string) {
	t.Helper()
	admin := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	role := "ag_perm_" + randomHex(6)
	pgExec(t, admin, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	return role, admin
}
