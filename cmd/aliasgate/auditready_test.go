package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditLogThatCannotBeWrittenIsNotReady: while the audit log cannot be
// written every reveal is refused (503, fail closed), so a gateway of a
// shared (PostgreSQL) vault must say it is not ready — a load balancer
// then sends the reveals to a gateway that can record them — with a
// reason an operator can act on; and ready again once the log takes a
// line, without a reveal having to come first (a load balancer sends none
// to a gateway that is not ready). Before the fix /readyz answered 200
// throughout. A bbolt vault's only gateway stays ready (no other gateway to
// move to; its redactions need no audit line), as its readiness does for a
// disk that takes no writes.
func TestAuditLogThatCannotBeWrittenIsNotReady(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip("no", os.DevNull)
	}
	for _, store := range []string{"postgres", "bolt"} {
		t.Run(store, func(t *testing.T) {
			extra := map[string]string{"ALIASGATE_AUDIT_FSYNC_INTERVAL": "10s"}
			if store == "postgres" {
				extra["ALIASGATE_VAULT_STORE"] = "postgres"
				extra["ALIASGATE_VAULT_POSTGRES_URL"] = testPostgresURL(t)
			}
			env := testEnv(extra)
			data := filepath.Join(t.TempDir(), "data")
			api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
			g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
			basic := func(r *http.Request) { r.SetBasicAuth(api.ID, api.Secret) }
			redact := func() (int, string) {
				status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"4111111111111111"}]}`, basic)
				var created struct {
					Data []struct{ Aliases []struct{ Alias string } }
				}
				if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
					return status, string(body)
				}
				return status, created.Data[0].Aliases[0].Alias
			}
			status, alias := redact()
			if status != 201 {
				t.Fatalf("create: %d %s", status, alias)
			}
			ready := func() (int, map[string]string) {
				status, body := call(t, "GET", g.admin+"/readyz", "", "", nil)
				var doc map[string]string
				json.Unmarshal(body, &doc)
				return status, doc
			}
			if status, doc := ready(); status != 200 {
				t.Fatalf("readyz before: %d %v", status, doc)
			}

			// The log becomes unwritable: a link to /dev/null renamed over
			// it (the writer appends to regular files only).
			logPath := filepath.Join(data, "audit.log")
			link := filepath.Join(data, "audit.link")
			if err := os.Symlink(os.DevNull, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(link, logPath); err != nil {
				t.Fatal(err)
			}
			if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basic); status != 503 {
				t.Fatalf("reveal with the audit log unwritable: %d %s, want 503", status, body)
			}
			status, doc := ready()
			if store == "bolt" {
				if status != 200 {
					t.Fatalf("readyz of a bbolt vault with the audit log unwritable: %d %v, want 200", status, doc)
				}
				if status, body := redact(); status != 201 {
					t.Fatalf("redaction with the audit log unwritable: %d %s", status, body)
				}
				return
			}
			if status != 503 || !strings.Contains(doc["status"], "audit log") || !strings.Contains(doc["reason"], "reveals are refused") ||
				strings.Contains(doc["reason"], data) {
				t.Fatalf("readyz with the audit log unwritable: %d %v, want 503 naming the audit log (not its path)", status, doc)
			}
			// Not ready stays not ready while it cannot be written.
			if status, doc := ready(); status != 503 {
				t.Fatalf("readyz again with the audit log unwritable: %d %v", status, doc)
			}

			// The operator removes the link: the next readiness check
			// finds the log writable (it appends an audit_resumed line),
			// with no reveal first.
			if err := os.Remove(logPath); err != nil {
				t.Fatal(err)
			}
			if status, doc := ready(); status != 200 {
				t.Fatalf("readyz after the audit log is writable again: %d %v", status, doc)
			}
			b, err := os.ReadFile(logPath)
			if err != nil || !strings.Contains(string(b), `"event":"audit_resumed"`) {
				t.Fatalf("audit.log after recovery (%v):\n%s", err, b)
			}
			if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", basic); status != 200 {
				t.Fatalf("reveal after the audit log is writable again: %d %s", status, body)
			}
		})
	}
}
