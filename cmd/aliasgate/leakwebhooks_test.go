package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookDeliveryLogHoldsNoCardNumber: regression cover (passes
// before). An endpoint whose URL holds a card number, and a receiver that
// answers a redirect to a card-number host, an error quoting a card number
// in several spellings and the CVC, and a UTF-16 body: neither the
// gateway's log, the delivery log (admin API and CLI, live and offline),
// /metrics, /readyz nor the data dir hold it in any spelling.
func TestWebhookDeliveryLogHoldsNoCardNumber(t *testing.T) {
	P := huntPAN
	var n atomic.Int32
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.Header().Set("Location", "https://"+P+".example/"+P)
			w.Header().Set("X-"+P, P)
			w.WriteHeader(302)
		case 1:
			w.WriteHeader(500)
			fmt.Fprintf(w, "bad card 4111_1111_1111_1111 or 4111/1111/1111/1111 or 4111:1111:1111:1111 or %s cvc=%s", P, huntCVC)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-16le")
			w.WriteHeader(400)
			w.Write([]byte("4\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x00"))
		}
	}))
	defer recv.Close()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "aliasgate.yaml")
	ca := filepath.Join(t.TempDir(), "hooks-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw}), 0o600)
	yaml := "data_dir: " + dir + "\nlog: {level: debug}\nadmin: {token: admin-token-0123456789}\nwebhooks:\n  allow_private_destinations: true\n  ca_bundle: " + ca + "\n" +
		"  endpoints:\n    - {id: shop, account: acct_1, url: \"" + recv.URL + "/hook/" + P + "?card=" + P + "\", secret_env: SHOP_HOOK_SECRET, events: [\"card.*\"]}\n"
	os.WriteFile(cfg, []byte(yaml), 0o600)
	env := testEnv(map[string]string{"SHOP_HOOK_SECRET": "0123456789abcdef0123456789abcdef"})
	plain := createClient(t, env, dir, "--name", "shop", "--account", "acct_1", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--config", cfg)
	tok := limToken(t, g.inbound, plain)
	st, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json", `{"data":{"type":"cards","attributes":{"pan":"5555555555554444","exp_month":5,"exp_year":2030}}}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	_ = b
	if st != 201 {
		t.Fatalf("create: %d", st)
	}
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer admin-token-0123456789") }
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, b := call(t, "GET", g.admin+"/admin/webhooks/deliveries", "", "", auth)
		if strings.Contains(string(b), `"http_status"`) || strings.Contains(string(b), `"status":500`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt recorded: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var outs []string
	for _, p := range []string{"/admin/webhooks/deliveries", "/admin/webhooks/deliveries?state=failed", "/admin/clients", "/metrics", "/readyz"} {
		_, b := call(t, "GET", g.admin+p, "", "", auth)
		outs = append(outs, p+": "+string(b))
	}
	out, errs, _ := runCmd(t, env, "webhooks", "deliveries", "--admin", g.admin)
	outs = append(outs, "cli: "+out+errs)
	g.stop(t)
	out, errs, _ = runCmd(t, env, "clients", "list", "--data-dir", dir)
	outs = append(outs, "clients list: "+out+errs)
	out, errs, _ = runCmd(t, env, "webhooks", "deliveries", "--config", cfg)
	outs = append(outs, "deliveries offline: "+out+errs)
	if n.Load() == 0 {
		t.Fatal("the receiver was never called")
	}
	for _, o := range outs {
		if s := huntSpellings([]byte(o)); len(s) > 0 {
			t.Errorf("%v: %.1500s", s, o)
		}
	}
	for i, l := range strings.Split(g.stderr.String(), "\n") {
		if s := huntSpellings([]byte(l)); len(s) > 0 {
			t.Errorf("log %d %v: %s", i, s, l)
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if strings.HasSuffix(p, ".db") {
			for _, sp := range []string{P, "4111_1111", "4111/1111", "4111:1111", "4\x001\x001\x001\x00"} {
				if strings.Contains(string(b), sp) {
					t.Errorf("%s holds %q", p, sp)
				}
			}
			return nil
		}
		for i, line := range strings.Split(string(b), "\n") {
			if s := huntSpellings([]byte(line)); len(s) > 0 {
				t.Errorf("%s:%d %v: %s", p, i, s, line)
			}
		}
		return nil
	})
}
