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
