package memstore

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/aliasgate/aliasgate/vault"
)

var (
	_ vault.Exporter = (*Store)(nil)
	_ vault.Importer = (*Store)(nil)
	_ vault.Rekeyer  = (*Store)(nil)
)

// sortedAfter returns the keys of m greater than after, sorted, at most
// limit of them. Scans sort the whole map: the memory store is for tests
// and volatile values, not for large exports.
func sortedAfter[V any](m map[string]V, after string, limit int) []string {
	var keys []string
	for k := range m {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > limit {
		keys = keys[:max(limit, 0)]
	}
	return keys
}

// ScanRecords implements vault.Exporter.
func (s *Store) ScanRecords(_ context.Context, after string, limit int) ([]*vault.Record, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	var out []*vault.Record
	for _, a := range s.records.aliasesAfter(after) {
		if len(out) == limit {
			break
		}
		if r := s.live(a, now); r != nil && r.Storage == vault.StoragePersistent {
			out = append(out, r)
		}
	}
	return out, nil
}

// ScanMeta implements vault.Exporter.
func (s *Store) ScanMeta(context.Context) (map[string][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	out := make(map[string][]byte, len(s.meta))
	for k, v := range s.meta {
		out[k] = bytes.Clone(v)
	}
	return out, nil
}

// ScanClients implements vault.Exporter.
func (s *Store) ScanClients(_ context.Context, after string, limit int) ([]vault.ClientDump, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	var out []vault.ClientDump
	for _, id := range sortedAfter(s.clients, after, limit) {
		out = append(out, vault.ClientDump{ID: id, Record: bytes.Clone(s.clients[id])})
	}
	return out, nil
}

// ScanCards implements vault.Exporter.
func (s *Store) ScanCards(_ context.Context, after string, limit int) ([]vault.CardDump, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, vault.ErrClosed
	}
	var out []vault.CardDump
	for _, k := range sortedAfter(s.cards, after, limit) {
		account, id, _ := strings.Cut(k, "\x00")
		d := vault.CardDump{Account: account, ID: id, Record: bytes.Clone(s.cards[k])}
		for fk, cid := range s.fingers {
			if acc, fp, _ := strings.Cut(fk, "\x00"); acc == account && cid == id {
				d.Fingerprint = fp
			}
		}
		for _, u := range s.updates[k] {
			d.Updates = append(d.Updates, bytes.Clone(u))
		}
		out = append(out, d)
	}
	return out, nil
}

// ImportClient implements vault.Importer.
func (s *Store) ImportClient(_ context.Context, d vault.ClientDump) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	if v, ok := s.clients[d.ID]; ok {
		if bytes.Equal(v, d.Record) {
			return nil
		}
		return vault.ErrConflict
	}
	s.clients[d.ID] = bytes.Clone(d.Record)
	return nil
}

// ImportCard implements vault.Importer.
func (s *Store) ImportCard(_ context.Context, d vault.CardDump) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return vault.ErrClosed
	}
	k := d.Key()
	if v, ok := s.cards[k]; ok && !bytes.Equal(v, d.Record) {
		return vault.ErrConflict
	}
	if d.Fingerprint != "" {
		fk := d.Account + "\x00" + d.Fingerprint
		if id, ok := s.fingers[fk]; ok && id != d.ID {
			return vault.ErrConflict
		}
		s.fingers[fk] = d.ID
	}
	s.cards[k] = bytes.Clone(d.Record)
	ups := make([][]byte, 0, len(d.Updates))
	for _, u := range d.Updates {
		ups = append(ups, bytes.Clone(u))
	}
	s.updates[k] = ups
	return nil
}

// Rekey implements vault.Rekeyer.
func (s *Store) Rekey(_ context.Context, items []vault.RekeyItem) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, vault.ErrClosed
	}
	n := 0
	for _, it := range items {
		e, ok := s.records.get(it.Alias)
		if !ok {
			continue
		}
		r := s.decode(e, it.Alias)
		if r == nil || r.KeyVersion != it.OldVersion {
			continue
		}
		r.KeyVersion, r.Ciphertext = it.NewVersion, bytes.Clone(it.Ciphertext)
		s.replaceLocked(it.Alias, e, r)
		n++
	}
	return n, nil
}
