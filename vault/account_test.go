package vault_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

func TestResolveDefaultAccountOfAFreshVaultWaitsForAClient(t *testing.T) {
	st := memstore.New(memstore.Options{SweepInterval: -1})
	defer st.Close()
	ctx := context.Background()
	none := func(context.Context) ([]string, error) { return nil, nil }
	if got, err := vault.ResolveDefaultAccount(ctx, st, "", none); err != nil || got != vault.DefaultAccountName {
		t.Fatalf("fresh vault = %q, %v", got, err)
	}
	if _, err := st.GetMeta(ctx, vault.DefaultAccountMeta); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a fresh vault with no client stored a default account (%v)", err)
	}
	first := func(context.Context) ([]string, error) { return []string{"acct_1"}, nil }
	if got, err := vault.ResolveDefaultAccount(ctx, st, "", first); err != nil || got != "acct_1" {
		t.Fatalf("after the first client = %q, %v; want its account", got, err)
	}
	if got, err := vault.ResolveDefaultAccount(ctx, st, "", none); err != nil || got != "acct_1" {
		t.Fatalf("once stored = %q, %v", got, err)
	}
}

func TestResolveDefaultAccount(t *testing.T) {
	list := func(accts ...string) func(context.Context) ([]string, error) {
		return func(context.Context) ([]string, error) { return accts, nil }
	}
	tests := []struct {
		name       string
		stored     string // meta before the call; "" for none
		configured string
		clients    []string
		want       string
		wantErr    error
	}{
		{"clients sharing one account take the old records", "", "", []string{"acct_1", "acct_1"}, "acct_1", nil},
		{"clients of several accounts: the default", "", "", []string{"acct_1", "acct_2"}, vault.DefaultAccountName, nil},
		{"configured wins on first open", "", "merchant", []string{"acct_1"}, "merchant", nil},
		{"stored is kept", "acct_1", "", []string{"acct_2"}, "acct_1", nil},
		{"configured equal to stored", "acct_1", "acct_1", nil, "acct_1", nil},
		{"configured differs from stored", "acct_1", "other", nil, "", vault.ErrDefaultAccountMismatch},
		{"invalid configured name", "", "bad name", nil, "", vault.ErrInvalidAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memstore.New(memstore.Options{SweepInterval: -1})
			defer st.Close()
			ctx := context.Background()
			if tt.stored != "" {
				st.PutMetaIfAbsent(ctx, vault.DefaultAccountMeta, []byte(tt.stored))
			}
			got, err := vault.ResolveDefaultAccount(ctx, st, tt.configured, list(tt.clients...))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
			// It is stored: the next call answers the same whatever the clients.
			again, err := vault.ResolveDefaultAccount(ctx, st, "", list("zzz"))
			if err != nil || again != tt.want {
				t.Fatalf("second call = %q, %v", again, err)
			}
		})
	}
}

// inUse says every alias in used is in use, and records what it was asked.
type inUse struct {
	used  map[string]bool
	asked []string
}

func (u *inUse) AliasInUse(_ context.Context, account, alias string, value []byte) (bool, error) {
	u.asked = append(u.asked, account+"/"+alias+"="+string(value))
	return u.used[alias], nil
}

// memVault returns a memstore and its keyring, for Services over them.
func memVault(t *testing.T) (*memstore.Store, *vault.Keyring) {
	t.Helper()
	st := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	kr, err := vault.OpenKeyring(context.Background(), st, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	return st, kr
}

func TestDeleteOfAnAliasInUseIsRefused(t *testing.T) {
	ctx := context.Background()
	st, kr := memVault(t)
	u := &inUse{used: map[string]bool{}}
	svc, err := vault.New(st, st, kr, vault.Options{Env: "test", InUse: u, DefaultAccount: "main"})
	if err != nil {
		t.Fatal(err)
	}
	ctxA := vault.WithAccount(ctx, "acct_a")
	toks, err := svc.Redact(ctxA, []vault.RedactRequest{{Value: "4111111111111111"}, {Value: "5555555555554444"}})
	if err != nil {
		t.Fatal(err)
	}
	u.used[toks[0].Alias] = true
	// Another account is not told the alias exists, nor is InUse asked.
	if err := svc.Delete(vault.WithAccount(ctx, "acct_b"), toks[0].Alias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("foreign delete = %v, want ErrNotFound", err)
	}
	if len(u.asked) != 0 {
		t.Fatalf("InUse asked about a foreign alias: %v", u.asked)
	}
	if err := svc.Delete(ctxA, toks[0].Alias); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("delete of an alias in use = %v, want ErrInUse", err)
	}
	if got, _ := svc.Reveal(ctxA, []string{toks[0].Alias}); got[0].Err != nil {
		t.Fatal("the alias in use was deleted")
	}
	if err := svc.Delete(ctxA, toks[1].Alias); err != nil {
		t.Fatalf("delete of an alias not in use: %v", err)
	}
	if want := []string{"acct_a/" + toks[0].Alias + "=4111111111111111", "acct_a/" + toks[1].Alias + "=5555555555554444"}; len(u.asked) != 2 || u.asked[0] != want[0] || u.asked[1] != want[1] {
		t.Fatalf("InUse asked %v, want %v", u.asked, want)
	}
}

// TestRecordsStoredUnderTheDefaultAccountsName: a record stored with the
// default account's name as its owner (written while the default was still
// provisional, by a client of the account that then became the default) is
// the default account's.
func TestRecordsStoredUnderTheDefaultAccountsName(t *testing.T) {
	ctx := context.Background()
	st, kr := memVault(t)
	before, err := vault.New(st, st, kr, vault.Options{Env: "test"}) // provisional default "default"
	if err != nil {
		t.Fatal(err)
	}
	toks, err := before.Redact(vault.WithAccount(ctx, "acct_1"), []vault.RedactRequest{{Value: "4111111111111111"}, {Value: "5555555555554444"}})
	if err != nil {
		t.Fatal(err)
	}
	after, err := vault.New(st, st, kr, vault.Options{Env: "test", DefaultAccount: "acct_1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []context.Context{ctx, vault.WithAccount(ctx, "acct_1")} {
		got, err := after.Reveal(c, []string{toks[0].Alias})
		if err != nil || got[0].Value != "4111111111111111" {
			t.Fatalf("the default account's record under its name: %+v, %v", got, err)
		}
	}
	if got, _ := after.Reveal(vault.WithAccount(ctx, "acct_2"), []string{toks[0].Alias}); got[0].Err == nil {
		t.Fatal("another account reached it")
	}
	if err := after.Delete(ctx, toks[1].Alias); err != nil {
		t.Fatalf("the default account deletes it: %v", err)
	}
}

// recheck is an InUseRecheck: it records AliasDeleted's calls (and
// whether the alias was gone by then) and fails them when told to.
type recheck struct {
	inUse
	svc     *vault.Service
	deleted []string
	fail    error
}

func (r *recheck) AliasDeleted(ctx context.Context, account, alias string, value []byte) error {
	out, err := r.svc.Reveal(ctx, []string{alias})
	gone := err == nil && errors.Is(out[0].Err, vault.ErrNotFound)
	r.deleted = append(r.deleted, fmt.Sprintf("%s/%s=%s gone=%v", account, alias, value, gone))
	return r.fail
}

// TestDeleteRechecksAfterTheDelete: an InUse that is an InUseRecheck is
// told after the delete (the alias gone by then) with the account, alias
// and value; not for an alias in use (nothing deleted); its error fails
// the Delete, the alias staying deleted.
func TestDeleteRechecksAfterTheDelete(t *testing.T) {
	st, kr := memVault(t)
	u := &recheck{inUse: inUse{used: map[string]bool{}}}
	svc, err := vault.New(st, st, kr, vault.Options{Env: "test", InUse: u, DefaultAccount: "main"})
	if err != nil {
		t.Fatal(err)
	}
	u.svc = svc
	ctx := vault.WithAccount(context.Background(), "acct_a")
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111"}, {Value: "5555555555554444"}, {Value: "4012888888881881"}})
	if err != nil {
		t.Fatal(err)
	}
	u.used[toks[2].Alias] = true
	if err := svc.Delete(ctx, toks[0].Alias); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, toks[2].Alias); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("delete of an alias in use = %v", err)
	}
	u.fail = errors.New("card store down")
	if err := svc.Delete(ctx, toks[1].Alias); err == nil || !strings.Contains(err.Error(), "card store down") {
		t.Fatalf("delete with a failing re-check = %v", err)
	}
	want := []string{"acct_a/" + toks[0].Alias + "=4111111111111111 gone=true", "acct_a/" + toks[1].Alias + "=5555555555554444 gone=true"}
	if !slices.Equal(u.deleted, want) {
		t.Fatalf("AliasDeleted calls %v, want %v", u.deleted, want)
	}
}

// TestDeleteManyRefusesBeforeDeletingAny: DeleteMany with an alias in use
// among others deletes none and names every such alias by index; without
// one it deletes each (skipping unknown and foreign ones) and counts them.
func TestDeleteManyRefusesBeforeDeletingAny(t *testing.T) {
	st, kr := memVault(t)
	u := &inUse{used: map[string]bool{}}
	svc, err := vault.New(st, st, kr, vault.Options{Env: "test", InUse: u, DefaultAccount: "main"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := vault.WithAccount(context.Background(), "acct_a")
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111"}, {Value: "5555555555554444"},
		{Value: "123", Storage: vault.StorageVolatile}, {Value: "4012888888881881"}})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := svc.Redact(vault.WithAccount(context.Background(), "acct_b"), []vault.RedactRequest{{Value: "4111111111111111"}})
	if err != nil {
		t.Fatal(err)
	}
	u.used[toks[1].Alias], u.used[toks[3].Alias] = true, true
	list := []string{toks[0].Alias, toks[1].Alias, toks[2].Alias, toks[3].Alias}
	n, err := svc.DeleteMany(ctx, list)
	var be *vault.BatchError
	if n != 0 || !errors.As(err, &be) || !errors.Is(err, vault.ErrInUse) || len(be.Items) != 2 || be.Items[0].Index != 1 || be.Items[1].Index != 3 {
		t.Fatalf("DeleteMany with aliases in use = %d, %v", n, err)
	}
	if got, _ := svc.Reveal(ctx, list); got[0].Err != nil || got[1].Err != nil || got[2].Err != nil || got[3].Err != nil {
		t.Fatalf("a refused DeleteMany deleted: %+v", got)
	}
	u.used[toks[1].Alias], u.used[toks[3].Alias] = false, false
	n, err = svc.DeleteMany(ctx, []string{toks[0].Alias, foreign[0].Alias, "tok_test_nope", toks[2].Alias, toks[0].Alias})
	if n != 2 || err != nil {
		t.Fatalf("DeleteMany = %d, %v; want 2 deleted", n, err)
	}
	if got, _ := svc.Reveal(vault.WithAccount(context.Background(), "acct_b"), []string{foreign[0].Alias}); got[0].Err != nil {
		t.Fatal("DeleteMany deleted another account's alias")
	}
}

// TestRouteServesItsAccountsClientsOnly: a request an inbound route hands
// to an in-process API (WithRouteAccount) serves the clients of the
// route's account only, the default account for a route naming none, and
// through a chain of routes the clients of an account that is every
// one's; a request no route handed on serves every account.
func TestRouteServesItsAccountsClientsOnly(t *testing.T) {
	ctx := context.Background()
	st, kr := memVault(t)
	svc, err := vault.New(st, st, kr, vault.Options{Env: "test", DefaultAccount: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		ctx     context.Context
		account string
		want    bool
	}{
		{"no route", ctx, "acct_b", true},
		{"no route, the default", ctx, "main", true},
		{"route of acct_a, its client", vault.WithRouteAccount(ctx, "acct_a"), "acct_a", true},
		{"route of acct_a, another's client", vault.WithRouteAccount(ctx, "acct_a"), "acct_b", false},
		{"route of acct_a, the default's client", vault.WithRouteAccount(ctx, "acct_a"), "main", false},
		{"route without account, the default's client", vault.WithRouteAccount(ctx, ""), "main", true},
		{"route without account, another's client", vault.WithRouteAccount(ctx, ""), "acct_b", false},
		{"route naming the default, its client", vault.WithRouteAccount(ctx, "main"), "main", true},
		{"two routes of acct_a", vault.WithRouteAccount(vault.WithRouteAccount(ctx, "acct_a"), "acct_a"), "acct_a", true},
		{"routes of acct_a then acct_b", vault.WithRouteAccount(vault.WithRouteAccount(ctx, "acct_a"), "acct_b"), "acct_a", false},
		{"routes of acct_a then acct_b, acct_b's client", vault.WithRouteAccount(vault.WithRouteAccount(ctx, "acct_a"), "acct_b"), "acct_b", false},
		{"routes of acct_a and the default in one call, acct_a's client", vault.WithRouteAccount(ctx, "acct_a", ""), "acct_a", false},
		{"routes of the default in one call, then its name", vault.WithRouteAccount(vault.WithRouteAccount(ctx, "", ""), "main"), "main", true},
		{"no account in one call", vault.WithRouteAccount(ctx), "acct_b", true},
	} {
		if got := svc.RouteServes(c.ctx, c.account); got != c.want {
			t.Errorf("%s: RouteServes = %v, want %v", c.name, got, c.want)
		}
	}
}
