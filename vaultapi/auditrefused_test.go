package vaultapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// recAuditor records the vault's audit events; it fails while fail is set.
type recAuditor struct {
	mu     sync.Mutex
	events []vault.AuditEvent
	fail   bool
}

func (a *recAuditor) AuditVault(_ context.Context, e vault.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("disk full")
	}
	a.events = append(a.events, e)
	return nil
}

func (a *recAuditor) take() []vault.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	ev := a.events
	a.events = nil
	return ev
}

func (a *recAuditor) setFail(b bool) { a.mu.Lock(); a.fail = b; a.mu.Unlock() }

// setupAudited is setup with the vault's Auditor.
func setupAudited(t *testing.T) (*env, *recAuditor) {
	t.Helper()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	au := &recAuditor{}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Auditor: au})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	log := obstest.Logger(t)
	as := auth.NewService(p, key, auth.Options{Logger: log})
	c, _, err := as.CreateClient(context.Background(), auth.ClientSpec{Name: "t", Account: "acct",
		Scopes: []string{auth.ScopeAliasesWrite, auth.ScopeAliasesReveal}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := as.IssueToken(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{both: tok, writer: tok, reveal: tok}
	e.srv = httptest.NewServer(vaultapi.New(svc, as, log))
	t.Cleanup(e.srv.Close)
	return e, au
}

// TestRefusedCreatesFromAliasesAreAudited: a create naming an alias looks
// the alias up and decrypts its value, and a refusal tells what it found:
// 400 alias_not_found for an alias that does not exist, 400 invalid_format
// for one whose value does not fit the format (FPE_SSN_T_FOUR of a card
// number: not an SSN). Only a create that answered the value was audited,
// so a client could tell existing aliases from absent ones, and learn
// which formats their values do not fit, without an audit line, where the
// same question through GET /aliases/{alias} is audited (not_found). The
// refused attempt is audited as a reveal that returned nothing
// (not_found, or refused with the number found), and when the audit log
// cannot record it the answer is 503, not the refusal.
func TestRefusedCreatesFromAliasesAreAudited(t *testing.T) {
	e, au := setupAudited(t)
	alias := createdAlias(t, e.do(t, "POST", "/aliases", e.both, "application/json", `{"data":[{"value":"`+card+`"}]}`).body)
	au.take()

	cases := []struct {
		name, body, code string
		found            int
		outcome          string
	}{
		{"absent alias", `{"data":[{"alias":"tok_sandbox_absent","format":"UUID"}]}`, "alias_not_found", 0, vault.OutcomeNotFound},
		{"format the value does not fit", `{"data":[{"alias":"` + alias + `","format":"FPE_SSN_T_FOUR"}]}`, "invalid_format", 1, vault.OutcomeRefused},
	}
	for _, c := range cases {
		r := e.do(t, "POST", "/aliases", e.both, "application/json", c.body)
		if r.status != 400 || !strings.Contains(string(r.body), `"code":"`+c.code+`"`) {
			t.Fatalf("%s: %d %s, want 400 %s", c.name, r.status, r.body, c.code)
		}
		ev := au.take()
		if len(ev) != 1 || ev[0].Op != vault.AuditReveal || ev[0].Found != c.found || ev[0].Outcome != c.outcome ||
			len(ev[0].Aliases) != 1 || ev[0].Actor.Client == "" || ev[0].Actor.Purpose != vaultapi.PurposeCreate {
			t.Errorf("%s: audit events %+v, want one reveal, found %d, outcome %s, by the client", c.name, ev, c.found, c.outcome)
		}
		au.setFail(true)
		if r := e.do(t, "POST", "/aliases", e.both, "application/json", c.body); r.status != 503 || strings.Contains(string(r.body), c.code) {
			t.Errorf("%s with the audit log failing: %d %s, want 503", c.name, r.status, r.body)
		}
		au.setFail(false)
	}
}
