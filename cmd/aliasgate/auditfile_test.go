package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"net/http"
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
