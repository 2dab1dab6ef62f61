package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/audit"
)

// TestDocsNameRealAuditEvents: where the documentation tells an operator to
// look for an audit line by its event ("`abuse_alert` audit line", "an
// `audit_rotated` line"), the event is one the gateway writes. SECURITY.md
// told operators to watch audit.log for "`client created` lines", an event
// that does not exist (the line is client_created).
func TestDocsNameRealAuditEvents(t *testing.T) {
	known := map[string]bool{}
	for _, e := range []string{audit.EventReveal, audit.EventDelete, audit.EventClientCreated, audit.EventKeyRotated,
		audit.EventKeysReencrypt, audit.EventRoutesReloaded, audit.EventGatewayStarted, audit.EventGatewayStopped,
		audit.EventAbuseAlert, audit.EventRecovered, audit.EventGap, audit.EventRotated, audit.EventContinued,
		eventClientRevoked, eventClientSecretRotated} {
		known[e] = true
	}
	re := regexp.MustCompile("`([a-z][a-z_ ]*)` (audit )?lines?\\b")
	n := 0
	for _, f := range []string{"README.md", "SECURITY.md", "config/README.md", "docs/DECISIONS.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			name := text[m[2]:m[3]]
			audited := m[4] >= 0 || strings.Contains(strings.ToLower(text[max(0, m[0]-300):m[0]]), "audit")
			if !audited {
				continue
			}
			n++
			if !known[name] {
				t.Errorf("%s: %q names an audit event the gateway never writes", f, text[m[0]:m[1]])
			}
		}
	}
	if n < 5 {
		t.Fatalf("found only %d audit line mentions: the pattern no longer matches the docs", n)
	}
}

// TestSecurityAdminTokenRowNamesEveryAdminEndpoint: SECURITY.md's key table
// says what the admin token protects and what its leak gives; every group
// of endpoints behind it (/admin/keys, /admin/clients, /admin/tsp,
// /admin/webhooks, as the admin listener mounts them) is named there. The
// row named the inspector and key rotation only, while the token also
// rotates any client's secret and hands the new one out (that client's
// scopes: reveal, clear card data), lists clients, raises network events
// and redelivers webhooks.
func TestSecurityAdminTokenRowNamesEveryAdminEndpoint(t *testing.T) {
	re := regexp.MustCompile(`"(?:[A-Z]+ )?(/admin/[a-z-]+)`)
	groups := map[string]bool{}
	for _, f := range []string{"admin/admin.go", "webhooks/dispatch/handler.go"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			groups[m[1]] = true
		}
	}
	if len(groups) < 4 {
		t.Fatalf("found only the admin endpoint groups %v", groups)
	}
	sec, err := os.ReadFile(filepath.Join("..", "..", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(sec), "\n") {
		if strings.HasPrefix(l, "| admin token |") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("SECURITY.md's key table has no admin token row")
	}
	for g := range groups {
		if !strings.Contains(row, g) {
			t.Errorf("SECURITY.md's admin token row does not name %s", g)
		}
	}
}
