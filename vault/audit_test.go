package vault_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// recordingAuditor keeps the events; fail makes it refuse them.
type recordingAuditor struct {
	mu     sync.Mutex
	events []vault.AuditEvent
	fail   error
}

func (a *recordingAuditor) AuditVault(_ context.Context, e vault.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	e.Aliases = slices.Clone(e.Aliases)
	a.events = append(a.events, e)
	return nil
}

func (a *recordingAuditor) take() []vault.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.events
	a.events = nil
	return out
}

func auditedFixture(t *testing.T) (*fixture, *recordingAuditor) {
	t.Helper()
	f := newFixture(t)
	a := &recordingAuditor{}
	kr, err := vault.OpenKeyring(context.Background(), f.persistent, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = vault.New(f.persistent, f.volatile, kr, vault.Options{Env: "test", Now: f.clk.Now, Auditor: a})
	if err != nil {
		t.Fatal(err)
	}
	return f, a
}

func TestRevealDescribeDeleteAndUpdateAreAudited(t *testing.T) {
	f, a := auditedFixture(t)
	ctx := vault.WithRoute(vault.WithClient(context.Background(), "CLTone"), "internal:aliases")
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}})
	if err != nil {
		t.Fatal(err)
	}
	alias := toks[0].Alias
	if ev := a.take(); len(ev) != 0 {
		t.Fatalf("Redact audited %v", ev)
	}
	if _, err := f.svc.Reveal(ctx, []string{alias, "tok_test_unknown"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Describe(ctx, []string{"tok_test_unknown"}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.UpdateClassifiers(ctx, alias, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, alias); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, alias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal(err)
	}
	if err := f.svc.UpdateClassifiers(ctx, alias, []string{"vip"}); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal(err)
	}
	want := []struct {
		op      string
		n       int
		found   int
		outcome string
	}{
		{vault.AuditReveal, 2, 1, vault.OutcomeOK},
		{vault.AuditReveal, 1, 0, vault.OutcomeNotFound},
		{vault.AuditUpdate, 1, 1, vault.OutcomeOK},
		{vault.AuditDelete, 1, 1, vault.OutcomeOK},
		{vault.AuditDelete, 1, 0, vault.OutcomeNotFound},
		{vault.AuditUpdate, 1, 0, vault.OutcomeNotFound},
	}
	got := a.take()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Op != w.op || len(e.Aliases) != w.n || e.Found != w.found || e.Outcome != w.outcome ||
			e.Actor != (vault.Actor{Client: "CLTone", Route: "internal:aliases", Account: vault.DefaultAccountName}) {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	if got[0].Aliases[0] != alias {
		t.Errorf("the auditor did not get the alias to hash")
	}
}

// TestRevealFailsClosedWhenTheAuditFails: no value leaves the vault
// without its audit line; the error is ErrUnavailable (503 upstream).
func TestRevealFailsClosedWhenTheAuditFails(t *testing.T) {
	f, a := auditedFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}})
	if err != nil {
		t.Fatal(err)
	}
	a.fail = errors.New("audit: write audit.log: no space left on device")
	got, err := f.svc.Reveal(ctx, []string{toks[0].Alias})
	if got != nil || !errors.Is(err, vault.ErrAuditUnavailable) || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Reveal = %v, %v; want nothing and ErrAuditUnavailable", got, err)
	}
	if strings.Contains(err.Error(), card) || strings.Contains(err.Error(), toks[0].Alias) {
		t.Fatalf("error %q names the value or alias", err)
	}
	if es, err := f.svc.Describe(ctx, []string{toks[0].Alias}); es != nil || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("Describe = %v, %v", es, err)
	}
	if err := f.svc.UpdateClassifiers(ctx, toks[0].Alias, []string{"vip"}); !errors.Is(err, vault.ErrAuditUnavailable) {
		t.Fatalf("UpdateClassifiers = %v", err)
	}
	if err := f.svc.Delete(ctx, toks[0].Alias); !errors.Is(err, vault.ErrAuditUnavailable) {
		t.Fatalf("Delete = %v", err)
	}
}

func TestStoreFailureIsAuditedAsError(t *testing.T) {
	f, a := auditedFixture(t)
	f.volatile.Close()
	if _, err := f.svc.Reveal(context.Background(), []string{"tok_test_x"}); err == nil {
		t.Fatal("Reveal on a closed store succeeded")
	}
	if ev := a.take(); len(ev) != 1 || ev[0].Outcome != vault.OutcomeError || ev[0].Actor != (vault.Actor{Account: vault.DefaultAccountName}) {
		t.Fatalf("events = %+v", ev)
	}
}

func TestActorHelpersKeepOtherFields(t *testing.T) {
	ctx := vault.WithPurpose(vault.WithClient(vault.WithRoute(context.Background(), "r1"), "c1"), "create")
	if got := vault.ActorFrom(ctx); got != (vault.Actor{Client: "c1", Route: "r1", Purpose: "create"}) {
		t.Fatalf("ActorFrom = %+v", got)
	}
	if got := vault.ActorFrom(context.Background()); got != (vault.Actor{}) {
		t.Fatalf("ActorFrom(empty) = %+v", got)
	}
}
