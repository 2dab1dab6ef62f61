package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// syncBuffer is a bytes.Buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is an environment with loopback listeners on free ports.
func testEnv(extra map[string]string) func(string) string {
	m := map[string]string{
		"ALIASGATE_LISTEN_INBOUND":  "127.0.0.1:0",
		"ALIASGATE_LISTEN_OUTBOUND": "127.0.0.1:0",
		"ALIASGATE_LISTEN_ADMIN":    "127.0.0.1:0",
	}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb syncBuffer
	err := run(context.Background(), args, getenv, &out, &errb)
	obstest.AssertNoPAN(t, "stderr of "+strings.Join(args, " "), []byte(errb.String()))
	return out.String(), errb.String(), err
}

// TestHelpOnEveryCommand: --help, -h and "help <command>" on every command
// and command group print its usage on stdout and exit 0; every usage line
// names the flags the command has.
func TestHelpOnEveryCommand(t *testing.T) {
	cases := [][]string{{"--help"}, {"-h"}, {"help"}}
	groups := map[string]bool{}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		cases = append(cases, append(slices.Clone(words), "--help"), append(slices.Clone(words), "-h"), append([]string{"help"}, words...))
		if len(words) > 1 && !groups[words[0]] {
			groups[words[0]] = true
			cases = append(cases, []string{words[0], "--help"}, []string{"help", words[0]})
		}
	}
	for _, args := range cases {
		out, _, err := runCmd(t, testEnv(nil), args...)
		var buf bytes.Buffer
		if code := exitCode(err, &buf); code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d (%v), output %q", args, code, err, out)
		}
		// A "Flags:" heading has flags under it.
		if strings.HasSuffix(strings.TrimRight(out, "\n"), "Flags:") {
			t.Errorf("%v: an empty Flags: heading ends the help:\n%s", args, out)
		}
	}
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"clients"}, {"serve", "--bogus"}, {"clients", "create", "--account", "x"}, {"config", "check"}} {
		_, _, err := runCmd(t, testEnv(nil), args...)
		var buf bytes.Buffer
		if code := exitCode(err, &buf); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
		if strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("%v: want one line, got %q", args, buf.String())
		}
	}
}

// TestUsageErrorsNeverEchoACardNumber: a card number typed where a flag,
// a flag value or an argument goes (a paste into the wrong terminal) is
// masked in the one-line usage error of every command that parses flags.
func TestUsageErrorsNeverEchoACardNumber(t *testing.T) {
	const card = "4111111111111111"
	for _, args := range [][]string{
		{"serve", "--" + card},
		{"serve", card},
		{"serve", "--config=" + card, "extra", card},
		{"clients", "create", "--" + card + "=x"},
		{"clients", "list", card},
		{"audit", "verify", "--" + card},
		{"audit", "verify", "a", card},
		{"tsp", "simulate", "token-suspended", "--card=x", "--account", "a", card},
		{"tsp", "simulate", card},
		{"tsp", "simulate", "--" + card},
		{"webhooks", "deliveries", card},
		{"keys", "status", "--" + card},
	} {
		out, stderr, err := runCmd(t, testEnv(nil), args...)
		var buf bytes.Buffer
		code := exitCode(err, &buf)
		if code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args[:2], code, pan.Mask(fmt.Sprint(err)))
		}
		if all := out + stderr + buf.String(); strings.Contains(all, card) || strings.Contains(all, "41111111") {
			t.Errorf("%v: the card number is echoed: %q", args[:2], pan.Mask(all))
		}
	}
}

// TestVersion: "version" and "--version" print the same line: the module
// version from the build info (or -X main.version) and the Go version, and
// the VCS revision when the build recorded one.
func TestVersion(t *testing.T) {
	out, _, err := runCmd(t, testEnv(nil), "version")
	if err != nil || !strings.HasPrefix(out, "aliasgate ") || !strings.Contains(out, runtime.Version()) || strings.Contains(out, "dev\n") {
		t.Fatalf("version = %q, %v", out, err)
	}
	out2, _, err := runCmd(t, testEnv(nil), "--version")
	if err != nil || out2 != out {
		t.Fatalf("--version = %q (%v), version = %q", out2, err, out)
	}
	version = "v1.2.3"
	defer func() { version = "" }()
	if out, _, _ := runCmd(t, testEnv(nil), "version"); !strings.HasPrefix(out, "aliasgate v1.2.3 ") {
		t.Fatalf("with -X main.version: %q", out)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("env: live\nvault:\n  volatile_ttl: 30m\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("env: live\nvault:\n  volatile_ttl: 10ms\n  bogus: 1\n"), 0o600)

	out, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", good)
	if err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("good config: %q, %v", out, err)
	}
	_, _, err = runCmd(t, testEnv(nil), "config", "check", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("bad config error = %v, want the unknown key with its line", err)
	}
	var buf bytes.Buffer
	if exitCode(err, &buf) != 1 {
		t.Fatal("invalid config does not exit 1")
	}
}

// TestConfigCheckReadsTheFilesServeReads: config check reports, with the
// key that names them, every file and secret that would stop serve at
// start — a TLS key pair, a CA bundle, the outbound CA, a webhook secret
// (missing, readable by others, too short, an unset variable) — all at
// once; it used to say "configuration is valid" and serve then failed on
// the first of them.
func TestConfigCheckReadsTheFilesServeReads(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.secret")
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	open := filepath.Join(dir, "open.secret")
	os.WriteFile(open, []byte(strings.Repeat("s", 32)+"\n"), 0o644)
	os.Chmod(open, 0o644)
	cfg := filepath.Join(dir, "aliasgate.yaml")
	os.WriteFile(cfg, []byte(`listen: {inbound_cert: `+dir+`/none.pem, inbound_key: `+dir+`/none.key}
outbound: {ca_bundle: `+dir+`/no-bundle.pem, ca_cert: `+dir+`/no-ca.pem, ca_key: `+dir+`/no-ca.key}
webhooks:
  ca_bundle: `+dir+`/no-hooks-bundle.pem
  endpoints:
    - {id: missing, account: a, url: "https://hooks.example/a", secret_file: `+dir+`/none.secret, events: ["*"]}
    - {id: open, account: a, url: "https://hooks.example/b", secret_file: `+open+`, events: ["*"]}
    - {id: short, account: a, url: "https://hooks.example/c", secret_file: `+short+`, events: ["*"]}
    - {id: unset, account: a, url: "https://hooks.example/d", secret_env: ALIASGATE_TEST_UNSET_SECRET, events: ["*"]}
`), 0o600)
	out, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", cfg)
	var buf bytes.Buffer
	if code := exitCode(err, &buf); code != 1 || strings.Contains(out, "valid") {
		t.Fatalf("config check: exit %d, stdout %q, err %v", code, out, err)
	}
	for _, want := range []string{"inbound TLS", "outbound.ca_bundle", "outbound CA", "webhooks.ca_bundle",
		"webhooks.endpoints[0].secret_file", "webhooks.endpoints[1].secret_file", "chmod 600",
		"webhooks.endpoints[2]: a signing secret is shorter", "webhooks.endpoints[3].secret_env"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("config check does not report %q:\n%v", want, err)
		}
	}
	obstest.AssertNoPAN(t, "config check", []byte(err.Error()))
	if strings.Contains(err.Error(), strings.Repeat("s", 32)) {
		t.Errorf("config check printed a secret")
	}

	// With every file in place (and the variable set) it is valid.
	good := filepath.Join(dir, "good.secret")
	os.WriteFile(good, []byte(strings.Repeat("g", 32)+"\n"), 0o600)
	okCfg := filepath.Join(dir, "ok.yaml")
	os.WriteFile(okCfg, []byte(`webhooks:
  endpoints:
    - {id: file, account: a, url: "https://hooks.example/a", secret_file: `+good+`, events: ["*"]}
    - {id: env, account: a, url: "https://hooks.example/b", secret_env: ALIASGATE_TEST_SET_SECRET, events: ["*"]}
`), 0o600)
	out, _, err = runCmd(t, testEnv(map[string]string{"ALIASGATE_TEST_SET_SECRET": strings.Repeat("e", 32)}), "config", "check", "--config", okCfg)
	if err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("config check of a good configuration: %q %v", out, err)
	}
}

// credential is what "clients create" prints.
type credential struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient runs "clients create --data-dir dir" with extra flags and
// returns the printed credential.
func createClient(t *testing.T, getenv func(string) string, dir string, flags ...string) credential {
	t.Helper()
	out, _, err := runCmd(t, getenv, append([]string{"clients", "create", "--data-dir", dir}, flags...)...)
	if err != nil {
		t.Fatalf("clients create: %v", err)
	}
	var c credential
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("clients create printed %q (%v)", out, err)
	}
	return c
}

// gatewayProc is a gateway started by run in the background.
type gatewayProc struct {
	inbound, outbound, admin string
	stderr                   *syncBuffer
	cancel                   context.CancelFunc
	done                     chan error
}

var listenRE = regexp.MustCompile(`"msg":"listening","listener":"(\w+)","addr":"([^"]+)"`)

// listeners returns the base URLs of the three listeners a gateway's log
// announced, or "" for the admin listener until all three are up.
func listeners(log string) (inbound, outbound, admin string) {
	for _, m := range listenRE.FindAllStringSubmatch(log, -1) {
		switch m[1] {
		case "inbound":
			inbound = "http://" + m[2]
		case "outbound":
			outbound = "http://" + m[2]
		case "admin":
			admin = "http://" + m[2]
		}
	}
	if inbound == "" || outbound == "" {
		admin = ""
	}
	return inbound, outbound, admin
}

func startGateway(t *testing.T, getenv func(string) string, args ...string) *gatewayProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayProc{stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- run(ctx, append([]string{"serve"}, args...), getenv, io.Discard, g.stderr) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if g.inbound, g.outbound, g.admin = listeners(g.stderr.String()); g.admin != "" {
			t.Cleanup(func() { g.stop(t) })
			return g
		}
		select {
		case err := <-g.done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, g.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not log its listeners:\n%s", g.stderr.String())
	return nil
}

func (g *gatewayProc) stop(t *testing.T) {
	t.Helper()
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop within 10s of the signal")
	}
	obstest.AssertNoPAN(t, "gateway log", []byte(g.stderr.String()))
}

func call(t *testing.T, method, url, ctype, body string, setup func(*http.Request)) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if setup != nil {
		setup(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestWalkthrough follows the README: create a client, get a token, create
// an alias, reveal it, delete it; then checks the data dir holds no card
// number in clear.
func TestWalkthrough(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	c := createClient(t, env, dir, "--name", "checkout", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	cred := struct{ ClientID, ClientSecret string }{c.ID, c.Secret}

	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")

	status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(cred.ClientID, cred.ClientSecret) })
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("token: %d %s", status, body)
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }

	status, body = call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4111111111111111","classifiers":["pan"],"format":"FPE_SIX_T_FOUR"},{"value":"123","storage":"VOLATILE"}]}`, bearer)
	var created struct {
		Data []struct {
			Aliases []struct{ Alias string }
		}
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("create: %d %s", status, body)
	}
	alias := created.Data[0].Aliases[0].Alias

	status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"value":"4111111111111111"`) {
		t.Fatalf("reveal: %d %s", status, body)
	}
	if status, body = call(t, "DELETE", g.inbound+"/aliases/"+alias, "", "", bearer); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _ = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearer); status != 404 {
		t.Fatalf("reveal after delete: %d", status)
	}
	// A new PAN stays in the vault for the data-dir scan below.
	if status, body = call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"5555555555554444"}]}`, bearer); status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, body = call(t, "GET", g.admin+p, "", "", nil); status != 200 {
			t.Errorf("admin %s: %d %s", p, status, body)
		}
	}
	if _, body = call(t, "GET", g.admin+"/metrics", "", "", nil); !strings.Contains(string(body), `aliasgate_http_requests_total{listener="inbound",method="POST",route="internal:aliases",status="201"}`) {
		t.Errorf("metrics lack the request counter:\n%s", body)
	}
	if status, _ = call(t, "GET", g.inbound+"/nowhere", "", "", nil); status != 404 {
		t.Errorf("unrouted path: %d", status)
	}
	g.stop(t)

	log := g.stderr.String()
	if n := len(listenRE.FindAllString(log, -1)); n != 3 {
		t.Errorf("%d listening lines, want one per listener", n)
	}
	for _, want := range []string{`"msg":"stopped"`, `"route":"internal:aliases"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	// Nothing in the data dir holds a card number or CVC in clear, and the
	// secrets are private.
	entries, _ := os.ReadDir(dir)
	if len(entries) < 3 {
		t.Fatalf("data dir has %d files", len(entries))
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		obstest.AssertNoPAN(t, p, b)
		if bytes.Contains(b, []byte("5555555555554444")) || bytes.Contains(b, []byte(cred.ClientSecret)) {
			t.Errorf("%s holds a value or secret in clear", p)
		}
		if fi, _ := e.Info(); fi.Mode().Perm()&0o077 != 0 && e.Name() != caCertFile { // the CA certificate is public
			t.Errorf("%s mode %04o is readable by others", p, fi.Mode().Perm())
		}
	}
}

func TestStartFailuresExitWithOneClearLine(t *testing.T) {
	base := t.TempDir()
	fresh := func(name string) string { return filepath.Join(base, name) }
	otherKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))

	// A vault created with one key, for the wrong-key case.
	used := fresh("used")
	g := startGateway(t, testEnv(nil), "--data-dir", used)
	t.Run("locked by a running gateway", func(t *testing.T) {
		start := time.Now()
		_, _, err := runCmd(t, testEnv(nil), "serve", "--data-dir", used)
		if err == nil || !strings.Contains(err.Error(), "locked by another process") {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("took %s", time.Since(start))
		}
	})
	t.Run("clients create while it runs", func(t *testing.T) {
		// The README creates clients before the gateway starts; run while
		// it runs, the command says what to do instead of only that the
		// vault is locked.
		_, _, err := runCmd(t, testEnv(nil), "clients", "create", "--data-dir", used, "--name", "late", "--scopes", "aliases:write")
		if err == nil || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), "stop the gateway") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("port in use", func(t *testing.T) {
		env := testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND": strings.TrimPrefix(g.admin, "http://")})
		_, _, err := runCmd(t, env, "serve", "--data-dir", fresh("port"))
		if err == nil || !strings.Contains(err.Error(), "inbound listener") || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("err = %v", err)
		}
		// The message says how to move the listener (the README's
		// ALIASGATE_LISTEN_INBOUND or listen.inbound), not only that the
		// port is taken.
		for _, want := range []string{"ALIASGATE_LISTEN_INBOUND", "listen.inbound", strings.TrimPrefix(g.admin, "http://")} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v: does not name %s", err, want)
			}
		}
	})
	g.stop(t)

	corrupt := fresh("corrupt")
	os.MkdirAll(corrupt, 0o700)
	os.WriteFile(filepath.Join(corrupt, "vault.db"), bytes.Repeat([]byte("not bolt"), 1000), 0o600)

	badKey := fresh("badkey")
	os.MkdirAll(badKey, 0o700)
	os.WriteFile(filepath.Join(badKey, "master.key"), []byte("short"), 0o600)

	openKey := fresh("openkey")
	os.MkdirAll(openKey, 0o700)
	os.WriteFile(filepath.Join(openKey, "master.key"), []byte(otherKey), 0o644)
	os.Chmod(filepath.Join(openKey, "master.key"), 0o644)

	cfg := filepath.Join(base, "bad.yaml")
	os.WriteFile(cfg, []byte("vault:\n  store: mongo\nlog:\n  level: loud\n"), 0o600)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"other master key", map[string]string{"ALIASGATE_MASTER_KEY": otherKey}, []string{"--data-dir", used}, []string{"master key does not match"}},
		{"corrupt vault file", nil, []string{"--data-dir", corrupt}, []string{"corrupt"}},
		{"malformed master key file", nil, []string{"--data-dir", badKey}, []string{"master key", "master.key"}},
		{"master key readable by others", nil, []string{"--data-dir", openKey}, []string{"chmod 600"}},
		{"invalid config", nil, []string{"--config", cfg}, []string{"vault.store", "log.level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, testEnv(tt.env), append([]string{"serve"}, tt.args...)...)
			if err == nil {
				t.Fatal("serve started")
			}
			var buf bytes.Buffer
			if code := exitCode(err, &buf); code != 1 {
				t.Fatalf("exit %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("message %q lacks %q", buf.String(), w)
				}
			}
			if strings.Contains(buf.String(), otherKey) {
				t.Error("message shows the key")
			}
		})
	}
}

func TestShutdownClosesTheVault(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, testEnv(nil), "--data-dir", dir)
	g.stop(t)
	// The file lock is released: a second start works at once.
	g2 := startGateway(t, testEnv(nil), "--data-dir", dir)
	g2.stop(t)
}

// TestServeProxiesRoutesToTheUpstream runs serve with a routes file in
// front of a recording upstream: the upstream sees aliases only, and an
// edited routes file is picked up on SIGHUP-free reload (file watch).
func TestServeProxiesRoutesToTheUpstream(t *testing.T) {
	var mu sync.Mutex
	var got []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		w.Write([]byte(`{"ok":true}`))
	}))
	defer upstream.Close()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: shop
    direction: inbound
    host: "*"
    upstream: `+upstream.URL+`
    filters:
      - id: card-in
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
          - {json: card.cvc, storage: volatile}
`), 0o600)
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}), "--data-dir", filepath.Join(dir, "data"))
	status, body := call(t, "POST", g.inbound+"/checkout", "application/json", `{"card":{"number":"4111111111111111","cvc":"737"}}`, nil)
	if status != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("proxied request: %d %s", status, body)
	}
	status, _ = call(t, "POST", g.inbound+"/checkout", "application/json", `{"card":{"number":`, nil)
	if status != 400 {
		t.Fatalf("malformed body: %d", status)
	}
	mu.Lock()
	seen := strings.Join(got, "\n")
	mu.Unlock()
	if len(got) != 1 || strings.Contains(seen, "4111111111111111") || strings.Contains(seen, `"737"`) || !strings.Contains(seen, `"number":"411111`) {
		t.Fatalf("upstream saw %q", seen)
	}
	g.stop(t)
	if !strings.Contains(g.stderr.String(), `"route":"shop"`) {
		t.Error("the access log does not name the route")
	}
}

// TestClientsCreateRefusesBadFlagsBeforeMakingAVault: a clients create the
// client spec would refuse (no --scopes without --outbound, an unknown
// scope, an invalid account or name) fails before it opens the data dir, so
// a mistyped command leaves no new vault, master key or audit log behind.
// Before, each of these created ./aliasgate-data (a test of the missing
// --scopes once left one, master key included, in cmd/aliasgate and it was
// committed). A missing --scopes is a usage error (exit 2, one line), as
// the usage line says "--scopes S1,S2" is required; an unknown scope names
// the known ones.
func TestClientsCreateRefusesBadFlagsBeforeMakingAVault(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--name", "x"}, 2, "--scopes"},
		{[]string{"--name", "x", "--scopes", " , "}, 2, "--scopes"},
		{[]string{"--name", "x", "--scopes", "aliases:wrte"}, 1, "aliases:write"},
		{[]string{"--name", "x", "--scopes", "aliases:write", "--account", "acct 1"}, 1, "account"},
		{[]string{"--name", "4111 1111 1111 1111", "--scopes", "aliases:write"}, 1, "name"},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		args := append([]string{"clients", "create", "--data-dir", dir}, c.args...)
		_, _, err := runCmd(t, testEnv(nil), args...)
		var buf bytes.Buffer
		if code := exitCode(err, &buf); code != c.code || !strings.Contains(buf.String(), c.contains) || strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line naming %q", args, code, buf.String(), c.code, c.contains)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: the refused command created %s (%v)", args, dir, err)
		}
	}
}

// TestNoDataDirInTheSourceTree: no vault, master key or audit log is kept
// in the package directory (where a command run by a test without
// --data-dir would make ./aliasgate-data).
func TestNoDataDirInTheSourceTree(t *testing.T) {
	if _, err := os.Stat("aliasgate-data"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cmd/aliasgate/aliasgate-data exists (%v): a data dir, master key included, must never be in the source tree", err)
	}
}

// TestMainUsageListsCommandsInOneColumn: "aliasgate help" lists every
// command with its summary starting in one column, the longest names
// (clients rotate-secret, webhooks deliveries) included; they used to run
// into their summaries.
func TestMainUsageListsCommandsInOneColumn(t *testing.T) {
	out, _, err := runCmd(t, testEnv(nil), "help")
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	n := 0
	for _, c := range commands() {
		for _, l := range strings.Split(out, "\n") {
			rest, ok := strings.CutPrefix(l, "  "+c.name+" ")
			if !ok || !strings.HasSuffix(l, c.summary) {
				continue
			}
			n++
			at := len(l) - len(c.summary)
			if col == -1 {
				col = at
			}
			if at != col || strings.TrimSpace(rest) != c.summary {
				t.Errorf("%q: summary at column %d, want %d", l, at, col)
			}
		}
	}
	if n != len(commands()) {
		t.Fatalf("found %d of %d commands in:\n%s", n, len(commands()), out)
	}
}

// TestArgumentBeforeFlagsAsTheUsageLinesShow: every command whose usage
// line puts its argument before its flags ("webhooks redeliver ID
// [--config FILE …]", as README's Commands table does) takes them in that
// order. webhooks redeliver took flags first only: "redeliver ID --config
// F" was a usage error, "want 1 argument(s), got 3".
func TestArgumentBeforeFlagsAsTheUsageLinesShow(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for _, args := range [][]string{
		{"webhooks", "redeliver", "dlv_x", "--data-dir", none},
		{"clients", "revoke", "ACx", "--data-dir", none},
		{"clients", "rotate-secret", "ACx", "--data-dir", none},
		{"audit", "verify", filepath.Join(none, "audit.log"), "--data-dir", none},
		{"tsp", "simulate", "token-suspended", "--account", "a", "--card", "CRDx", "--data-dir", none, "--admin", "http://127.0.0.1:1"},
	} {
		_, _, err := runCmd(t, testEnv(nil), args...)
		var buf bytes.Buffer
		if code := exitCode(err, &buf); code == 2 || code == 0 {
			t.Errorf("%v: exit %d (%s); want the command to run (and fail on the missing vault, exit 1)", args, code, strings.TrimSpace(buf.String()))
		}
	}
	if _, err := os.Stat(none); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command made %s", none)
	}
}

// TestRelativePathsNotFoundSayWhereTheyWereLooked: a relative path of the
// configuration (routes_file, a CA bundle, a secret_file) that does not
// exist is reported with where it was looked for: the working directory,
// not the configuration file's (config/README.md). Run from another
// directory, config check and serve only said "open routes.yaml: no such
// file or directory".
func TestRelativePathsNotFoundSayWhereTheyWereLooked(t *testing.T) {
	cfgDir := t.TempDir()
	cfg := filepath.Join(cfgDir, "aliasgate.yaml")
	os.WriteFile(filepath.Join(cfgDir, "routes.yaml"), []byte("routes: []\n"), 0o600)
	os.WriteFile(cfg, []byte("routes_file: routes.yaml\noutbound: {ca_bundle: psp.pem}\n"), 0o600)
	work := t.TempDir()
	t.Chdir(work)
	for _, args := range [][]string{
		{"config", "check", "--config", cfg},
		{"serve", "--config", cfg, "--data-dir", filepath.Join(work, "data")},
	} {
		_, _, err := runCmd(t, testEnv(nil), args...)
		if err == nil || !strings.Contains(err.Error(), "routes.yaml") || !strings.Contains(err.Error(), "working directory "+work) {
			t.Errorf("%v: %v", args[:2], err)
		}
	}
	_, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "psp.pem") || strings.Count(err.Error(), "working directory") < 2 {
		t.Errorf("config check: the ca_bundle has no hint: %v", err)
	}
}

// TestMistypedVariableIsNamed: an ALIASGATE_ variable that is no setting
// (ALIASGATE_LISTEN_INBUOND for ALIASGATE_LISTEN_INBOUND, the README's way
// to move a port) is named with the setting it likely meant by config
// check (on stderr) and by serve (a warning log line), never with its
// value; it was ignored without a word, leaving the default in force.
func TestMistypedVariableIsNamed(t *testing.T) {
	t.Setenv("ALIASGATE_LISTEN_INBUOND", "127.0.0.1:18080")
	cfg := filepath.Join(t.TempDir(), "aliasgate.yaml")
	os.WriteFile(cfg, []byte("env: sandbox\n"), 0o600)
	_, stderr, err := runCmd(t, testEnv(nil), "config", "check", "--config", cfg)
	if err != nil || !strings.Contains(stderr, "warning: ALIASGATE_LISTEN_INBUOND is not a setting") ||
		!strings.Contains(stderr, "did you mean ALIASGATE_LISTEN_INBOUND?") || strings.Contains(stderr, "18080") {
		t.Errorf("config check: %v, stderr %q", err, stderr)
	}
	g := startGateway(t, testEnv(nil), "--data-dir", filepath.Join(t.TempDir(), "data"))
	g.stop(t)
	if log := g.stderr.String(); !strings.Contains(log, "ALIASGATE_LISTEN_INBUOND is not a setting") || strings.Contains(log, "18080") {
		t.Errorf("serve did not warn of the variable (or echoed its value):\n%s", log)
	}
}

// TestUnreachableStoreFailsWithOneLine: a PostgreSQL that cannot be
// reached fails serve, migrate and the vault commands with one line on
// stderr naming it (pgx's error has a line per address tried).
func TestUnreachableStoreFailsWithOneLine(t *testing.T) {
	dir := t.TempDir()
	down := filepath.Join(dir, "down.yaml")
	os.WriteFile(down, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: \"postgres://u:hunter2@127.0.0.1:1/x\"}\n", dir)), 0o600)
	env := testEnv(map[string]string{vault.MasterKeyEnv: newMasterKey()})
	for _, args := range [][]string{{"serve"}, {"migrate"}, {"keys", "status"}, {"clients", "list"}} {
		_, _, err := runCmd(t, env, append(args, "--config", down)...)
		var buf bytes.Buffer
		if code := exitCode(err, &buf); code != 1 || strings.Count(buf.String(), "\n") != 1 ||
			!strings.Contains(buf.String(), "127.0.0.1:1") || strings.Contains(buf.String(), "hunter2") {
			t.Errorf("%s: exit %d, stderr %q; want one line naming the server", strings.Join(args, " "), code, buf.String())
		}
	}
}
