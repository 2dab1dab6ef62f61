package cards

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// tokenIndexHookStore runs armed steps once: afterIndex after the next
// PutTokenAliases (given the entries put), afterWrite after the next
// UpdateCard or ReplaceCard, afterRead after the next GetCard.
type tokenIndexHookStore struct {
	*boltstore.Store
	mu         sync.Mutex
	afterIndex func([]vault.TokenAlias)
	afterWrite func()
	afterRead  func()
}

// takeHook returns *f and clears it, under s.mu.
func takeHook[T any](s *tokenIndexHookStore, f *T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := *f
	var zero T
	*f = zero
	return v
}

// arm runs f, which sets hooks, under s.mu.
func (s *tokenIndexHookStore) arm(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *tokenIndexHookStore) PutTokenAliases(ctx context.Context, entries []vault.TokenAlias) error {
	err := s.Store.PutTokenAliases(ctx, entries)
	if f := takeHook(s, &s.afterIndex); f != nil && err == nil {
		f(entries)
	}
	return err
}

func (s *tokenIndexHookStore) UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error {
	err := s.Store.UpdateCard(ctx, account, id, old, record, update)
	if f := takeHook(s, &s.afterWrite); f != nil && err == nil {
		f()
	}
	return err
}

func (s *tokenIndexHookStore) ReplaceCard(ctx context.Context, account, id string, old, record []byte) error {
	err := s.Store.ReplaceCard(ctx, account, id, old, record)
	if f := takeHook(s, &s.afterWrite); f != nil && err == nil {
		f()
	}
	return err
}

func (s *tokenIndexHookStore) GetCard(ctx context.Context, account, id string) ([]byte, bool, error) {
	b, ok, err := s.Store.GetCard(ctx, account, id)
	if f := takeHook(s, &s.afterRead); f != nil {
		f()
	}
	return b, ok, err
}

// TestTokenAliasDeletedWhileTheTokenIsProvisionedIsRestored: a client of
// the account deletes a network token's PAN alias through the vault API
// while the token is provisioned: after the index entry is written and
// before the record holding the token is (the index names the card, whose
// record has no such token yet, so AliasUse let it go), or with AliasUse's
// look-up made before the record was written and the delete after the
// provisioning ended. Either way the token keeps its PAN in the vault (the
// provisioning checks its alias once the record is stored; the vault API's
// delete checks the index again after it deleted) and makes cryptograms.
// Before, the record named a deleted alias: 409 card_data_gone for good.
func TestTokenAliasDeletedWhileTheTokenIsProvisionedIsRestored(t *testing.T) {
	setup := func(t *testing.T) (*env, *tokenIndexHookStore, string) {
		var hs *tokenIndexHookStore
		e, _ := tspEnvOn(t, Options{}, func(st *boltstore.Store) Store { hs = &tokenIndexHookStore{Store: st}; return hs })
		id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
		return e, hs, id
	}
	check := func(t *testing.T, e *env, id string, deleted error) {
		t.Helper()
		if deleted != nil && !errors.Is(deleted, vault.ErrInUse) {
			t.Fatalf("the vault API's delete: %v", deleted)
		}
		if r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci); r.code != http.StatusOK {
			t.Fatalf("cryptogram of the token whose alias was deleted while it was provisioned: %d %s", r.code, r.body)
		}
		alias := tokenAliasOf(t, e, e.provisioned(id)) // the active token's answer
		if err := e.vault.Delete(clientCtx(), alias); !errors.Is(err, vault.ErrInUse) {
			t.Fatalf("the vault API's delete of the token's alias afterwards = %v, want ErrInUse", err)
		}
	}
	t.Run("between the index entry and the record", func(t *testing.T) {
		e, hs, id := setup(t)
		var deleted error
		hs.arm(func() {
			hs.afterIndex = func(entries []vault.TokenAlias) { deleted = e.vault.Delete(clientCtx(), entries[0].Alias) }
		})
		e.provisioned(id)
		check(t, e, id, deleted)
	})
	t.Run("the token retired before the provisioning's check", func(t *testing.T) {
		// Another gateway retires the token (its alias is gone already)
		// between the record's write and the provisioning's check: the
		// check's new alias would hold the retired token's PAN with no
		// token naming it, for good.
		e, hs, id := setup(t)
		ctx := clientCtx()
		hs.arm(func() {
			hs.afterIndex = func(entries []vault.TokenAlias) {
				if err := e.vault.Delete(ctx, entries[0].Alias); err != nil {
					t.Errorf("the vault API's delete: %v", err)
				}
				hs.arm(func() {
					hs.afterWrite = func() {
						b, _, err := hs.Store.GetCard(ctx, "ACTaccountA", id)
						if err != nil {
							t.Error(err)
							return
						}
						rec, err := decodeRecord(b)
						if err != nil {
							t.Error(err)
							return
						}
						rec.Tokens[0].State, rec.Tokens[0].PANAlias = TokenDeleted, ""
						nb, _ := json.Marshal(rec)
						if err := hs.Store.ReplaceCard(ctx, "ACTaccountA", id, b, nb); err != nil {
							t.Error(err)
						}
					}
				})
			}
		})
		tokenPAN := e.provisioned(id)
		toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID,
			Storage: vault.StoragePersistent}})
		if err != nil || !toks[0].Created {
			t.Fatalf("the retired token's PAN is in the vault: %v %+v", err, toks)
		}
	})
	t.Run("looked up before the record, deleted after the provisioning", func(t *testing.T) {
		e, hs, id := setup(t)
		indexed, read, provisioned := make(chan string), make(chan struct{}), make(chan struct{})
		hs.arm(func() {
			hs.afterIndex = func(entries []vault.TokenAlias) {
				indexed <- entries[0].Alias
				<-read // the vault API's look-up of the card read it without the token
			}
		})
		go func() {
			defer close(provisioned)
			e.do("POST", "/cards/"+id+"/network-tokens", "", ntw, pci)
		}()
		alias := <-indexed
		hs.arm(func() {
			hs.afterRead = func() {
				close(read)
				<-provisioned
			}
		})
		deleted := e.vault.Delete(clientCtx(), alias)
		check(t, e, id, deleted)
	})
}

// TestCardDeleteLeavesNoTokenAliasEntry: deleting a card whose token is
// live removes the token's index entry with its alias, and the same token
// PAN stored later through the vault API (a new alias) is deleted freely.
func TestCardDeleteLeavesNoTokenAliasEntry(t *testing.T) {
	e, _ := tspEnvWith(t, Options{})
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	tokenPAN := e.provisioned(id)
	alias := tokenAliasOf(t, e, tokenPAN)
	if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != http.StatusNoContent {
		t.Fatalf("delete the card: %d %s", code, body)
	}
	ctx := clientCtx()
	if ids, err := e.bolt.CardsByTokenAlias(ctx, "ACTaccountA", alias); len(ids) != 0 || err != nil {
		t.Fatalf("the deleted card's token alias entries: %v %v, want none", ids, err)
	}
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil || !toks[0].Created || toks[0].Alias == alias {
		t.Fatalf("the token PAN stored again: %v %+v, want a new alias", err, toks)
	}
	if err := e.vault.Delete(ctx, toks[0].Alias); err != nil {
		t.Fatalf("the vault API's delete of the token PAN stored after its card's delete: %v", err)
	}
}
