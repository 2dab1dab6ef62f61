package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// renameDatabases renames each database of pairs (from, to, in order) on
// the server of pgURL, waiting for the sessions a cut proxy ended to go.
func renameDatabases(t *testing.T, pgURL string, pairs ...[2]string) {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	for _, p := range pairs {
		stmt := "ALTER DATABASE " + pgx.Identifier{p[0]}.Sanitize() + " RENAME TO " + pgx.Identifier{p[1]}.Sanitize()
		var last error
		if !waitFor(15*time.Second, func() bool {
			c, err := pgx.Connect(t.Context(), u.String())
			if err != nil {
				last = err
				return false
			}
			defer c.Close(t.Context())
			_, last = c.Exec(t.Context(), stmt)
			return last == nil
		}) {
			t.Fatalf("%s: %v", stmt, last)
		}
	}
}

// dbName is the database of a pgtest URL.
func dbName(pgURL string) string {
	u, _ := url.Parse(pgURL)
	return strings.TrimPrefix(u.Path, "/")
}

// TestFailoverToOlderDataKeepsTheDataKeys: PostgreSQL fails over to a
// server whose data is older than a key rotation (an asynchronous standby,
// a restored backup): the data key the gateways seal new records with is
// not there. The gateway that holds it must put it back, so that what it
// seals after the failover — persistent values in PostgreSQL, CVCs in Redis
// sealed before — can still be revealed by the other gateways and after
// it stops. Before the fix every record sealed with that version was
// unreadable by any other gateway (a reveal failed) and lost for good once
// the gateway that held the key stopped.
func TestFailoverToOlderDataKeepsTheDataKeys(t *testing.T) {
	oldRefresh, oldSettle := keyRefreshInterval, reencryptSettle
	keyRefreshInterval, reencryptSettle = 200*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { keyRefreshInterval, reencryptSettle = oldRefresh, oldSettle })

	primary, standby := testPostgresURL(t), testPostgresURL(t)
	viaProxy, fault := throughFault(t, primary)
	env := testEnv(map[string]string{"ALIASGATE_MASTER_KEY": newMasterKey()})
	redisURL := testRedisURL()
	cfgA := sharedConfig(t, viaProxy, redisURL, "")
	var c credential
	out, _, err := runCmd(t, env, "clients", "create", "--config", cfgA, "--name", "api", "--account", "acct_1",
		"--scopes", "aliases:write,aliases:reveal")
	if err != nil || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("clients create: %v %q", err, out)
	}
	a := startGateway(t, env, "--config", cfgA)
	makeAliases(t, a, c, 0, 3)

	// The standby's copy: taken before the rotation.
	if _, stderr, err := runCmd(t, env, "vault", "copy", "--from-config", cfgA, "--to-config", sharedConfig(t, standby, redisURL, "")); err != nil {
		t.Fatalf("vault copy: %v\n%s", err, stderr)
	}
	if out, _, err = runCmd(t, env, "keys", "rotate", "--config", cfgA); err != nil || !strings.Contains(out, `"version":2`) {
		t.Fatalf("keys rotate = %q %v", out, err)
	}
	waitReencrypted(t, a, 2)
	basic := func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) }
	status, body := call(t, "POST", a.inbound+"/aliases", "application/json", `{"data":[{"value":"737","storage":"VOLATILE"}]}`, basic)
	var made struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &made) != nil || len(made.Data) != 1 {
		t.Fatalf("CVC: %d %s", status, body)
	}
	cvc := map[string]string{made.Data[0].Aliases[0].Alias: "737"}

	// Failover: the server behind the gateway's address now holds the
	// standby's data, under the same database name.
	fault.Down()
	renameDatabases(t, primary, [2]string{dbName(primary), dbName(primary) + "_old"},
		[2]string{dbName(standby), dbName(primary)}, [2]string{dbName(primary) + "_old", dbName(standby)})
	fault.Up()
	if !waitFor(20*time.Second, func() bool {
		st, _ := callNoFatal("POST", a.inbound+"/aliases", "application/json", `{"data":[{"value":"probe"}]}`, basic)
		return st == 201
	}) {
		t.Fatalf("the gateway did not serve after the failover:\n%s", a.stderr.String())
	}
	after := makeAliases(t, a, c, 200, 3) // sealed with the version A holds

	// Another gateway on the new primary reveals what A sealed.
	cfgB := sharedConfig(t, primary, redisURL, "")
	b := startGateway(t, env, "--config", cfgB)
	reveals := func(g *gatewayProc, want map[string]string) (bool, string) {
		for al, v := range want {
			st, bd := callNoFatal("GET", g.inbound+"/aliases/"+al, "", "", basic)
			if st != 200 || !strings.Contains(string(bd), `"value":"`+v+`"`) {
				return false, string(bd)
			}
		}
		return true, ""
	}
	for name, want := range map[string]map[string]string{"sealed after the failover": after, "CVC sealed before": cvc} {
		var last string
		if !waitFor(10*time.Second, func() bool { ok, bd := reveals(b, want); last = bd; return ok }) {
			t.Errorf("B cannot reveal the values A %s: %s", name, last)
		}
	}
	// A stops: the key must be in the store, not only in A's memory.
	a.stop(t)
	b.stop(t)
	// What A wrote into the vault's key store is in its audit log, as a
	// rotation is (it was only a log line).
	if l := findLine(auditLines(t, filepath.Join(filepath.Dir(cfgA), "data", "audit.log")),
		map[string]any{"event": "key_restored", "actor": "system", "key_version": 2.0}); l == nil {
		t.Errorf("no key_restored audit line for version 2 in A's audit log")
	}
	c2 := startGateway(t, env, "--config", sharedConfig(t, primary, redisURL, ""))
	for name, want := range map[string]map[string]string{"sealed after the failover": after, "CVC sealed before": cvc} {
		if ok, bd := reveals(c2, want); !ok {
			t.Errorf("with A stopped, the values A %s are lost: %s", name, bd)
		}
	}
}
