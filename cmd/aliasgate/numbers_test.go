package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestNumbersIndexIsBuiltAtStartAndByVaultCopy: the numbers index of a
// vault whose cards were stored before it is built by serve's start
// (indexNumbers) and, on a copy's destination, by vault copy, so that a
// card's number and token PAN are refused to another account's card on
// either: the cards' side of the cross-account refusal (cards
// TestTokenServiceAnsweringAnotherAccountsNumberIsRefused) is only as good
// as the index it asks.
func TestNumbersIndexIsBuiltAtStartAndByVaultCopy(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	dir := t.TempDir()
	src := openTestBolt(t, dir)
	const cardPAN, tokenPAN = "4111111111111111", "4895370000000001"
	toks, err := openService(t, src, master).Redact(vault.WithAccount(ctx, "acct_1"),
		[]vault.RedactRequest{{Value: cardPAN}, {Value: tokenPAN}})
	if err != nil {
		t.Fatal(err)
	}
	record := `{"id":"c1","pan_alias":"` + toks[0].Alias + `","network_tokens":[{"id":"NTK1","token_alias":"` + toks[1].Alias + `"}]}`
	if _, err := src.PutCard(ctx, "acct_1", "c1", "fp1", []byte(record)); err != nil {
		t.Fatal(err)
	}
	held := func(what string, st persistentStore) {
		t.Helper()
		keys, err := vault.OpenKeyring(ctx, st, master)
		if err != nil {
			t.Fatal(err)
		}
		n := vault.NewNumbers(st, st, keys)
		if ok, err := n.Indexed(ctx); !ok || err != nil {
			t.Fatalf("%s: Indexed = %v, %v", what, ok, err)
		}
		for _, number := range []string{cardPAN, tokenPAN} {
			if err := n.Claim(ctx, number, "tok_another_accounts"); !errors.Is(err, vault.ErrNumberHeld) {
				t.Fatalf("%s: Claim of the card's number = %v, want ErrNumberHeld", what, err)
			}
		}
	}
	keys, err := vault.OpenKeyring(ctx, src, master)
	if err != nil {
		t.Fatal(err)
	}
	if err := indexNumbers(ctx, src, vault.NewNumbers(src, src, keys), false, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	held("serve's start", src)
	dst := openTestPostgres(t)
	c := &vaultCopier{out: io.Discard, batch: 20, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
		t.Fatalf("vault copy: %v", err)
	}
	held("the copy's destination", dst)
}

// TestTokenAliasIndexIsBuiltAtStartAndByVaultCopy: the token alias index
// of a vault whose cards were stored before it (cards.IndexTokenAliases)
// is built by serve's start (indexTokenAliases) and on a copy's
// destination by vault copy, with the live tokens only: the vault API's
// delete of a token's PAN alias is refused (cards.AliasUse) only for the
// tokens it holds.
func TestTokenAliasIndexIsBuiltAtStartAndByVaultCopy(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	dir := t.TempDir()
	src := openTestBolt(t, dir)
	toks, err := openService(t, src, master).Redact(vault.WithAccount(ctx, "acct_1"),
		[]vault.RedactRequest{{Value: "4111111111111111"}, {Value: "4895370000000001"}, {Value: "4895370000000019"}})
	if err != nil {
		t.Fatal(err)
	}
	live, retired := toks[1].Alias, toks[2].Alias
	record := `{"id":"c1","pan_alias":"` + toks[0].Alias + `","network_tokens":[` +
		`{"id":"NTK0","token_alias":"` + retired + `","state":"deleted"},` +
		`{"id":"NTK1","token_alias":"` + live + `","state":"active"}]}`
	if _, err := src.PutCard(ctx, "acct_1", "c1", "fp1", []byte(record)); err != nil {
		t.Fatal(err)
	}
	indexed := func(what string, st persistentStore) {
		t.Helper()
		if ok, err := st.TokenAliasesIndexed(ctx); !ok || err != nil {
			t.Fatalf("%s: TokenAliasesIndexed = %v, %v", what, ok, err)
		}
		if ids, err := st.CardsByTokenAlias(ctx, "acct_1", live); len(ids) != 1 || ids[0] != "c1" || err != nil {
			t.Fatalf("%s: the cards of the live token's alias = %v, %v; want [c1]", what, ids, err)
		}
		if ids, err := st.CardsByTokenAlias(ctx, "acct_1", retired); len(ids) != 0 || err != nil {
			t.Fatalf("%s: the cards of the retired token's alias = %v, %v; want none", what, ids, err)
		}
	}
	if err := indexTokenAliases(ctx, src, false, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	indexed("serve's start", src)
	dst := openTestPostgres(t)
	c := &vaultCopier{out: io.Discard, batch: 20, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
		t.Fatalf("vault copy: %v", err)
	}
	indexed("the copy's destination", dst)
}
