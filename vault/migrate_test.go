package vault_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// lostAnswer is a store whose SetOwner answers ErrNotFound: after doing it
// (a PostgreSQL retry after a lost commit), or without (the record changed
// owner meanwhile, done says false).
type lostAnswer struct {
	*memstore.Store
	done bool
}

func (s lostAnswer) SetOwner(ctx context.Context, alias, from, to string, indexKey []byte) error {
	if s.done {
		if err := s.Store.SetOwner(ctx, alias, from, to, indexKey); err != nil {
			return err
		}
	}
	return vault.ErrNotFound
}

// TestMigrateRecordAfterALostAnswer: a SetOwner that did its work but
// answered ErrNotFound is found done when the record is read again; one
// that did not is ErrNotFound, and nothing is given.
func TestMigrateRecordAfterALostAnswer(t *testing.T) {
	ctx := context.Background()
	for _, done := range []bool{true, false} {
		mem, kr := memVault(t)
		st := lostAnswer{Store: mem, done: done}
		svc, err := vault.New(st, st, kr, vault.Options{Env: "test", DefaultAccount: "main"})
		if err != nil {
			t.Fatal(err)
		}
		toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.MigrateRecord(ctx, toks[0].Alias, "acct_a", true)
		rev, rerr := svc.Reveal(vault.WithAccount(ctx, "acct_a"), []string{toks[0].Alias})
		if rerr != nil {
			t.Fatal(rerr)
		}
		switch {
		case done && (err != nil || got != toks[0].Alias || rev[0].Value != "4111111111111111"):
			t.Fatalf("a SetOwner whose answer was lost: MigrateRecord = %q, %v; acct_a reveals %+v", got, err, rev[0])
		case !done && (!errors.Is(err, vault.ErrNotFound) || got != "" || rev[0].Value != ""):
			t.Fatalf("a SetOwner that did nothing: MigrateRecord = %q, %v; acct_a reveals %+v", got, err, rev[0])
		}
	}
}
