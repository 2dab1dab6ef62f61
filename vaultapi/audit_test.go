package vaultapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// actorVault records the vault actor of each call, and fails creates,
// reveals and deletes with fail when set.
type actorVault struct {
	vaultapi.Vault
	mu     sync.Mutex
	actors []vault.Actor
	fail   error
}

func (a *actorVault) seen(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actors = append(a.actors, vault.ActorFrom(ctx))
	return a.fail
}

func (a *actorVault) Describe(ctx context.Context, aliases []string) ([]vault.Entry, error) {
	if err := a.seen(ctx); err != nil {
		return nil, err
	}
	return a.Vault.Describe(ctx, aliases)
}

// Redact: a create reveals nothing it was not sent (the vault audits only
// the values of items naming an existing alias), but the vault still sees
// its client.
func (a *actorVault) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	if err := a.seen(ctx); err != nil {
		return nil, err
	}
	return a.Vault.Redact(ctx, reqs)
}

func (a *actorVault) Delete(ctx context.Context, alias string) error {
	if err := a.seen(ctx); err != nil {
		return err
	}
	return a.Vault.Delete(ctx, alias)
}

// TestTheClientIsTheActorOfReveals: the vault (and so the audit log) sees
// the authenticated client of each create, reveal and delete.
func TestTheClientIsTheActorOfReveals(t *testing.T) {
	av := &actorVault{}
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { av.Vault = v; return av })
	r := e.do(t, "POST", "/aliases", e.both, "application/json", `{"data":[{"value":"`+card+`"}]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	alias := createdAlias(t, r.body)
	if r := e.do(t, "GET", "/aliases/"+alias, e.reveal, "", ""); r.status != 200 {
		t.Fatalf("reveal: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/aliases?q="+alias, e.reveal, "", ""); r.status != 200 {
		t.Fatalf("reveal many: %d %s", r.status, r.body)
	}
	if r := e.do(t, "DELETE", "/aliases/"+alias, e.writer, "", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	av.mu.Lock()
	defer av.mu.Unlock()
	if len(av.actors) != 4 {
		t.Fatalf("%d vault calls seen, want 4", len(av.actors))
	}
	for i, a := range av.actors {
		if a.Client == "" || a.Route != "" {
			t.Errorf("call %d: actor %+v, want the client", i, a)
		}
	}
}

// TestAuditFailureIs503: a reveal the audit log cannot record is refused
// with 503, and the value is not in the answer.
func TestAuditFailureIs503(t *testing.T) {
	av := &actorVault{}
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { av.Vault = v; return av })
	r := e.do(t, "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"`+card+`"}]}`)
	alias := createdAlias(t, r.body)
	av.mu.Lock()
	av.fail = fmt.Errorf("vault: reveal: %w", vault.ErrAuditUnavailable)
	av.mu.Unlock()
	r = e.do(t, "GET", "/aliases/"+alias, e.reveal, "", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || containsCard(r.body) {
		t.Fatalf("reveal with a failing audit log: %d %s", r.status, r.body)
	}
	if r = e.do(t, "DELETE", "/aliases/"+alias, e.writer, "", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("delete with a failing audit log: %d %s", r.status, r.body)
	}
}

func createdAlias(t *testing.T, body []byte) string {
	t.Helper()
	var doc struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Data) != 1 || len(doc.Data[0].Aliases) == 0 {
		t.Fatalf("create answer %s (%v)", body, err)
	}
	return doc.Data[0].Aliases[0].Alias
}

func containsCard(b []byte) bool { return bytes.Contains(b, []byte(card)) }
