package memstore

import (
	"context"
	"slices"

	"github.com/aliasgate/aliasgate/vault"
)

// tokenAliasKey is the key of the account's alias in s.tokenAliases.
func tokenAliasKey(account, alias string) string { return account + "\x00" + alias }

// PutTokenAliases indexes entries (cards.Store).
func (s *Store) PutTokenAliases(_ context.Context, entries []vault.TokenAlias) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	if s.tokenAliases == nil {
		s.tokenAliases = map[string]map[string]struct{}{}
	}
	for _, e := range entries {
		k := tokenAliasKey(e.Account, e.Alias)
		set := s.tokenAliases[k]
		if set == nil {
			set = map[string]struct{}{}
			s.tokenAliases[k] = set
		}
		set[e.Card] = struct{}{}
	}
	return nil
}

// CardsByTokenAlias returns the ids of the account's cards indexed under
// alias, in id order (cards.Store).
func (s *Store) CardsByTokenAlias(_ context.Context, account, alias string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	set := s.tokenAliases[tokenAliasKey(account, alias)]
	if len(set) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// RemoveTokenAlias removes every entry of the account's alias (cards.Store).
func (s *Store) RemoveTokenAlias(_ context.Context, account, alias string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	delete(s.tokenAliases, tokenAliasKey(account, alias))
	return nil
}

// TokenAliasesIndexed reports whether MarkTokenAliasesIndexed was called
// (cards.Store).
func (s *Store) TokenAliasesIndexed(context.Context) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, vault.ErrClosed
	}
	return s.tokenAliasesIndexed, nil
}

// MarkTokenAliasesIndexed records that every card's token aliases are
// indexed (cards.Store).
func (s *Store) MarkTokenAliasesIndexed(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	s.tokenAliasesIndexed = true
	return nil
}
