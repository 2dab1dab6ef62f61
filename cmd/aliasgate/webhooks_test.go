package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/webhooks"
)

const hookSecret = "hook-secret-0123456789abcdef0123456789"

// TestServeDeliversWebhooks: a delivery written to the vault's outbox
// (as the cards API's events will be) is delivered, signed, by the
// gateway's dispatcher to an https receiver on 127.0.0.1 whose certificate
// only webhooks.ca_bundle trusts; the operator reads it
// through the admin endpoint with the admin token; no secret is logged.
func TestServeDeliversWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhooks.Verify(hookSecret, r.Header.Get(webhooks.SignatureHeader), body, 0, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	defer recv.Close()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "aliasgate.yaml")
	// The receiver's certificate is trusted through webhooks.ca_bundle only.
	ca := filepath.Join(t.TempDir(), "hooks-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "data_dir: " + dir + "\nadmin: {token: admin-token-0123456789}\nwebhooks:\n  allow_private_destinations: true\n  ca_bundle: " + ca + "\n" +
		"  endpoints:\n    - {id: shop, account: acct_1, url: \"" + recv.URL + "/hook\", secret_env: SHOP_HOOK_SECRET, events: [\"card.*\"]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"SHOP_HOOK_SECRET": hookSecret})
	createClient(t, env, dir, "--name", "shop", "--account", "acct_1", "--scopes", "cards:write")

	// An event recorded in the vault's outbox while no gateway runs.
	s, err := boltstore.Open(filepath.Join(dir, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := webhooks.New(s, webhooks.Options{Endpoints: []webhooks.Endpoint{{ID: "shop", Account: "acct_1",
		URL: recv.URL + "/hook", Secrets: [][]byte{[]byte(hookSecret)}, Events: []string{"card.*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), "acct_1", "card.deleted", []byte(`{"card_id":"CRDx","last4":"4242","source":"api"}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	g := startGateway(t, env, "--config", cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing delivered:\n%s", g.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(got[0], `"type":"card.deleted"`) || !strings.Contains(got[0], `"account_id":"acct_1"`) {
		t.Fatalf("body %s", got[0])
	}
	// The operator's view: token required.
	if status, _ := call(t, "GET", g.admin+"/admin/webhooks/deliveries", "", "", nil); status != 401 {
		t.Fatalf("without the token: %d", status)
	}
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer admin-token-0123456789") }
	var list struct{ Data []webhooks.Delivery }
	for time.Now().Before(deadline) {
		status, body := call(t, "GET", g.admin+"/admin/webhooks/deliveries?state=delivered", "", "", auth)
		if status != 200 || json.Unmarshal(body, &list) != nil {
			t.Fatalf("list: %d %s", status, body)
		}
		if len(list.Data) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(list.Data) != 1 || list.Data[0].Attempts[0].Status != 200 {
		t.Fatalf("delivery log %+v", list.Data)
	}
	status, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if status != 200 || !strings.Contains(string(body), `aliasgate_webhook_deliveries_total{result="delivered"} 1`) ||
		!strings.Contains(string(body), "aliasgate_webhook_outbox_backlog 0") {
		t.Fatalf("metrics lack the webhook series")
	}
	// The CLI: through the running gateway's admin listener ...
	out, _, err := runCmd(t, env, "webhooks", "deliveries", "--config", cfg, "--state", "delivered", "--admin", g.admin)
	if err != nil || !strings.Contains(out, list.Data[0].ID) {
		t.Fatalf("webhooks deliveries through the admin listener: %v\n%s", err, out)
	}
	g.stop(t)
	if strings.Contains(g.stderr.String(), hookSecret) {
		t.Fatal("the signing secret is in the log")
	}
	// ... and on the stopped gateway's vault directly.
	out, _, err = runCmd(t, env, "webhooks", "deliveries", "--config", cfg, "--account", "acct_1")
	var direct struct{ Data []webhooks.Delivery }
	if err != nil || json.Unmarshal([]byte(out), &direct) != nil || len(direct.Data) != 1 || direct.Data[0].State != webhooks.StateDelivered {
		t.Fatalf("webhooks deliveries: %v\n%s", err, out)
	}
	// One JSON line, as through the admin listener (and as every other
	// command prints its document): it was indented when read directly.
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("webhooks deliveries read directly is not one line:\n%s", out)
	}
	out, _, err = runCmd(t, env, "webhooks", "redeliver", list.Data[0].ID, "--config", cfg) // the README's order
	if err != nil || !strings.Contains(out, `"state":"pending"`) {
		t.Fatalf("webhooks redeliver: %v\n%s", err, out)
	}
	if _, _, err = runCmd(t, env, "webhooks", "redeliver", "--config", cfg, list.Data[0].ID); err == nil || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("redeliver of a pending delivery: %v", err)
	}
	if strings.Contains(out, hookSecret) {
		t.Fatal("the secret is printed")
	}
}

// TestServeRefusesMissingWebhookSecret: an endpoint whose secret variable
// is unset or too short fails the start with the key's name, never the
// value.
func TestServeRefusesMissingWebhookSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "aliasgate.yaml")
	yaml := "data_dir: " + dir + "\nwebhooks:\n  endpoints:\n    - {id: shop, account: acct_1, url: \"https://hooks.example.com/x\", secret_env: SHOP_HOOK_SECRET, events: [\"*\"]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ value, want string }{
		{"", "webhooks.endpoints[0].secret_env: the environment variable SHOP_HOOK_SECRET is empty or not set"},
		{"short-secret-value", "webhooks.endpoints[0]: a signing secret is shorter than 24 bytes"},
	} {
		_, stderr, err := runCmd(t, testEnv(map[string]string{"SHOP_HOOK_SECRET": c.value}), "serve", "--config", cfg)
		if err == nil || !strings.Contains(err.Error()+stderr, c.want) {
			t.Fatalf("serve = %v %s, want %q", err, stderr, c.want)
		}
		if c.value != "" && strings.Contains(err.Error()+stderr, c.value) {
			t.Fatal("the secret is in the error")
		}
	}
}

// TestServeRefusesLooseWebhookSecretFile: a secret_file readable by group
// or others fails the start, as a loose master key file does; the secret
// is not in the error.
func TestServeRefusesLooseWebhookSecretFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	secretFile := filepath.Join(t.TempDir(), "shop.secret")
	const secret = "whsec-loose-0123456789abcdef0123456789"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secretFile, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "aliasgate.yaml")
	yaml := "data_dir: " + dir + "\nwebhooks:\n  endpoints:\n    - {id: shop, account: acct_1, url: \"https://hooks.example.com/x\", secret_file: " +
		secretFile + ", events: [\"*\"]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCmd(t, testEnv(nil), "serve", "--config", cfg)
	want := "webhooks.endpoints[0].secret_file: " + secretFile + " is readable by group or others"
	if err == nil || !strings.Contains(err.Error()+stderr, want) || strings.Contains(err.Error()+stderr, secret) {
		t.Fatalf("serve = %v %s, want %q", err, stderr, want)
	}
}

// TestDispatcherOwnerNameIsNoCardNumber: the dispatcher's name (logged,
// and in every attempt of the delivery log) never reads as a card
// number, whatever digits the host name ends with.
func TestDispatcherOwnerNameIsNoCardNumber(t *testing.T) {
	for _, host := range []string{"", "vm", "ip-172-31-5-10", "node-4111-1111", "db-01"} {
		seen := map[string]bool{}
		for range 5000 {
			name := ownerName(host)
			if pan.ContainsString(name) || seen[name] || !strings.HasPrefix(name, strings.TrimSuffix(host+"_", "_")) {
				t.Fatalf("host %q: owner %s (card-like %v, repeated %v)", host, pan.Mask(name), pan.ContainsString(name), seen[name])
			}
			seen[name] = true
		}
	}
}
