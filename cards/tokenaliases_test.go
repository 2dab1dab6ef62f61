package cards

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

func (s *memStore) PutTokenAliases(_ context.Context, entries []vault.TokenAlias) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenAliases == nil {
		s.tokenAliases = map[string][]string{}
	}
	for _, e := range entries {
		k := e.Account + "/" + e.Alias
		if !slices.Contains(s.tokenAliases[k], e.Card) {
			s.tokenAliases[k] = append(s.tokenAliases[k], e.Card)
			slices.Sort(s.tokenAliases[k])
		}
	}
	return nil
}

func (s *memStore) CardsByTokenAlias(_ context.Context, account, alias string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenAliases[account+"/"+alias]), nil
}

func (s *memStore) RemoveTokenAlias(_ context.Context, account, alias string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokenAliases, account+"/"+alias)
	return nil
}

func (s *memStore) TokenAliasesIndexed(context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenAliasesIndexed, nil
}

func (s *memStore) MarkTokenAliasesIndexed(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenAliasesIndexed = true
	return nil
}

// tokenAliasOf is the alias the vault API gives a client of the test
// account for tokenPAN: the token's own (one per value and account).
func tokenAliasOf(t *testing.T, e *env, tokenPAN string) string {
	t.Helper()
	toks, err := e.vault.Redact(clientCtx(), []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID,
		Storage: vault.StoragePersistent}})
	if err != nil || toks[0].Created {
		t.Fatalf("the token PAN in the vault: %v %+v (want the token's own alias)", err, toks)
	}
	return toks[0].Alias
}

// clientCtx is a vault call of a client of the test account.
func clientCtx() context.Context {
	return vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
}

// TestTokensPANAliasIsInUse: the vault API's delete of a network token's
// PAN alias, alone or in a batch, is refused (ErrInUse: 409 alias_in_use)
// as a card's pan_alias is, and the token still makes cryptograms. Before,
// it was deleted and the token answered 409 card_data_gone for good. The
// token's own DELETE still takes the alias out of the vault, and its
// index entry with it.
func TestTokensPANAliasIsInUse(t *testing.T) {
	e, _ := tspEnvWith(t, Options{})
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	alias := tokenAliasOf(t, e, e.provisioned(id))
	ctx := clientCtx()
	if err := e.vault.Delete(ctx, alias); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("delete of the token's PAN alias = %v, want ErrInUse", err)
	}
	var be *vault.BatchError
	if n, err := e.vault.DeleteMany(ctx, []string{alias}); n != 0 || !errors.As(err, &be) || !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("batch delete of the token's PAN alias = %d, %v, want a BatchError of ErrInUse", n, err)
	}
	if r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci); r.code != http.StatusOK {
		t.Fatalf("cryptogram after the refused deletes: %d %s", r.code, r.body)
	}
	if code, body := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw); code != http.StatusNoContent {
		t.Fatalf("delete the network token: %d %s", code, body)
	}
	out, err := e.vault.Reveal(ctx, []string{alias})
	if err != nil || !errors.Is(out[0].Err, vault.ErrNotFound) {
		t.Fatalf("the retired token's alias: %v %v, want ErrNotFound", err, out)
	}
	if ids, err := e.bolt.CardsByTokenAlias(ctx, "ACTaccountA", alias); len(ids) != 0 || err != nil {
		t.Fatalf("the retired token's index entries: %v %v, want none", ids, err)
	}
}

// TestTokenAliasIndexIsBuiltOverTokensStoredBefore: tokens whose records
// were written without index entries (by a version before the index) are
// not protected until IndexTokenAliases, which serve runs at its start
// while the store is not marked indexed; it indexes live tokens only.
func TestTokenAliasIndexIsBuiltOverTokensStoredBefore(t *testing.T) {
	e, _ := tspEnvWith(t, Options{})
	a, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	b, _ := e.create(`"pan":"4012888888881881","exp_month":4,"exp_year":2030`, pci)
	aliasA, aliasB := tokenAliasOf(t, e, e.provisioned(a)), tokenAliasOf(t, e, e.provisioned(b))
	ctx := clientCtx()
	use, err := NewAliasUse(e.bolt, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	inUse := func(alias, tokenPAN string) bool {
		t.Helper()
		used, err := use.AliasInUse(ctx, "ACTaccountA", alias, []byte(tokenPAN))
		if err != nil {
			t.Fatal(err)
		}
		return used
	}
	panA, panB := e.revealAlias(aliasA), e.revealAlias(aliasB)
	for _, al := range []string{aliasA, aliasB} { // as the records were written before the index
		if err := e.bolt.RemoveTokenAlias(ctx, "ACTaccountA", al); err != nil {
			t.Fatal(err)
		}
	}
	if inUse(aliasA, panA) || inUse(aliasB, panB) {
		t.Fatal("a token missing from the index is in use: the test does not test the build")
	}
	if ok, err := e.bolt.TokenAliasesIndexed(ctx); ok || err != nil {
		t.Fatalf("TokenAliasesIndexed before the build: %v %v", ok, err)
	}
	if err := IndexTokenAliases(ctx, e.bolt, e.bolt); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.bolt.TokenAliasesIndexed(ctx); !ok || err != nil {
		t.Fatalf("TokenAliasesIndexed after the build: %v %v", ok, err)
	}
	if !inUse(aliasA, panA) || !inUse(aliasB, panB) {
		t.Fatal("a token stored before the index is not in use after the build")
	}
	if err := e.vault.Delete(ctx, aliasA); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("delete of a token's alias after the build = %v, want ErrInUse", err)
	}
	// A retired token is not indexed again.
	if code, body := e.doNoContent("DELETE", "/cards/"+b+"/network-tokens", ntw); code != http.StatusNoContent {
		t.Fatalf("delete the network token: %d %s", code, body)
	}
	if err := IndexTokenAliases(ctx, e.bolt, e.bolt); err != nil {
		t.Fatal(err)
	}
	if ids, err := e.bolt.CardsByTokenAlias(ctx, "ACTaccountA", aliasB); len(ids) != 0 || err != nil {
		t.Fatalf("a retired token's alias after the build: %v %v, want no entry", ids, err)
	}
}

// revealAlias is the value of alias, revealed for the test account.
func (e *env) revealAlias(alias string) string {
	e.t.Helper()
	out, err := e.vault.Reveal(clientCtx(), []string{alias})
	if err != nil || out[0].Err != nil {
		e.t.Fatalf("reveal: %v %v", err, out)
	}
	return out[0].Value
}
