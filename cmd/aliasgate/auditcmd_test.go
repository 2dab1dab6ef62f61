package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
)

// auditLines reads the audit log as JSON objects.
func auditLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// findLine returns the first line with every given field, or nil.
func findLine(lines []map[string]any, want map[string]any) map[string]any {
next:
	for _, l := range lines {
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		return l
	}
	return nil
}

func bearerToken(t *testing.T, g *gatewayProc, c credential) func(*http.Request) {
	t.Helper()
	status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("token: %d %s", status, body)
	}
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
}

// TestAuditLogRecordsEveryRevealPath drives each way a value leaves the
// vault — the vault API, an inbound response reveal, an outbound request
// reveal and a PCI client's card read — plus a delete, a change of
// classifiers, client creations and
// the route load, then checks one audit line for each, that the log
// verifies, and that it holds no alias and no card data.
func TestAuditLogRecordsEveryRevealPath(t *testing.T) {
	var mu sync.Mutex
	var pspGot string
	psp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pspGot = string(b)
		mu.Unlock()
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	var shopAlias string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := shopAlias
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"card":{"number":"`+a+`"}}`)
	}))
	defer shop.Close()

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /shop
    upstream: `+shop.URL+`
    leak_guard: "off"
    filters:
      - {id: reveal-in, phase: response, operation: reveal, targets: [{json: card.number}]}
  - id: psp
    direction: outbound
    host: 127.0.0.1
    unsafe_reveal_over_plain_http: true # the processor stand-in speaks plain HTTP
    filters:
      - {id: reveal-out, operation: reveal, targets: [{json: card.number}]}
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	out := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	pci := createClient(t, env, data, "--name", "pci", "--account", "acct_1", "--scopes", "cards:write,cards:read", "--pci")

	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	basic := func(r *http.Request) { r.SetBasicAuth(api.ID, api.Secret) }
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4111111111111111","format":"FPE_SIX_T_FOUR"},{"value":"5555555555554444"}]}`, basic)
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("create: %d %s", status, body)
	}
	fpe, uuid := created.Data[0].Aliases[0].Alias, created.Data[1].Aliases[0].Alias

	// 1. Vault API reveal.
	if status, body = call(t, "GET", g.inbound+"/aliases/"+fpe, "", "", basic); status != 200 {
		t.Fatalf("reveal: %d %s", status, body)
	}
	// 2. Inbound response reveal.
	mu.Lock()
	shopAlias = uuid
	mu.Unlock()
	if status, body = call(t, "GET", g.inbound+"/shop/order", "", "", nil); status != 200 || !strings.Contains(string(body), "5555555555554444") {
		t.Fatalf("inbound reveal: %d %s", status, body)
	}
	// 3. Outbound request reveal (plain HTTP through the forward proxy).
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(out.ID, out.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	res, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+fpe+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	mu.Lock()
	got := pspGot
	mu.Unlock()
	if res.StatusCode != 200 || !strings.Contains(got, "4111111111111111") {
		t.Fatalf("outbound reveal: %d, processor got %q", res.StatusCode, got)
	}
	// 4. A PCI client's card read.
	pciAuth := bearerToken(t, g, pci)
	status, body = call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"4000056655665556","cvc":"737","exp_month":4,"exp_year":2030}}}`, pciAuth)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create card: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/cards/"+card.Data.ID, "", "", pciAuth); status != 200 || !strings.Contains(string(body), "4000056655665556") {
		t.Fatalf("PCI read: %d %s", status, body)
	}
	// 5. A delete.
	if status, body = call(t, "DELETE", g.inbound+"/aliases/"+uuid, "", "", basic); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	// 6. Classifiers replaced, and a replacement naming an alias that is
	// gone: a change to what the vault holds (and an answer that tells
	// whether the alias exists) has its line like a delete.
	if status, body = call(t, "PUT", g.inbound+"/aliases/"+fpe, "application/json", `{"data":{"classifiers":["vip"]}}`, basic); status != 204 {
		t.Fatalf("classifiers: %d %s", status, body)
	}
	if status, body = call(t, "PUT", g.inbound+"/aliases/"+uuid, "application/json", `{"data":{"classifiers":["vip"]}}`, basic); status != 404 {
		t.Fatalf("classifiers of a deleted alias: %d %s", status, body)
	}
	g.stop(t)

	logPath := filepath.Join(data, "audit.log")
	lines := auditLines(t, logPath)
	for _, want := range []map[string]any{
		{"event": "client_created", "actor": "cli", "client": api.ID},
		{"event": "client_created", "actor": "cli", "client": out.ID},
		{"event": "client_created", "actor": "cli", "client": pci.ID},
		{"event": "gateway_started", "actor": "system"},
		{"event": "routes_reloaded", "actor": "system", "routes": 2.0, "outcome": "ok"},
		// Every reveal and delete names the account it acted for (the
		// clients' acct_1, the vault's default account since their first).
		{"event": "reveal", "actor": "client:" + api.ID, "route": "internal:aliases", "count": 1.0, "found": 1.0, "account": "acct_1"},
		{"event": "reveal", "actor": "route:shop", "route": "shop", "count": 1.0, "found": 1.0, "outcome": "ok", "account": "acct_1"},
		{"event": "reveal", "actor": "client:" + out.ID, "route": "psp", "client": out.ID, "count": 1.0, "found": 1.0, "outcome": "ok", "account": "acct_1"},
		{"event": "reveal", "actor": "client:" + pci.ID, "route": "internal:cards", "client": pci.ID, "account": "acct_1"},
		{"event": "delete", "actor": "client:" + api.ID, "route": "internal:aliases", "found": 1.0, "outcome": "ok", "account": "acct_1"},
		{"event": "update", "actor": "client:" + api.ID, "route": "internal:aliases", "count": 1.0, "found": 1.0, "outcome": "ok", "account": "acct_1"},
		{"event": "update", "actor": "client:" + api.ID, "route": "internal:aliases", "count": 1.0, "found": 0.0, "outcome": "not_found", "account": "acct_1"},
		{"event": "gateway_stopped", "actor": "system"},
	} {
		if findLine(lines, want) == nil {
			t.Errorf("no audit line with %v", want)
		}
	}
	if l := lines[len(lines)-1]; l["event"] != "gateway_stopped" {
		t.Errorf("last line %v, want gateway_stopped", l)
	}

	raw, _ := os.ReadFile(logPath)
	obstest.AssertNoPAN(t, "audit log", raw)
	for i, s := range []string{fpe, uuid, "4111111111111111", "5555555555554444", "4000056655665556", `"737"`, api.Secret, out.Secret, pci.Secret} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the audit log holds forbidden string %d (aliases, PANs, CVC, secrets)", i)
		}
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode: %v %v", fi.Mode(), err)
	}

	stdout, stderr, err := runCmd(t, env, "audit", "verify", "--data-dir", data)
	if err != nil || stdout != "ok, "+itoa(len(lines))+" lines\n" || stderr != "" {
		t.Fatalf("audit verify = %q %q %v", stdout, stderr, err)
	}
	// The file given as an argument, after the flags or before them.
	if stdout, _, err = runCmd(t, env, "audit", "verify", logPath, "--data-dir", data); err != nil || !strings.HasPrefix(stdout, "ok, ") {
		t.Fatalf("audit verify FILE --data-dir = %q %v", stdout, err)
	}

	// An edited line: exit 1 naming it.
	text := strings.SplitAfter(string(raw), "\n")
	text[5] = strings.Replace(text[5], `"outcome":"ok"`, `"outcome":"not_found"`, 1)
	edited := filepath.Join(dir, "edited.log")
	os.WriteFile(edited, []byte(strings.Join(text, "")), 0o600)
	_, _, err = runCmd(t, env, "audit", "verify", "--data-dir", data, edited)
	var buf bytes.Buffer
	if err == nil || exitCode(err, &buf) != 1 || !strings.Contains(err.Error(), "line 6: edited") {
		t.Fatalf("verify of an edited log = %v", err)
	}
	// Without the master key it cannot verify.
	if _, _, err := runCmd(t, env, "audit", "verify", "--data-dir", t.TempDir(), logPath); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("verify without the master key = %v", err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestGatewayRefusesToStartWithoutItsAuditLog: fail closed from the start.
func TestGatewayRefusesToStartWithoutItsAuditLog(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	env := testEnv(map[string]string{"ALIASGATE_AUDIT_PATH": "/dev/full"})
	_, _, err := runCmd(t, env, "serve", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("serve with an unwritable audit log = %v", err)
	}
}

func TestAuditLogCanBeTurnedOff(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_AUDIT_ENABLED": "false"})
	createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	g := startGateway(t, env, "--data-dir", data)
	g.stop(t)
	if _, err := os.Stat(filepath.Join(data, "audit.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("audit.log with audit.enabled false: %v", err)
	}
	if !strings.Contains(g.stderr.String(), "audit log disabled") {
		t.Fatal("no warning that the audit log is off")
	}
}

// TestAuditVerifyRotatedSet: the gateway's writer rotates as audit.max_size
// says, and `audit verify` checks the rotated set by default: ok across
// files, a missing middle file named, a note when the oldest files were
// removed, and --single for one file.
func TestAuditVerifyRotatedSet(t *testing.T) {
	data := t.TempDir()
	master := bytes.Repeat([]byte{7}, 32)
	env := testEnv(map[string]string{vault.MasterKeyEnv: base64.StdEncoding.EncodeToString(master)})
	cfg := config.Default()
	cfg.DataDir = data
	cfg.Audit.MaxSize = 1 << 10 // below what Validate allows, to rotate every few lines
	w, err := openAuditLog(cfg, master, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := w.Log(context.Background(), audit.Event{Event: audit.EventClientCreated, Actor: audit.ActorCLI, Client: "CLT" + itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Log(context.Background(), audit.Event{Event: audit.EventGatewayStopped, Actor: audit.ActorSystem}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rotated, _ := filepath.Glob(filepath.Join(data, "audit.log.*"))
	sort.Strings(rotated)
	if len(rotated) < 3 {
		t.Fatalf("rotated files %v, want 3 or more", rotated)
	}
	lines := 31 + 2*len(rotated)
	files := len(rotated) + 1

	stdout, stderr, err := runCmd(t, env, "audit", "verify", "--data-dir", data)
	if err != nil || stdout != "ok, "+itoa(lines)+" lines in "+itoa(files)+" files\n" || stderr != "" {
		t.Fatalf("audit verify of a rotated set = %q %q %v", stdout, stderr, err)
	}
	// One file alone: a rotated one starts after seq 1.
	stdout, stderr, err = runCmd(t, env, "audit", "verify", "--data-dir", data, "--single", rotated[1])
	if err != nil || !strings.HasPrefix(stdout, "ok, ") || !strings.Contains(stderr, "starts at seq") {
		t.Fatalf("audit verify --single of a rotated file = %q %q %v", stdout, stderr, err)
	}
	// A missing middle file: exit 1, naming the file after the gap.
	os.Rename(rotated[1], filepath.Join(t.TempDir(), "moved"))
	_, _, err = runCmd(t, env, "audit", "verify", "--data-dir", data)
	var buf bytes.Buffer
	if err == nil || exitCode(err, &buf) != 1 || !strings.Contains(err.Error(), filepath.Base(rotated[2])+": line 1: missing_file") {
		t.Fatalf("verify with a missing middle file = %v", err)
	}
	// The oldest files removed: ok, with a note.
	os.Remove(rotated[0])
	stdout, stderr, err = runCmd(t, env, "audit", "verify", "--data-dir", data)
	if err != nil || !strings.HasPrefix(stdout, "ok, ") || !strings.Contains(stderr, "starts at seq") {
		t.Fatalf("verify without the oldest files = %q %q %v", stdout, stderr, err)
	}
	if out, _, err := runCmd(t, env, "audit", "verify", "--help"); err != nil || !strings.Contains(out, "--single") {
		t.Fatalf("audit verify --help = %q %v", out, err)
	}
}
