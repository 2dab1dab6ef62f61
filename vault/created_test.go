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
