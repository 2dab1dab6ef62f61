package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/admin"
	"github.com/aliasgate/aliasgate/auth"
)

// clientsListOf runs `clients list` with args and decodes its output.
func clientsListOf(t *testing.T, env func(string) string, args ...string) (map[string]admin.ClientInfo, string) {
	t.Helper()
	out, errOut, err := runCmd(t, env, append([]string{"clients", "list"}, args...)...)
	var list admin.ClientList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("clients list: %v %q %q", err, out, errOut)
	}
	m := map[string]admin.ClientInfo{}
	for _, c := range list.Clients {
		m[c.ID] = c
	}
	return m, out
}

// rotateSecret runs `clients rotate-secret id` with args and returns the new
// credential.
func rotateSecret(t *testing.T, env func(string) string, id string, args ...string) credential {
	t.Helper()
	out, errOut, err := runCmd(t, env, append([]string{"clients", "rotate-secret", id}, args...)...)
	var c credential
	if err != nil || json.Unmarshal([]byte(out), &c) != nil || c.ID != id || c.Secret == "" {
		t.Fatalf("clients rotate-secret: %v %q %q", err, out, errOut)
	}
	return c
}

// revoke runs `clients revoke id` with args.
func revoke(t *testing.T, env func(string) string, id string, args ...string) admin.Revoked {
	t.Helper()
	out, errOut, err := runCmd(t, env, append([]string{"clients", "revoke", id}, args...)...)
	var r admin.Revoked
	if err != nil || json.Unmarshal([]byte(out), &r) != nil || r.ID != id || r.RevokedAt.IsZero() {
		t.Fatalf("clients revoke: %v %q %q", err, out, errOut)
	}
	return r
}

// tokenStatus asks for a token with c and returns the status.
func tokenStatus(t *testing.T, g *gatewayProc, c credential) int {
	t.Helper()
	status, _ := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	return status
}

// aliasesStatus makes one alias with the given authorization.
func aliasesStatus(t *testing.T, g *gatewayProc, setup func(*http.Request)) int {
	t.Helper()
	status, _ := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"lifecycle"}]}`, setup)
	return status
}

func basicAuth(c credential) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) }
}

// proxyStatus sends a plain-HTTP request through the outbound proxy with
// c's credentials and returns the proxy's status.
func proxyStatus(t *testing.T, g *gatewayProc, c credential) int {
	t.Helper()
	pu, _ := url.Parse(g.outbound)
	pu.User = url.UserPassword(c.ID, c.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
	res, err := client.Get("http://127.0.0.1:9/nowhere")
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestClientsLifecycleWithTheGatewayStopped: list, rotate-secret and revoke
// on a stopped bbolt gateway; the next start refuses the old secret, the
// old token and the revoked proxy credentials, and accepts the new secret;
// each change has its audit line.
func TestClientsLifecycleWithTheGatewayStopped(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	ob := createClient(t, env, data, "--name", "backend", "--account", "acct_2", "--outbound")

	list, out := clientsListOf(t, env, "--data-dir", data)
	if len(list) != 2 || strings.Contains(out, api.Secret) || strings.Contains(out, ob.Secret) || strings.Contains(out, "hash") {
		t.Fatalf("clients list: %s", out)
	}
	if c := list[api.ID]; c.Name != "api" || c.Account != "acct_1" || c.Outbound || strings.Join(c.Scopes, ",") != "aliases:write,aliases:reveal" ||
		c.CreatedAt.IsZero() || c.RevokedAt != nil || c.SecretRotatedAt != nil {
		t.Errorf("api client listed as %+v", c)
	}
	if c := list[ob.ID]; !c.Outbound || len(c.Scopes) != 0 || c.Account != "acct_2" {
		t.Errorf("outbound client listed as %+v", c)
	}

	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	oldTok := token(t, g.inbound, api)
	if s := aliasesStatus(t, g, bearerAuth(oldTok)); s != 201 {
		t.Fatalf("create with the token: %d", s)
	}
	if s := proxyStatus(t, g, ob); s == http.StatusProxyAuthRequired {
		t.Fatalf("outbound credentials refused before the revocation")
	}
	g.stop(t)

	fresh := rotateSecret(t, env, api.ID, "--data-dir", data)
	if fresh.Secret == api.Secret {
		t.Fatal("rotate-secret printed the old secret")
	}
	if r := revoke(t, env, ob.ID, "--data-dir", data); r.AlreadyRevoked {
		t.Fatalf("first revocation: %+v", r)
	}
	first := revoke(t, env, ob.ID, "--data-dir", data)
	if !first.AlreadyRevoked {
		t.Fatalf("second revocation: %+v", first)
	}
	list, out = clientsListOf(t, env, "--data-dir", data)
	if strings.Contains(out, fresh.Secret) || list[api.ID].SecretRotatedAt == nil || list[ob.ID].RevokedAt == nil ||
		!list[ob.ID].RevokedAt.Equal(first.RevokedAt) || list[api.ID].RevokedAt != nil {
		t.Fatalf("clients list after the changes: %s", out)
	}
	if _, _, err := runCmd(t, env, "clients", "rotate-secret", ob.ID, "--data-dir", data); err == nil ||
		!strings.Contains(err.Error(), "revoked") {
		t.Fatalf("rotate-secret of a revoked client: %v", err)
	}
	if _, _, err := runCmd(t, env, "clients", "revoke", "AC"+strings.Repeat("2", 22), "--data-dir", data); err == nil ||
		!strings.Contains(err.Error(), "no such client") {
		t.Fatalf("revoke of an unknown id: %v", err)
	}

	g = startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	if s := tokenStatus(t, g, api); s != 401 {
		t.Errorf("token with the old secret: %d, want 401", s)
	}
	if s := aliasesStatus(t, g, bearerAuth(oldTok)); s != 401 {
		t.Errorf("the token of the old secret: %d, want 401", s)
	}
	if s := aliasesStatus(t, g, basicAuth(api)); s != 401 {
		t.Errorf("Basic with the old secret: %d, want 401", s)
	}
	if s := aliasesStatus(t, g, bearerAuth(token(t, g.inbound, fresh))); s != 201 {
		t.Errorf("the new secret's token: %d, want 201", s)
	}
	if s := aliasesStatus(t, g, basicAuth(fresh)); s != 201 {
		t.Errorf("Basic with the new secret: %d, want 201", s)
	}
	if s := proxyStatus(t, g, ob); s != http.StatusProxyAuthRequired {
		t.Errorf("revoked outbound credentials: %d, want 407", s)
	}
	g.stop(t)

	lines := auditLines(t, filepath.Join(data, "audit.log"))
	if findLine(lines, map[string]any{"event": "client_secret_rotated", "actor": "cli", "client": api.ID}) == nil {
		t.Errorf("no client_secret_rotated line: %v", lines)
	}
	revoked := 0
	for _, l := range lines {
		if l["event"] == "client_revoked" && l["client"] == ob.ID && l["actor"] == "cli" {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("%d client_revoked lines, want 1 (a repeated revocation changes nothing)", revoked)
	}
	for _, l := range lines {
		b, _ := json.Marshal(l)
		if strings.Contains(string(b), fresh.Secret) || strings.Contains(string(b), api.Secret) {
			t.Fatal("an audit line holds a secret")
		}
	}
	if out, _, _ := runCmd(t, env, "audit", "verify", "--data-dir", data); !strings.HasPrefix(out, "ok, ") {
		t.Fatalf("audit verify: %q", out)
	}
}

// TestClientsLifecycleThroughTheRunningGateway: with the bbolt vault locked
// by a running gateway, list, rotate-secret and revoke go through its admin
// listener; the gateway refuses the old secret and tokens at once.
func TestClientsLifecycleThroughTheRunningGateway(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": adminToken, "ALIASGATE_LISTEN_ADMIN": freeAddr(t)})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	ob := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	oldTok := token(t, g.inbound, api)

	for _, ep := range []struct{ method, path string }{
		{"GET", "/admin/clients"}, {"POST", "/admin/clients/" + api.ID + "/revoke"}, {"POST", "/admin/clients/" + api.ID + "/rotate-secret"},
	} {
		if status, _ := call(t, ep.method, g.admin+ep.path, "", "", nil); status != http.StatusUnauthorized {
			t.Fatalf("%s %s without the admin token: %d", ep.method, ep.path, status)
		}
	}

	out, errOut, err := runCmd(t, env, "clients", "list", "--data-dir", data)
	var list admin.ClientList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Clients) != 2 || !strings.Contains(errOut, "admin listener") ||
		strings.Contains(out, api.Secret) {
		t.Fatalf("clients list on a running gateway: %v %q %q", err, out, errOut)
	}

	fresh := rotateSecret(t, env, api.ID, "--data-dir", data)
	if s := aliasesStatus(t, g, bearerAuth(oldTok)); s != 401 {
		t.Errorf("the old token right after the rotation: %d, want 401", s)
	}
	if s := tokenStatus(t, g, api); s != 401 {
		t.Errorf("the old secret: %d, want 401", s)
	}
	newTok := token(t, g.inbound, fresh)
	if s := aliasesStatus(t, g, bearerAuth(newTok)); s != 201 {
		t.Errorf("the new token: %d, want 201", s)
	}

	if r := revoke(t, env, api.ID, "--admin", g.admin); r.AlreadyRevoked {
		t.Fatalf("revoke through --admin: %+v", r)
	}
	if s := aliasesStatus(t, g, bearerAuth(newTok)); s != 401 {
		t.Errorf("a revoked client's token: %d, want 401", s)
	}
	if s := aliasesStatus(t, g, basicAuth(fresh)); s != 401 {
		t.Errorf("a revoked client's secret: %d, want 401", s)
	}
	if r := revoke(t, env, api.ID, "--data-dir", data); !r.AlreadyRevoked {
		t.Fatalf("a second revocation: %+v", r)
	}
	if s := proxyStatus(t, g, ob); s == http.StatusProxyAuthRequired {
		t.Fatal("outbound credentials refused before their revocation")
	}
	revoke(t, env, ob.ID, "--admin", g.admin)
	if s := proxyStatus(t, g, ob); s != http.StatusProxyAuthRequired {
		t.Errorf("revoked outbound credentials: %d, want 407", s)
	}
	// (--admin: each fallback waits 1 s for the bbolt lock first.)
	if _, _, err := runCmd(t, env, "clients", "rotate-secret", api.ID, "--admin", g.admin); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("rotate-secret of a revoked client through the gateway: %v", err)
	}
	if _, _, err := runCmd(t, env, "clients", "revoke", "nope", "--admin", g.admin); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("revoke of an unknown id through the gateway: %v", err)
	}
	noToken := testEnv(nil)
	if _, _, err := runCmd(t, noToken, "clients", "list", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Errorf("clients list on a locked vault without a token: %v", err)
	}
	g.stop(t)

	lines := auditLines(t, filepath.Join(data, "audit.log"))
	for _, want := range []map[string]any{
		{"event": "client_secret_rotated", "actor": "admin", "client": api.ID},
		{"event": "client_revoked", "actor": "admin", "client": api.ID},
		{"event": "client_revoked", "actor": "admin", "client": ob.ID},
	} {
		if findLine(lines, want) == nil {
			t.Errorf("no audit line %v", want)
		}
	}
}

// TestClientRevokeOnPostgresIsSeenByTheOtherGateway: two gateways share
// PostgreSQL; a client revoked through one gateway's admin listener has its
// token refused by the other within the cache bound (5 s), and its secret at
// once; a secret rotated with the CLI (directly on PostgreSQL) is refused at
// once on both, and the new one's token works on both at once.
func TestClientRevokeOnPostgresIsSeenByTheOtherGateway(t *testing.T) {
	pgURL := testPostgresURL(t)
	env := testEnv(map[string]string{"ALIASGATE_MASTER_KEY": newMasterKey(), "ALIASGATE_ADMIN_TOKEN": adminToken})
	cfgA, cfgB := sharedConfig(t, pgURL, testRedisURL(), ""), sharedConfig(t, pgURL, testRedisURL(), "")
	a := startGateway(t, env, "--config", cfgA)
	b := startGateway(t, env, "--config", cfgB)
	var c credential
	out, _, err := runCmd(t, env, "clients", "create", "--config", cfgA, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	if err != nil || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("clients create: %v %q", err, out)
	}

	// Rotation with the CLI, directly on PostgreSQL.
	oldTok := token(t, a.inbound, c)
	if s := aliasesStatus(t, b, bearerAuth(oldTok)); s != 201 { // b caches the client
		t.Fatalf("a's token on b: %d", s)
	}
	list, _ := clientsListOf(t, env, "--config", cfgB)
	if len(list) != 1 || list[c.ID].Name != "api" {
		t.Fatalf("clients list on PostgreSQL: %+v", list)
	}
	fresh := rotateSecret(t, env, c.ID, "--config", cfgB)
	for _, g := range []*gatewayProc{a, b} {
		if s := tokenStatus(t, g, c); s != 401 {
			t.Errorf("the old secret right after the rotation: %d, want 401", s)
		}
	}
	newTok := token(t, a.inbound, fresh)
	if s := aliasesStatus(t, b, bearerAuth(newTok)); s != 201 {
		t.Errorf("the new token on b right after the rotation: %d, want 201", s)
	}
	if !waitFor(auth.DefaultClientCacheTTL+2*time.Second, func() bool { return aliasesStatus(t, b, bearerAuth(oldTok)) == 401 }) {
		t.Errorf("the old token still works on b %v after the rotation", auth.DefaultClientCacheTTL+2*time.Second)
	}

	// Revocation through a's admin listener, seen by b within the bound.
	if s := aliasesStatus(t, b, bearerAuth(newTok)); s != 201 {
		t.Fatalf("the token on b before the revocation: %d", s)
	}
	start := time.Now()
	if r := revoke(t, env, c.ID, "--admin", a.admin); r.AlreadyRevoked {
		t.Fatalf("revoke: %+v", r)
	}
	if s := aliasesStatus(t, a, bearerAuth(newTok)); s != 401 {
		t.Errorf("the token on the revoking gateway: %d, want 401 at once", s)
	}
	// b's cached state of the client may be up to the bound old (b is not
	// asked with the secret before: that reads the client afresh).
	bound := auth.DefaultClientCacheTTL + time.Second
	if !waitFor(bound+5*time.Second, func() bool { return aliasesStatus(t, b, bearerAuth(newTok)) == 401 }) {
		t.Fatal("the revoked client's token still works on b")
	}
	if took := time.Since(start); took > bound {
		t.Errorf("b refused the revoked client's token after %v, want within %v", took, bound)
	}
	t.Logf("b refused the revoked client's token %v after the revocation", time.Since(start).Round(time.Millisecond))
	if s := aliasesStatus(t, b, basicAuth(fresh)); s != 401 {
		t.Errorf("the secret on b: %d, want 401", s)
	}
	if s := aliasesStatus(t, a, bearerAuth(newTok)); s != 401 {
		t.Errorf("the token on a: %d", s)
	}
}

func TestClientsCommandsHelpAndUsage(t *testing.T) {
	for _, cmd := range []string{"list", "revoke", "rotate-secret"} {
		out, _, err := runCmd(t, testEnv(nil), "clients", cmd, "--help")
		if err != nil || !strings.Contains(out, "Usage") || !strings.Contains(out, "admin listener") {
			t.Errorf("clients %s --help: %v %q", cmd, err, out)
		}
	}
	for _, args := range [][]string{{"clients", "revoke"}, {"clients", "rotate-secret"}, {"clients", "list", "extra"}, {"clients", "revoke", "--bogus"}} {
		_, _, err := runCmd(t, testEnv(nil), args...)
		var buf strings.Builder
		if code := exitCode(err, &buf); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
}
