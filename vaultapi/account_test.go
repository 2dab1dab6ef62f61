package vaultapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// accountVault records the account of every call and refuses deletes as
// in use.
type accountVault struct {
	vaultapi.Vault
	mu       sync.Mutex
	accounts []string
}

func (a *accountVault) note(ctx context.Context) {
	a.mu.Lock()
	a.accounts = append(a.accounts, vault.ActorFrom(ctx).Account)
	a.mu.Unlock()
}

func (a *accountVault) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	a.note(ctx)
	return a.Vault.Redact(ctx, reqs)
}

func (a *accountVault) Describe(ctx context.Context, aliases []string) ([]vault.Entry, error) {
	a.note(ctx)
	return a.Vault.Describe(ctx, aliases)
}

func (a *accountVault) Delete(ctx context.Context, alias string) error {
	a.note(ctx)
	return vault.ErrInUse
}

// TestCallsActForTheClientsAccount: every vault call carries the client's
// account, and an alias in use answers 409 alias_in_use.
func TestCallsActForTheClientsAccount(t *testing.T) {
	av := &accountVault{}
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { av.Vault = v; return av })
	r := e.do(t, "POST", "/aliases", e.both, "application/json", `{"data":[{"value":"`+card+`"}]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r = e.do(t, "GET", "/aliases/tok_sandbox_x", e.both, "", ""); r.status != 404 {
		t.Fatalf("reveal: %d %s", r.status, r.body)
	}
	r = e.do(t, "DELETE", "/aliases/tok_sandbox_x", e.both, "", "")
	if r.status != 409 || !strings.Contains(string(r.body), `"code":"alias_in_use"`) {
		t.Fatalf("delete of an alias in use: %d %s", r.status, r.body)
	}
	av.mu.Lock()
	defer av.mu.Unlock()
	if len(av.accounts) != 3 || av.accounts[0] != "acct" || av.accounts[1] != "acct" || av.accounts[2] != "acct" {
		t.Fatalf("accounts of the vault calls: %q", av.accounts)
	}
}
