package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aliasgate/aliasgate/vault"
)

// DeleteCard removes the account's card id, its card updates and its
// fingerprint entry when that points at the card (cards.Store); ok false
// when there is no such card.
func (s *Store) DeleteCard(_ context.Context, account, id, fingerprint string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, vault.ErrClosed
	}
	k := account + "\x00" + id
	if _, ok := s.cards[k]; !ok {
		return false, nil
	}
	delete(s.cards, k)
	delete(s.updates, k)
	if fk := account + "\x00" + fingerprint; s.fingers[fk] == id {
		delete(s.fingers, fk)
	}
	return true, nil
}

// ListCards returns up to limit of the account's cards whose id sorts
// after after ("" from the first), in id order (cards.Store).
func (s *Store) ListCards(_ context.Context, account, after string, limit int) ([]string, [][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, vault.ErrClosed
	}
	prefix := account + "\x00"
	var ids []string
	for k := range s.cards {
		if id, ok := strings.CutPrefix(k, prefix); ok && id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:max(limit, 0)]
	}
	recs := make([][]byte, len(ids))
	for i, id := range ids {
		recs[i] = slices.Clone(s.cards[prefix+id])
	}
	return ids, recs, nil
}

// ReissueCard replaces the account's card id, moves its fingerprint entry
// from oldFingerprint to fingerprint and appends update (cards.Store),
// unless another card of the account has fingerprint: then it writes
// nothing and returns that card's id. The record must still be old, else
// vault.ErrCardChanged and nothing is written.
func (s *Store) ReissueCard(_ context.Context, account, id, oldFingerprint, fingerprint string, old, record, update []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", vault.ErrClosed
	}
	k := account + "\x00" + id
	cur, ok := s.cards[k]
	if !ok {
		return "", ErrCardNotFound
	}
	if !bytes.Equal(cur, old) {
		return "", fmt.Errorf("memstore: reissue card: %w", vault.ErrCardChanged)
	}
	fk := account + "\x00" + fingerprint
	if other, ok := s.fingers[fk]; ok && other != id {
		return other, nil
	}
	if ok := account + "\x00" + oldFingerprint; s.fingers[ok] == id {
		delete(s.fingers, ok)
	}
	s.fingers[fk] = id
	s.cards[k] = append([]byte(nil), record...)
	s.updates[k] = append(s.updates[k], append([]byte(nil), update...))
	return "", nil
}

// CardsByFingerprint returns, in index key order, the ids of the account's
// cards whose fingerprint index key is fingerprint or starts with
// fingerprint and vault.CardIndexSep (cards.Store): a scan of the index.
func (s *Store) CardsByFingerprint(_ context.Context, account, fingerprint string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	exact := account + "\x00" + fingerprint
	var keys []string
	for k := range s.fingers {
		if k == exact || strings.HasPrefix(k, exact+vault.CardIndexSep) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = s.fingers[k]
	}
	return ids, nil
}
