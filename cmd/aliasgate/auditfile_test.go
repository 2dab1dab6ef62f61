package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/vault"
)

// TestRevealRefusedWhenTheAuditLogIsReplacedByALinkToDevNull: a link to
// /dev/null renamed over audit.log while the gateway runs must not take
// the reveals' lines: the gateway followed the new name, wrote its lines
// into /dev/null and answered the reveals (200) until a background fsync
// failed (audit.fsync_interval later), and `audit verify` then found an
// empty current file and said ok. Now the writer appends to a regular
// file only: the reveal is refused (503) and verify names the file.
func TestRevealRefusedWhenTheAuditLogIsReplacedByALinkToDevNull(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip("no", os.DevNull)
	}
	data := filepath.Join(t.TempDir(), "data")
	// The background fsync not due during the test: what the writer does
	// before it, not the fsync's failure, is under test.
	env := testEnv(map[string]string{"ALIASGATE_AUDIT_FSYNC_INTERVAL": "10s"})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	basic := func(r *http.Request) { r.SetBasicAuth(api.ID, api.Secret) }
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"4111111111111111"}]}`, basic)
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
		t.Fatalf("create: %d %s", status, body)
	}
	alias := created.Data[0].Aliases[0].Alias
	if status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basic); status != 200 {
		t.Fatalf("reveal: %d %s", status, body)
	}

	logPath := filepath.Join(data, "audit.log")
	link := filepath.Join(data, "audit.link")
	if err := os.Symlink(os.DevNull, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, logPath); err != nil {
		t.Fatal(err)
	}
	status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basic)
	if status != 503 || strings.Contains(string(body), "4111111111111111") {
		t.Fatalf("reveal with audit.log a link to %s: %d %s, want 503", os.DevNull, status, body)
	}
	g.stop(t)
	if _, _, err := runCmd(t, env, "audit", "verify", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("audit verify with audit.log a link to %s = %v, want a refusal naming it", os.DevNull, err)
	}
}

// TestAnotherGatewaysLogPutInPlaceIsAGap: gateways of one PostgreSQL vault
// share the master key, so another gateway's audit log (further along its
// chain) renamed over this one's verifies under the same keys. The
// running gateway continued that chain as if another process had appended
// to its file: the lines it had written were gone and `audit verify` said
// ok. Now its next line is preceded by an audit_gap, and verify exits 1.
func TestAnotherGatewaysLogPutInPlaceIsAGap(t *testing.T) {
	dir := t.TempDir()
	master := bytes.Repeat([]byte{9}, 32)
	env := testEnv(map[string]string{vault.MasterKeyEnv: base64.StdEncoding.EncodeToString(master)})
	data := filepath.Join(dir, "data")
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	basic := func(r *http.Request) { r.SetBasicAuth(api.ID, api.Secret) }
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"4111111111111111"}]}`, basic)
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
		t.Fatalf("create: %d %s", status, body)
	}
	alias := created.Data[0].Aliases[0].Alias
	if status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basic); status != 200 {
		t.Fatalf("reveal: %d %s", status, body)
	}

	// The other gateway's log: the same key, further along.
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "other")
	w, err := openAuditLog(cfg, master, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := w.Log(context.Background(), audit.Event{Event: audit.EventGatewayStarted, Actor: audit.ActorSystem}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if err := os.Rename(cfg.AuditPath(), filepath.Join(data, "audit.log")); err != nil {
		t.Fatal(err)
	}
	if status, body = call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basic); status != 200 {
		t.Fatalf("reveal after the swap: %d %s", status, body)
	}
	g.stop(t)
	_, _, err = runCmd(t, env, "audit", "verify", "--data-dir", data)
	var buf bytes.Buffer
	if err == nil || exitCode(err, &buf) != 1 || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("audit verify after another gateway's log was put in place = %v, want exit 1 naming a gap", err)
	}
}
