package memstore

import (
	"context"
	"slices"

	"github.com/aliasgate/aliasgate/vault"
)

// AddNumber implements vault.NumberStore.
func (s *Store) AddNumber(_ context.Context, key []byte, alias string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	if s.numbers == nil {
		s.numbers = map[string]map[string]struct{}{}
	}
	set := s.numbers[string(key)]
	if set == nil {
		set = map[string]struct{}{}
		s.numbers[string(key)] = set
	}
	set[alias] = struct{}{}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

// PutNumbers implements vault.NumberStore.
func (s *Store) PutNumbers(ctx context.Context, keys [][]byte, aliases []string) error {
	for i, key := range keys {
		if _, err := s.AddNumber(ctx, key, aliases[i]); err != nil {
			return err
		}
	}
	return nil
}

// RemoveNumber implements vault.NumberStore.
func (s *Store) RemoveNumber(_ context.Context, key []byte, alias string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	if set := s.numbers[string(key)]; set != nil {
		delete(set, alias)
		if len(set) == 0 {
			delete(s.numbers, string(key))
		}
	}
	return nil
}

// NumbersIndexed implements vault.NumberStore.
func (s *Store) NumbersIndexed(context.Context) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, vault.ErrClosed
	}
	return s.numbersIndexed, nil
}

// MarkNumbersIndexed implements vault.NumberStore.
func (s *Store) MarkNumbersIndexed(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	s.numbersIndexed = true
	return nil
}
