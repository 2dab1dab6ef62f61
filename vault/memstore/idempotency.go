package memstore

import (
	"bytes"
	"context"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

type idemEntry struct {
	record  []byte
	expires time.Time
}

// idemSweep is how many expired keys a claim removes at most.
const idemSweep = 16

// ClaimIdempotency stores record under (account, key) until expires unless
// a record that has not expired at now is there; then it returns that one
// and writes nothing (cards.Store). A few expired keys are removed on the
// way.
func (s *Store) ClaimIdempotency(_ context.Context, account, key string, record []byte, now, expires time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	if s.idem == nil {
		s.idem = map[string]idemEntry{}
	}
	n := 0
	for k, e := range s.idem {
		if n == idemSweep {
			break
		}
		if !now.Before(e.expires) {
			delete(s.idem, k)
			n++
		}
	}
	k := account + "\x00" + key
	if e, ok := s.idem[k]; ok && now.Before(e.expires) {
		return bytes.Clone(e.record), nil
	}
	s.idem[k] = idemEntry{record: bytes.Clone(record), expires: expires}
	return nil, nil
}

// FinishIdempotency replaces the record of (account, key) and its expiry
// (cards.Store); a key that is gone is written again.
func (s *Store) FinishIdempotency(_ context.Context, account, key string, record []byte, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	if s.idem == nil {
		s.idem = map[string]idemEntry{}
	}
	s.idem[account+"\x00"+key] = idemEntry{record: bytes.Clone(record), expires: expires}
	return nil
}

// ReleaseIdempotency removes (account, key) (cards.Store).
func (s *Store) ReleaseIdempotency(_ context.Context, account, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	delete(s.idem, account+"\x00"+key)
	return nil
}
