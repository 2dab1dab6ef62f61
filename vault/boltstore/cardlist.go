package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault"
)

// DeleteCard removes the account's card id, its card updates and its
// fingerprint entry when that points at the card, in one transaction
// (cards.Store); ok false when there is no such card.
func (s *Store) DeleteCard(ctx context.Context, account, id, fingerprint string) (bool, error) {
	var ok bool
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ok = false
		cb := tx.Bucket(bucketCards)
		k := cardKey(account, id)
		if cb.Get(k) == nil {
			return nil
		}
		ok = true
		if err := cb.Delete(k); err != nil {
			return err
		}
		fb := tx.Bucket(bucketCardsByFinger)
		if fk := cardKey(account, fingerprint); string(fb.Get(fk)) == id {
			if err := fb.Delete(fk); err != nil {
				return err
			}
		}
		prefix := append(k, 0)
		ub := tx.Bucket(bucketCardUpdates)
		var keys [][]byte
		c := ub.Cursor()
		for uk, _ := c.Seek(prefix); uk != nil && bytes.HasPrefix(uk, prefix); uk, _ = c.Next() {
			if len(uk) == len(prefix)+8 {
				keys = append(keys, bytes.Clone(uk))
			}
		}
		for _, uk := range keys {
			if err := ub.Delete(uk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: delete card: %w", err)
	}
	return ok, nil
}

// ListCards returns up to limit of the account's cards whose id sorts
// after after ("" from the first), in id order (cards.Store).
func (s *Store) ListCards(_ context.Context, account, after string, limit int) ([]string, [][]byte, error) {
	var ids []string
	var recs [][]byte
	prefix := cardKey(account, "")
	err := s.view(func(tx *bolt.Tx) error {
		ids, recs = nil, nil
		c := tx.Bucket(bucketCards).Cursor()
		for k, v := seekAfter(c, cardKey(account, after)); k != nil && bytes.HasPrefix(k, prefix) && len(ids) < limit; k, v = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
			recs = append(recs, bytes.Clone(v))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boltstore: list cards: %w", err)
	}
	return ids, recs, nil
}

// ReissueCard replaces the account's card id, moves its fingerprint entry
// from oldFingerprint to fingerprint and appends update, in one
// transaction (cards.Store), unless another card of the account has
// fingerprint: then it writes nothing and returns that card's id. The
// record must still be old, else vault.ErrCardChanged and nothing is
// written.
func (s *Store) ReissueCard(ctx context.Context, account, id, oldFingerprint, fingerprint string, old, record, update []byte) (string, error) {
	var existing string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		existing = ""
		cb, fb := tx.Bucket(bucketCards), tx.Bucket(bucketCardsByFinger)
		k := cardKey(account, id)
		if err := casCard(cb, k, old); err != nil {
			return err
		}
		if v := fb.Get(cardKey(account, fingerprint)); v != nil && string(v) != id {
			existing = string(v)
			return nil
		}
		if v := fb.Get(cardKey(account, oldFingerprint)); string(v) == id {
			if err := fb.Delete(cardKey(account, oldFingerprint)); err != nil {
				return err
			}
		}
		if err := fb.Put(cardKey(account, fingerprint), []byte(id)); err != nil {
			return err
		}
		if err := cb.Put(k, record); err != nil {
			return err
		}
		return appendCardUpdate(tx.Bucket(bucketCardUpdates), k, update)
	})
	if err != nil {
		return "", fmt.Errorf("boltstore: reissue card: %w", err)
	}
	return existing, nil
}

// CardsByFingerprint returns, in index key order, the ids of the account's
// cards whose fingerprint index key is fingerprint or starts with
// fingerprint and vault.CardIndexSep (cards.Store): one cursor Seek and a
// prefix walk.
func (s *Store) CardsByFingerprint(_ context.Context, account, fingerprint string) ([]string, error) {
	var ids []string
	exact := cardKey(account, fingerprint)
	prefix := append(bytes.Clone(exact), vault.CardIndexSep...)
	err := s.view(func(tx *bolt.Tx) error {
		ids = nil
		c := tx.Bucket(bucketCardsByFinger).Cursor()
		for k, v := c.Seek(exact); k != nil && bytes.HasPrefix(k, exact); k, v = c.Next() {
			if bytes.Equal(k, exact) || bytes.HasPrefix(k, prefix) {
				ids = append(ids, string(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: cards by fingerprint: %w", err)
	}
	return ids, nil
}
