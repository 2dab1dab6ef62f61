package vault_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// TestCreatedUnderNamesTheAliasesARequestCreated: under a context made by
// WithCreations, CreatedUnder answers true for the aliases a Redact under
// it created, persistent and volatile (a refused request releases its
// CVC's too), and false for an alias that existed before and any alias
// under a context without a record; CreatedAliases lists the former.
func TestCreatedUnderNamesTheAliasesARequestCreated(t *testing.T) {
	st := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	svc, _ := newService(t, st)
	before, err := svc.Redact(context.Background(), []vault.RedactRequest{{Value: "4111111111111111",
		Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := vault.WithCreations(context.Background())
	toks, err := svc.Redact(ctx, []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatUUID, Storage: vault.StoragePersistent},
		{Value: "5555555555554444", Format: vault.FormatUUID, Storage: vault.StoragePersistent},
		{Value: "123", Format: vault.FormatUUID, Storage: vault.StorageVolatile},
	})
	if err != nil {
		t.Fatal(err)
	}
	if toks[0].Alias != before[0].Alias {
		t.Fatal("the same value and format gave another alias")
	}
	for i, want := range []bool{false, true, true} {
		if got := vault.CreatedUnder(ctx, toks[i].Alias); got != want {
			t.Errorf("item %d: CreatedUnder %v, want %v", i, got, want)
		}
	}
	if vault.CreatedUnder(vault.WithCreations(ctx), toks[1].Alias) != true {
		t.Error("WithCreations on a context that has a record replaced it")
	}
	if vault.CreatedUnder(context.Background(), toks[1].Alias) {
		t.Error("CreatedUnder without a record answered true")
	}
	if got := vault.CreatedAliases(ctx); len(got) != 2 || !slices.Contains(got, toks[1].Alias) || !slices.Contains(got, toks[2].Alias) {
		t.Errorf("CreatedAliases = %v, want the created persistent and volatile aliases", got)
	}
	if got := vault.CreatedAliases(context.Background()); got != nil {
		t.Errorf("CreatedAliases without a record = %v", got)
	}
}

// TestWithoutCreationsRecordsNothing: a Redact under WithoutCreations of a
// context with a record (the inbound proxy's response phase, while the
// Card Management API behind it may still read its request's record) adds
// nothing to that record, and CreatedUnder answers false under it.
func TestWithoutCreationsRecordsNothing(t *testing.T) {
	st := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	svc, _ := newService(t, st)
	ctx := vault.WithCreations(context.Background())
	toks, err := svc.Redact(vault.WithoutCreations(ctx), []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil {
		t.Fatal(err)
	}
	if got := vault.CreatedAliases(ctx); len(got) != 0 {
		t.Errorf("the record holds %d aliases made under WithoutCreations", len(got))
	}
	if vault.CreatedUnder(vault.WithoutCreations(ctx), toks[0].Alias) {
		t.Error("CreatedUnder under WithoutCreations answered true")
	}
	if vault.WithoutCreations(context.Background()) != context.Background() {
		t.Error("WithoutCreations of a context without a record made a new one")
	}
}

// TestRouteAliasesAreThoseBeforeTheHandOff: RouteAliases lists every
// alias created under the record until HandOff (the inbound proxy hands
// the request to an in-process API), and only those after it, whatever
// the API's own work creates (a network token's PAN); a second HandOff
// changes nothing. ClaimRelease is seen by ReleaseClaimed under the
// record, and nothing is claimed without one.
func TestRouteAliasesAreThoseBeforeTheHandOff(t *testing.T) {
	st := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	svc, _ := newService(t, st)
	ctx := vault.WithCreations(context.Background())
	redact := func(value string) string {
		t.Helper()
		toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: value, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
		if err != nil {
			t.Fatal(err)
		}
		return toks[0].Alias
	}
	route := redact("4111111111111111")
	if got := vault.RouteAliases(ctx); !slices.Equal(got, []string{route}) {
		t.Fatalf("RouteAliases before the hand-off = %v, want %v", got, []string{route})
	}
	vault.HandOff(ctx)
	api := redact("5555555555554444")
	vault.HandOff(ctx)
	if got := vault.RouteAliases(ctx); !slices.Equal(got, []string{route}) {
		t.Errorf("RouteAliases after the API's redaction = %v, want only the route's %v", got, []string{route})
	}
	if got := vault.CreatedAliases(ctx); len(got) != 2 || !slices.Contains(got, api) {
		t.Errorf("CreatedAliases = %v, want both", got)
	}
	if vault.ReleaseClaimed(ctx) {
		t.Error("claimed before ClaimRelease")
	}
	vault.ClaimRelease(ctx)
	if !vault.ReleaseClaimed(context.WithValue(ctx, derivedKey{}, 1)) {
		t.Error("ClaimRelease not seen under the record")
	}
	vault.ClaimRelease(context.Background())
	if vault.ReleaseClaimed(context.Background()) || vault.RouteAliases(context.Background()) != nil {
		t.Error("a context without a record claims or lists something")
	}
}

// derivedKey makes a context derived from another in tests.
type derivedKey struct{}
