package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault"
)

// The token alias index (cards.Store, vault.TokenAlias): bucket
// token_aliases holds one empty value per entry under
// account ‖ 0 ‖ alias ‖ 0 ‖ card id, and under tokenAliasesIndexed (which
// holds no 0 byte, so it is no entry) the mark that the index was built
// over every card. The bucket is made by the first write.
var (
	bucketTokenAliases  = []byte("token_aliases")
	tokenAliasesIndexed = []byte("indexed")
)

// tokenAliasPrefix is the prefix of the entries of the account's alias.
func tokenAliasPrefix(account, alias string) []byte {
	return append(cardKey(account, alias), 0)
}

// PutTokenAliases indexes entries, in one transaction (cards.Store).
func (s *Store) PutTokenAliases(ctx context.Context, entries []vault.TokenAlias) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTokenAliases)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := b.Put(append(tokenAliasPrefix(e.Account, e.Alias), e.Card...), []byte{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: put token aliases: %w", err)
	}
	return nil
}

// CardsByTokenAlias returns the ids of the account's cards indexed under
// alias, in id order (cards.Store).
func (s *Store) CardsByTokenAlias(_ context.Context, account, alias string) ([]string, error) {
	var ids []string
	prefix := tokenAliasPrefix(account, alias)
	err := s.view(func(tx *bolt.Tx) error {
		ids = nil
		b := tx.Bucket(bucketTokenAliases)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: cards by token alias: %w", err)
	}
	return ids, nil
}

// RemoveTokenAlias removes every entry of the account's alias (cards.Store).
func (s *Store) RemoveTokenAlias(ctx context.Context, account, alias string) error {
	prefix := tokenAliasPrefix(account, alias)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokenAliases)
		if b == nil {
			return nil
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: remove token alias: %w", err)
	}
	return nil
}

// TokenAliasesIndexed reports whether MarkTokenAliasesIndexed was called
// (cards.Store).
func (s *Store) TokenAliasesIndexed(context.Context) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokenAliases)
		ok = b != nil && b.Get(tokenAliasesIndexed) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: token aliases indexed: %w", err)
	}
	return ok, nil
}

// MarkTokenAliasesIndexed records that every card's token aliases are
// indexed (cards.Store).
func (s *Store) MarkTokenAliasesIndexed(ctx context.Context) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTokenAliases)
		if err != nil {
			return err
		}
		return b.Put(tokenAliasesIndexed, []byte{})
	})
	if err != nil {
		return fmt.Errorf("boltstore: mark token aliases indexed: %w", err)
	}
	return nil
}
