package proxy

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// auditedVault is a test vault whose reveals go to auditor.
func auditedVault(t *testing.T, auditor vault.Auditor) *testVault {
	t.Helper()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", Auditor: auditor})
	if err != nil {
		t.Fatal(err)
	}
	return &testVault{svc: svc, persistent: p, tok: vaulttok.New(svc)}
}

type failingAuditor struct{}

func (failingAuditor) AuditVault(context.Context, vault.AuditEvent) error {
	return errors.New("audit: write audit.log: no space left on device")
}

// TestInboundRevealIsAudited: a response reveal writes an audit line whose
// actor is the route, and the leak guard's check is marked as such.
func TestInboundRevealIsAudited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	keys, _ := audit.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	w, err := audit.Open(path, keys, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tv := auditedVault(t, w)
	toks, err := tv.svc.Redact(context.Background(), []vault.RedactRequest{{Value: testPAN, Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	alias := toks[0].Alias
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"card":{"number":"` + alias + `"},"echo":"` + alias + `"}`))
	})
	g := newGateway(t, parseRoutes(t, `routes:
  - id: reveal
    direction: inbound
    host: "*"
    path_prefix: /reveal
    upstream: {{UP}}
    filters:
      - id: card-reveal
        phase: response
        operation: reveal
        targets: [{json: card.number}]
  - id: guarded
    direction: inbound
    host: "*"
    path_prefix: /guarded
    upstream: {{UP}}
    leak_guard: log
`, up.URL), tv, gwOptions{logger: obstest.Logger(t)})

	resp, body := g.do(t, "GET", "/reveal/x", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), testPAN) {
		t.Fatalf("reveal: %d", resp.StatusCode)
	}
	if resp, _ = g.do(t, "GET", "/guarded/x", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("guarded: %d", resp.StatusCode)
	}
	w.Close()
	log, _ := os.ReadFile(path)
	if _, err := audit.VerifyFile(path, keys); err != nil {
		t.Fatalf("audit log does not verify: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	// The reveal only: the leak guard asks the vault which numbers are
	// aliases (Known), which decrypts nothing and writes no audit line.
	if len(lines) != 1 ||
		!strings.Contains(lines[0], `"event":"reveal","actor":"route:reveal","route":"reveal","account":"default","count":1,"found":1,"aliases":["`+keys.AliasHash(alias)+`"]`) {
		t.Fatalf("audit lines:\n%s", log)
	}
	if bytes.Contains(log, []byte(alias)) || bytes.Contains(log, []byte(testPAN)) {
		t.Fatal("the audit log holds the alias or the card number")
	}
}

// TestRevealRefusedWhenTheAuditFails: a reveal whose audit line cannot be
// written never hands out the value: the response filter fails, and the
// response is delivered with the alias where it was (a failed response
// filter never makes the delivered request an error), naming the filter.
func TestRevealRefusedWhenTheAuditFails(t *testing.T) {
	tv := auditedVault(t, failingAuditor{})
	toks, err := tv.svc.Redact(context.Background(), []vault.RedactRequest{{Value: testPAN}})
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"card":{"number":"` + toks[0].Alias + `"}}`))
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{logger: obstest.Logger(t)})
	resp, body := g.do(t, "GET", "/reveal/x", "", nil, nil)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(testPAN)) || !bytes.Contains(body, []byte(toks[0].Alias)) ||
		resp.Header.Get(FilterFailedHeader) == "" {
		t.Fatalf("reveal with a failing audit log: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}
