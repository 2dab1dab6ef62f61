package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/admin"
)

const adminToken = "0123456789abcdef-admin-token"

// makeAliases creates n aliases through the vault API and returns alias →
// value.
func makeAliases(t *testing.T, g *gatewayProc, c credential, from, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("secret-%05d", from+i)
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"`+v+`"}]}`,
			func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
		var created struct {
			Data []struct{ Aliases []struct{ Alias string } }
		}
		if status != 201 || json.Unmarshal(body, &created) != nil {
			t.Fatalf("create: %d %s", status, body)
		}
		out[created.Data[0].Aliases[0].Alias] = v
	}
	return out
}

func revealEach(t *testing.T, g *gatewayProc, c credential, want map[string]string) {
	t.Helper()
	for a, v := range want {
		status, body := call(t, "GET", g.inbound+"/aliases/"+a, "", "", func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
		if status != 200 || !strings.Contains(string(body), `"value":"`+v+`"`) {
			t.Fatalf("reveal: %d %s", status, body)
		}
	}
}

func keysStatusOf(t *testing.T, env func(string) string, args ...string) admin.KeysStatus {
	t.Helper()
	out, _, err := runCmd(t, env, append([]string{"keys", "status"}, args...)...)
	var st admin.KeysStatus
	if err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("keys status: %v %q", err, out)
	}
	// One JSON line whichever way it was read (the vault directly, or the
	// admin listener): it was indented when read directly.
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("keys status %v is not one line: %q", args, out)
	}
	return st
}

// waitReencrypted polls /metrics until the re-encryption reports done.
func waitReencrypted(t *testing.T, g *gatewayProc, version int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
		m := string(body)
		if strings.Contains(m, fmt.Sprintf("aliasgate_keys_current_version %d\n", version)) && strings.Contains(m, "aliasgate_keys_reencryption_done 1\n") {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("re-encryption to v%d did not finish:\n%s", version, g.stderr.String())
	return ""
}

// TestKeysRotateWithTheGatewayStopped: rotate on a stopped bbolt gateway,
// then the next start re-encrypts every record; reveals keep working and
// the audit log records both steps.
func TestKeysRotateWithTheGatewayStopped(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	vals := makeAliases(t, g, api, 0, 30)
	g.stop(t)

	if st := keysStatusOf(t, env, "--data-dir", data); st.CurrentVersion != 1 || st.RecordsByVersion["1"] != 30 || !st.Reencryption.Done {
		t.Fatalf("status before: %+v", st)
	}
	out, _, err := runCmd(t, env, "keys", "rotate", "--data-dir", data)
	if err != nil || strings.TrimSpace(out) != `{"created":true,"version":2}` {
		t.Fatalf("keys rotate = %q, %v", out, err)
	}
	if st := keysStatusOf(t, env, "--data-dir", data); st.CurrentVersion != 2 || st.RecordsByVersion["1"] != 30 || st.Reencryption.Done {
		t.Fatalf("status after rotating: %+v", st)
	}

	g = startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	metrics := waitReencrypted(t, g, 2)
	if !strings.Contains(metrics, `aliasgate_keys_reencryption_records{state="rekeyed"} 30`) {
		t.Errorf("metrics:\n%s", metrics)
	}
	revealEach(t, g, api, vals)
	fresh := makeAliases(t, g, api, 100, 5)
	g.stop(t)
	if !strings.Contains(g.stderr.String(), `"msg":"keys: re-encryption finished"`) {
		t.Errorf("no progress line in the gateway log")
	}
	if st := keysStatusOf(t, env, "--data-dir", data); st.RecordsByVersion["2"] != 35 || len(st.RecordsByVersion) != 1 || !st.Reencryption.Done {
		t.Fatalf("status after re-encryption: %+v", st)
	}
	lines := auditLines(t, filepath.Join(data, "audit.log"))
	if findLine(lines, map[string]any{"event": "key_rotated", "actor": "cli", "key_version": 2.0}) == nil ||
		findLine(lines, map[string]any{"event": "keys_reencrypted", "actor": "system", "key_version": 2.0, "records": 30.0}) == nil {
		t.Fatalf("audit lines: %v", lines)
	}
	g = startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	revealEach(t, g, api, vals)
	revealEach(t, g, api, fresh)
	if out, _, _ := runCmd(t, env, "audit", "verify", "--data-dir", data); !strings.HasPrefix(out, "ok, ") {
		t.Fatalf("audit verify: %q", out)
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestKeysRotateThroughTheRunningGateway: with bbolt locked by a running
// gateway, `keys rotate` goes through its admin listener (admin.token);
// the gateway re-encrypts at once.
func TestKeysRotateThroughTheRunningGateway(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": adminToken, "ALIASGATE_LISTEN_ADMIN": freeAddr(t)})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	vals := makeAliases(t, g, api, 0, 20)

	// The endpoints need the token.
	for _, tok := range []string{"", "Bearer wrong-token-wrong-token", "Basic " + adminToken} {
		status, _ := call(t, "POST", g.admin+"/admin/keys/rotate", "", "", func(r *http.Request) {
			if tok != "" {
				r.Header.Set("Authorization", tok)
			}
		})
		if status != http.StatusUnauthorized {
			t.Fatalf("rotate with %q: %d", tok, status)
		}
	}

	out, errOut, err := runCmd(t, env, "keys", "rotate", "--data-dir", data)
	if err != nil || !strings.Contains(out, `"version":2`) || !strings.Contains(errOut, "admin listener") {
		t.Fatalf("keys rotate on a running gateway = %q %q %v", out, errOut, err)
	}
	waitReencrypted(t, g, 2)
	revealEach(t, g, api, vals)
	st := keysStatusOf(t, env, "--admin", g.admin)
	if st.CurrentVersion != 2 || !st.Reencryption.Done || st.Reencryption.Rekeyed != 20 || st.Reencryption.Target != 2 {
		t.Fatalf("status from the gateway: %+v", st)
	}
	// A second rotation through --admin.
	if out, _, err = runCmd(t, env, "keys", "rotate", "--admin", g.admin); err != nil || !strings.Contains(out, `"version":3`) {
		t.Fatalf("keys rotate --admin = %q %v", out, err)
	}
	waitReencrypted(t, g, 3)
	revealEach(t, g, api, vals)
	g.stop(t)
	lines := auditLines(t, filepath.Join(data, "audit.log"))
	for _, v := range []float64{2, 3} {
		if findLine(lines, map[string]any{"event": "key_rotated", "actor": "admin", "key_version": v}) == nil {
			t.Errorf("no key_rotated line for v%v", v)
		}
	}
	if st := keysStatusOf(t, env, "--data-dir", data); st.RecordsByVersion["3"] != 20 || len(st.RecordsByVersion) != 1 {
		t.Fatalf("records after two rotations: %+v", st)
	}
}

func TestKeysEndpointsOffWithoutAdminToken(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	g := startGateway(t, env, "--data-dir", data)
	if status, _ := call(t, "POST", g.admin+"/admin/keys/rotate", "", "", nil); status != http.StatusForbidden {
		t.Fatalf("rotate without admin.token configured: %d", status)
	}
	if _, _, err := runCmd(t, env, "keys", "rotate", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Fatalf("keys rotate on a locked vault without a token = %v", err)
	}
}

// TestKeysRotateOnPostgresWithTwoGateways: on PostgreSQL `keys rotate`
// works while gateways run; both pick the version up by themselves, both
// re-encrypt (the compare-and-swap keeps them correct), and a gateway that
// has not refreshed yet still reads re-encrypted records.
func TestKeysRotateOnPostgresWithTwoGateways(t *testing.T) {
	oldRefresh, oldSettle := keyRefreshInterval, reencryptSettle
	keyRefreshInterval, reencryptSettle = 200*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { keyRefreshInterval, reencryptSettle = oldRefresh, oldSettle })

	pgURL := testPostgresURL(t)
	env := testEnv(map[string]string{"ALIASGATE_MASTER_KEY": newMasterKey()})
	cfgA, cfgB := sharedConfig(t, pgURL, testRedisURL(), ""), sharedConfig(t, pgURL, testRedisURL(), "")
	a := startGateway(t, env, "--config", cfgA)
	b := startGateway(t, env, "--config", cfgB)
	var c credential
	out, _, err := runCmd(t, env, "clients", "create", "--config", cfgA, "--name", "api", "--account", "acct_1",
		"--scopes", "aliases:write,aliases:reveal")
	if err != nil || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("clients create: %v %q", err, out)
	}
	vals := makeAliases(t, a, c, 0, 40)

	if out, _, err = runCmd(t, env, "keys", "rotate", "--config", cfgB); err != nil || !strings.Contains(out, `"version":2`) {
		t.Fatalf("keys rotate on PostgreSQL = %q %v", out, err)
	}
	waitReencrypted(t, a, 2)
	waitReencrypted(t, b, 2)
	revealEach(t, b, c, vals)
	revealEach(t, a, c, vals)
	fresh := makeAliases(t, b, c, 100, 5)
	if st := keysStatusOf(t, env, "--config", cfgA); st.CurrentVersion != 2 || st.RecordsByVersion["2"] != 45 || len(st.RecordsByVersion) != 1 || !st.Reencryption.Done {
		t.Fatalf("status: %+v", st)
	}
	revealEach(t, a, c, fresh)
}
