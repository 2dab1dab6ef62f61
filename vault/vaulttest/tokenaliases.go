package vaulttest

import (
	"context"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TokenAliasStore is the token alias index of the Card Management API
// (cards.TokenAliases); every store that keeps cards implements it.
type TokenAliasStore interface {
	PutTokenAliases(ctx context.Context, entries []vault.TokenAlias) error
	CardsByTokenAlias(ctx context.Context, account, alias string) ([]string, error)
	RemoveTokenAlias(ctx context.Context, account, alias string) error
	TokenAliasesIndexed(ctx context.Context) (bool, error)
	MarkTokenAliasesIndexed(ctx context.Context) error
}

// testTokenAliases: the token alias index gives the cards of one
// account's alias in id order (another account's entries, and an alias
// that only starts like it, are not among them), keeps an entry put twice
// once, removes every entry of an alias at once, and keeps its mark.
func testTokenAliases(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	ts, ok := s.(TokenAliasStore)
	if !ok {
		t.Fatalf("%T does not implement TokenAliasStore", s)
	}
	ctx := context.Background()
	cards := func(account, alias string) []string {
		t.Helper()
		ids, err := ts.CardsByTokenAlias(ctx, account, alias)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := cards("acct_a", "al1"); len(ids) != 0 {
		t.Fatalf("CardsByTokenAlias of a new store = %v", ids)
	}
	if ok, err := ts.TokenAliasesIndexed(ctx); ok || err != nil {
		t.Fatalf("TokenAliasesIndexed of a new store = %v, %v", ok, err)
	}
	if err := ts.PutTokenAliases(ctx, []vault.TokenAlias{
		{Account: "acct_a", Alias: "al1", Card: "CRD2"}, {Account: "acct_a", Alias: "al1", Card: "CRD1"},
		{Account: "acct_b", Alias: "al1", Card: "CRD3"}, {Account: "acct_a", Alias: "al10", Card: "CRD4"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := ts.PutTokenAliases(ctx, []vault.TokenAlias{{Account: "acct_a", Alias: "al1", Card: "CRD1"}}); err != nil {
		t.Fatalf("an entry put again: %v", err)
	}
	if ids := cards("acct_a", "al1"); !slices.Equal(ids, []string{"CRD1", "CRD2"}) {
		t.Fatalf("CardsByTokenAlias = %v, want [CRD1 CRD2]", ids)
	}
	if ids := cards("acct_b", "al1"); !slices.Equal(ids, []string{"CRD3"}) {
		t.Fatalf("CardsByTokenAlias of another account = %v, want [CRD3]", ids)
	}
	if err := ts.RemoveTokenAlias(ctx, "acct_a", "al1"); err != nil {
		t.Fatal(err)
	}
	if err := ts.RemoveTokenAlias(ctx, "acct_a", "al1"); err != nil {
		t.Fatalf("RemoveTokenAlias of an alias without entries: %v", err)
	}
	if ids := cards("acct_a", "al1"); len(ids) != 0 {
		t.Fatalf("CardsByTokenAlias after RemoveTokenAlias = %v", ids)
	}
	if ids := cards("acct_b", "al1"); !slices.Equal(ids, []string{"CRD3"}) {
		t.Fatalf("another account's entry after RemoveTokenAlias = %v", ids)
	}
	if ids := cards("acct_a", "al10"); !slices.Equal(ids, []string{"CRD4"}) {
		t.Fatalf("an alias that starts like the removed one = %v", ids)
	}
	if err := ts.MarkTokenAliasesIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := ts.TokenAliasesIndexed(ctx); !ok || err != nil {
		t.Fatalf("TokenAliasesIndexed after the mark = %v, %v", ok, err)
	}
	if ids := cards("", "indexed"); len(ids) != 0 {
		t.Fatalf("the mark is an entry: %v", ids)
	}
}
