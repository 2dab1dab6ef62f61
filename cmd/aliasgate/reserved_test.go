package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCatchAllRouteNeverGetsTheGatewaysOwnPaths: a catch-all inbound route
// (host "*", path_prefix "/") in front of the merchant's app. Client
// credentials posted to /oauth/token (Basic and in the form) are answered by
// the gateway and never reach the app; /aliases and /cards stay the
// gateway's too (404 while off), the app still gets everything else;
// `routes validate`, `config check` and `serve` each warn about the route.
func TestCatchAllRouteNeverGetsTheGatewaysOwnPaths(t *testing.T) {
	var mu sync.Mutex
	var seen []string // what the app received: path and body
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.PostForm.Encode())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"app":true}`))
	}))
	t.Cleanup(app.Close)

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte("routes:\n  - id: everything\n    direction: inbound\n    host: \"*\"\n    path_prefix: /\n    upstream: "+app.URL+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	os.WriteFile(cfgFile, []byte("routes_file: "+routesFile+"\n"), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile})
	const warning = "route everything (line 2): its path_prefix / covers the gateway's own /oauth/token, /cards, /aliases"

	_, stderr, err := runCmd(t, env, "routes", "validate", routesFile)
	if err != nil || !strings.Contains(stderr, "warning: "+warning) {
		t.Fatalf("routes validate: %v\n%s", err, stderr)
	}
	_, stderr, err = runCmd(t, testEnv(nil), "config", "check", "--config", cfgFile)
	if err != nil || !strings.Contains(stderr, "warning: "+warning) {
		t.Fatalf("config check: %v\n%s", err, stderr)
	}

	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "aliases:write")
	g := startGateway(t, env, "--data-dir", data)
	if !strings.Contains(g.stderr.String(), warning) {
		t.Errorf("serve did not warn:\n%s", g.stderr.String())
	}
	status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(cred.ID, cred.Secret) })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token (Basic): %d %s", status, body)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ID}, "client_secret": {cred.Secret}}.Encode()
	for _, path := range []string{"/oauth/token", "//oauth/./token", "/oauth/token/"} {
		status, body = call(t, "POST", g.inbound+path, "application/x-www-form-urlencoded", form, nil)
		if strings.Contains(string(body), `"app":true`) {
			t.Errorf("%s: answered by the app: %d %s", path, status, body)
		}
	}
	for _, path := range []string{"/aliases", "/aliases/tok_x", "/cards", "/cards/CRD1"} {
		status, body = call(t, "GET", g.inbound+path, "", "", nil)
		if status < 400 || strings.Contains(string(body), `"app":true`) {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	if status, body = call(t, "POST", g.inbound+"/checkout", "application/json", `{}`, nil); status != 200 || !strings.Contains(string(body), `"app":true`) {
		t.Fatalf("the route itself: %d %s", status, body)
	}
	mu.Lock()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "/checkout ") {
		t.Fatalf("the app received %q, want only /checkout", seen)
	}
	for _, s := range seen {
		if strings.Contains(s, cred.Secret) {
			t.Fatal("the client secret reached the app")
		}
	}
	seen = nil
	mu.Unlock()

	// A route that names /oauth/token in forward_reserved receives it (and
	// only it: /aliases stays the gateway's); no warning names it then.
	named := filepath.Join(dir, "named.yaml")
	os.WriteFile(named, []byte("routes:\n  - id: oauth-app\n    direction: inbound\n    host: \"*\"\n    forward_reserved: [/oauth/token]\n    upstream: "+app.URL+"\n"), 0o600)
	g2 := startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": named}), "--data-dir", filepath.Join(dir, "data2"))
	if strings.Contains(g2.stderr.String(), "covers the gateway's own /oauth/token") {
		t.Errorf("a route that forwards /oauth/token is warned about as withholding it:\n%s", g2.stderr.String())
	}
	if status, body = call(t, "POST", g2.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", nil); status != 200 || !strings.Contains(string(body), `"app":true`) {
		t.Fatalf("forward_reserved /oauth/token: %d %s", status, body)
	}
	if status, body = call(t, "GET", g2.inbound+"/aliases", "", "", nil); status != 404 || strings.Contains(string(body), `"app":true`) {
		t.Fatalf("/aliases with only /oauth/token forwarded: %d %s", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "/oauth/token ") {
		t.Fatalf("the app received %q, want /oauth/token only", seen)
	}
}
