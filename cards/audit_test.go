package cards

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
)

// switchAuditor records reveal events, or refuses them when fail is set.
type switchAuditor struct {
	mu     sync.Mutex
	events []vault.AuditEvent
	fail   bool
}

func (a *switchAuditor) AuditVault(_ context.Context, e vault.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("audit: write audit.log: no space left on device")
	}
	a.events = append(a.events, e)
	return nil
}

func auditedSetup(t *testing.T, a vault.Auditor) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc := newTestVault(t, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: clk.Now, Auditor: a})
	st := newMemStore()
	h, err := New(st, svc, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: bytes.Repeat([]byte{9}, 32),
		Now: clk.Now, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, vault: svc, clk: clk, store: st}
}

// TestPCIReadIsAuditedAndFailsClosed: a PCI client's card read reveals the
// PAN through the vault with the client as the actor; when the audit log
// cannot record it the read is refused with 503 and no card data.
func TestPCIReadIsAuditedAndFailsClosed(t *testing.T) {
	a := &switchAuditor{}
	e := auditedSetup(t, a)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	a.mu.Lock()
	a.events = nil
	a.mu.Unlock()
	r := e.do("GET", "/cards/"+id, "", pci, "X-Test-Client: ACHpciclient")
	if r.code != 200 || !bytes.Contains(r.body, []byte("4111111111111111")) {
		t.Fatalf("PCI read: %d", r.code)
	}
	a.mu.Lock()
	ev := a.events
	a.mu.Unlock()
	if len(ev) != 1 || ev[0].Op != vault.AuditReveal || ev[0].Actor.Client != "ACHpciclient" || len(ev[0].Aliases) != 2 || ev[0].Found != 2 {
		t.Fatalf("audit events = %+v", ev)
	}
	a.mu.Lock()
	a.fail = true
	a.mu.Unlock()
	r = e.do("GET", "/cards/"+id, "", pci)
	if r.code != http.StatusServiceUnavailable || bytes.Contains(r.body, []byte("4111111111111111")) || bytes.Contains(r.body, []byte(`"737"`)) {
		t.Fatalf("PCI read with a failing audit log: %d %s", r.code, r.body)
	}
}
